#include "xenstore/state_writer.hpp"

#include <algorithm>

#include "xenstore/connection_state.hpp"
#include "xenstore/image_convert.hpp"

namespace tern::xs {

namespace {

Bytes bytes_of(std::string_view s) { return as_bytes(s); }

// Watch depths the image can hold: 0xffff means "unlimited" there, so larger
// finite depths are written as 0xfffe (no path is that deep: the same watch).
std::optional<std::uint16_t> image_depth(const std::optional<std::uint32_t>& d) {
  if (!d) return std::nullopt;
  return static_cast<std::uint16_t>(std::min<std::uint32_t>(*d, img::kWatchDepthUnlimited - 1));
}

}  // namespace

StateWriter::StateWriter(ByteSink& sink, ImageMapping map) : w_(sink), map_(std::move(map)) {}

void StateWriter::image_perms(const Perms& p, std::vector<img::Perm>& out) const {
  std::size_t first = out.size();
  to_image_perms(p, out);
  if (map_.domid)
    for (std::size_t i = first; i < out.size(); ++i)
      out[i].domid = static_cast<std::uint16_t>(domid(out[i].domid));
}

Expected<void> StateWriter::header() { return w_.write_header(); }

Expected<void> StateWriter::globals(int listen_fd, const Quotas& global) {
  TERN_TRY(w_.write(img::GlobalData{listen_fd, -1}));
  TERN_TRY_ASSIGN(auto quotas, to_image_quotas(global));
  return w_.write(img::GlobalQuotaData{quotas, {}});
}

Expected<void> StateWriter::domain(const Domain& d, std::uint32_t domid_in_image) {
  std::vector<img::Quota> quotas;
  if (d.quota) {
    TERN_TRY_ASSIGN(quotas, to_image_quotas(*d.quota));
  }
  auto id = static_cast<std::uint16_t>(domid_in_image);
  TERN_TRY(w_.write(img::DomainData{id, d.features, quotas}));
  img::TernDomainData t{id, 0, 0, d.evtchn, d.gfn};
  if (d.introduced) t.flags |= img::kTernDomIntroduced;
  if (d.target) {
    t.flags |= img::kTernDomHasTarget;
    t.target = static_cast<std::uint16_t>(*d.target);
  }
  if (t.flags == 0 && t.evtchn == 0 && t.gfn == 0) return {};
  return w_.write(t);
}

Expected<void> StateWriter::connection(const Connection& c, const ConnectionWriteOptions& o) {
  ConnSpec spec = img::SocketSpec{-1};
  std::optional<img::TernRingData> ring;
  if (!o.detach_transports) {
    TERN_TRY_ASSIGN(spec, save_transport(c));
    ring = save_ring(c, o.conn_id);
  }
  std::string_view in = o.whole_messages_only ? whole_requests(c.in) : std::string_view(c.in);
  SavedOutput out = save_output(c);
  std::uint64_t unsent_at = c.out_base + c.out_sent;
  if (o.whole_messages_only && out.resp_len > 0) {
    out.data.remove_prefix(out.resp_len);
    unsent_at += out.resp_len;
    out.resp_len = 0;
  }
  img::ConnectionData cd;
  cd.conn_id = o.conn_id;
  cd.spec = spec;
  cd.in_data = bytes_of(in);
  cd.out_data = bytes_of(out.data);
  cd.out_resp_len = out.resp_len;
  TERN_TRY(w_.write(cd));

  img::TernConnectionData t;
  t.conn_id = o.conn_id;
  t.domid = static_cast<std::uint16_t>(domid(c.who.domid));
  t.flags = c.who.privileged ? img::kTernConnPrivileged : 0;
  if (c.who.target) {
    t.flags |= img::kTernConnHasTarget;
    t.target = static_cast<std::uint16_t>(*c.who.target);
  }
  t.next_tx_id = c.next_txid;
  if (c.ignored && !o.detach_transports) t.flags |= img::kTernConnIgnored;
  if (o.live_update_reply) {
    if (*o.live_update_reply < unsent_at || *o.live_update_reply - unsent_at >= out.data.size())
      return make_error(Errc::internal,
                        "connection {}: the live-update reply is not in its pending output", c.id);
    t.flags |= img::kTernConnLiveUpdateReply;
    t.live_update_reply_at = static_cast<std::uint32_t>(*o.live_update_reply - unsent_at);
  }
  TERN_TRY(w_.write(t));
  if (ring) TERN_TRY(w_.write(*ring));

  for (const Watch& wt : c.watches) {
    bool absolute = !wt.given.empty() && wt.given[0] == '/';
    std::string given = absolute ? path(wt.given) : wt.given;
    TERN_TRY(w_.write(img::WatchData{o.conn_id, given, wt.token, image_depth(wt.depth)}));
  }
  for (const auto& [tx_id, t] : c.txns) TERN_TRY(transaction(c, tx_id, *t, o));
  return {};
}

Expected<void> StateWriter::transaction(const Connection&, std::uint32_t tx_id,
                                        const Transaction& t, const ConnectionWriteOptions& o) {
  TERN_TRY(w_.write(img::TransactionData{o.conn_id, tx_id}));
  img::TernTransactionData td;
  td.conn_id = o.conn_id;
  td.tx_id = tx_id;
  td.flags = t.conflicted() ? img::kTernTxConflicted : 0;
  std::vector<img::TernUsage> usage;
  for (const auto& [dom, u] : t.delta()) {
    if (u.nodes == 0 && u.bytes == 0) continue;
    usage.push_back(img::TernUsage{static_cast<std::uint16_t>(domid(dom)),
                                   static_cast<std::int32_t>(u.nodes), u.bytes});
  }
  // Permission lists first (reserved, so spans into them stay valid), then events.
  const auto& evs = t.events();
  std::size_t nperms = 0;
  for (const Event& e : evs) nperms += e.perms.size() + (e.old_perms ? e.old_perms->size() : 0);
  std::vector<img::Perm> perms;
  perms.reserve(nperms);
  std::vector<std::string> paths;
  paths.reserve(evs.size());
  std::vector<img::TernEvent> events;
  events.reserve(evs.size());
  for (const Event& e : evs) {
    img::TernEvent te;
    te.flags = e.exact ? img::kTernEventExact : 0;
    std::size_t first = perms.size();
    image_perms(e.perms, perms);
    te.perms = std::span<const img::Perm>(perms).subspan(first);
    if (e.old_perms) {
      te.flags |= img::kTernEventHasOldPerms;
      std::size_t old_first = perms.size();
      image_perms(*e.old_perms, perms);
      te.old_perms = std::span<const img::Perm>(perms).subspan(old_first);
    }
    paths.push_back(path(e.path));
    te.path = paths.back();
    events.push_back(te);
  }
  // Children lists of every node the transaction sees (sorted by path).
  std::vector<std::pair<std::string, const Node*>> seen_nodes;
  auto visible = [&](const PathMap<std::optional<Node>>& m, bool skip_overlaid) {
    for (const auto& [p, n] : m) {
      if (!n) continue;
      if (skip_overlaid && t.overlay().contains(p)) continue;
      seen_nodes.emplace_back(path(p), &*n);
    }
  };
  visible(t.overlay(), false);
  visible(t.snapshot(), true);
  std::sort(seen_nodes.begin(), seen_nodes.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<img::TernChildren> children;
  children.reserve(seen_nodes.size());
  for (const auto& [p, n] : seen_nodes)
    children.push_back(img::TernChildren{p, bytes_of(n->children)});
  td.usage = usage;
  td.events = events;
  td.children = children;
  return w_.write(td);
}

Expected<void> StateWriter::node(std::string_view p, std::string_view value, const Perms& perms) {
  perms_.clear();
  image_perms(perms, perms_);
  std::string mapped = path(p);
  return w_.write(img::NodeData{0, 0, 0, perms_, mapped, bytes_of(value)});
}

Expected<void> StateWriter::special_node(std::string_view name, const Perms& perms) {
  perms_.clear();
  image_perms(perms, perms_);
  return w_.write(img::NodeData{0, 0, 0, perms_, name, {}});
}

Expected<void> StateWriter::pending_nodes(const Connection& c, const ConnectionWriteOptions& o) {
  for (const auto& [tx_id, t] : c.txns) {
    // Sorted, so two equal transactions always give the same bytes.
    std::vector<std::string_view> seen;
    seen.reserve(t->seen().size());
    for (const auto& [p, gen] : t->seen()) seen.push_back(p);
    std::sort(seen.begin(), seen.end());
    for (std::string_view p : seen) {
      img::NodeData n;
      n.conn_id = o.conn_id;
      n.tx_id = tx_id;
      const std::optional<Node>* view = nullptr;
      bool written = false;
      if (auto it = t->overlay().find(p); it != t->overlay().end()) {
        view = &it->second;
        written = true;
      } else if (auto sit = t->snapshot().find(p); sit != t->snapshot().end()) {
        view = &sit->second;
      }
      perms_.clear();
      // A node the transaction deleted, or read as absent, is written as a
      // deletion (no permissions): both read as "absent" and commit alike.
      if (view != nullptr && view->has_value()) {
        image_perms((*view)->perms, perms_);
        n.access = img::kAccessRead | (written ? img::kAccessWritten : 0);
        n.value = bytes_of((*view)->value);
      }
      n.perms = perms_;
      std::string mapped = path(p);
      n.path = mapped;
      TERN_TRY(w_.write(n));
    }
  }
  return {};
}

Expected<void> StateWriter::finish() { return w_.finish(); }

}  // namespace tern::xs
