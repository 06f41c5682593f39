#include <fmt/format.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/byte_source.hpp"
#include "stream/xenstore/image_reader.hpp"
#include "xenstore/connection_state.hpp"
#include "xenstore/domain_transfer.hpp"
#include "xenstore/image_convert.hpp"
#include "xenstore/path.hpp"
#include "xenstore/store_access.hpp"
#include "xenstore/transaction_restore.hpp"

namespace tern::xs {

namespace {

using img::Record;

std::string_view text(Bytes b) { return image_text(b); }

template <typename... Args>
std::unexpected<Error> bad(const Record& r, fmt::format_string<Args...> f, Args&&... args) {
  return record_error("domain import", r, f, std::forward<Args>(args)...);
}

// The image, read completely and renamed, before anything touches the daemon.
class Staging {
 public:
  Staging(const Daemon& d, std::optional<std::uint32_t> new_domid) : d_(d), new_domid_(new_domid) {}

  Expected<void> read(Bytes image) {
    MemorySource src(image);
    TERN_TRY(img::read_image(src, [&](const Record& r) {
      return std::visit([&](const auto& body) { return on(r, body); }, r.body);
    }));
    if (!old_)
      return make_error(Errc::invalid, "domain import: the image has no DOMAIN_DATA record");
    return {};
  }

  Expected<void> check() const {
    std::uint32_t domid = to_;
    if (auto it = d_.domains.find(domid); it != d_.domains.end() && it->second.introduced)
      return make_error(
          Errc::usage,
          "domain import: domain {} is already introduced here (import before INTRODUCE)", domid);
    if (node_exists(d_.store, domain_path(domid)))
      return make_error(Errc::usage, "domain import: {} already exists here", domain_path(domid));
    for (const auto& [id, c] : d_.conns)
      if (!c->who.privileged && c->who.domid == domid && !c->closing)
        return make_error(Errc::usage, "domain import: connection {} already acts as domain {}", id,
                          domid);
    std::set<std::string_view> staged;
    for (const auto& n : nodes_) {
      if (node_exists(d_.store, n.path))
        return make_error(Errc::usage,
                          "domain import: node {} already exists here (nothing is overwritten)",
                          n.path);
      std::string_view parent = parent_path(n.path);
      if (!staged.contains(parent) && !node_exists(d_.store, parent))
        return make_error(
            Errc::usage,
            "domain import: the parent of {} exists neither here nor earlier in the image", n.path);
      staged.insert(n.path);
    }
    return {};
  }

  TransferStats apply(Daemon& d) {
    TransferStats st;
    Domain& dom = d.domains[to_];
    dom.domid = to_;
    dom.features = features_;
    if (quotas_) {
      dom.quota = d.quota;
      apply_image_quotas(image_quotas(), *dom.quota);
    }
    if (target_) dom.target = *target_;
    std::vector<Event> events;
    for (auto& n : nodes_) {
      Perms perms = n.perms;
      (void)add_node_live(d.store, n.path, std::move(n.value),
                          std::move(n.perms));  // checked above
      events.push_back(Event{n.path, false, std::move(perms), std::nullopt});
      ++st.nodes;
    }
    // Watchers here hear about the new nodes; the domain's own connections,
    // added next, do not: for them nothing changed.
    d.fire(events);
    for (auto& sc : conns_) {
      auto c = std::make_unique<Connection>();
      c->id = d.next_conn_id++;
      c->transport = std::make_unique<DetachedTransport>();
      c->who = Caller{to_, false, target_};
      c->next_txid = sc.next_tx_id;
      c->in = std::move(sc.in);
      (void)restore_output(*c, sc.out, 0);  // checked when read
      std::uint64_t limit = dom.quota ? dom.quota->transaction_nodes : d.quota.transaction_nodes;
      for (auto& [tx_id, s] : sc.txns) {
        c->txns.emplace(tx_id, build_transaction(d.store, limit, std::move(s)));
        ++st.transactions;
      }
      Connection& ref = d.conns.add(std::move(c));
      // Watches go through the daemon (its watch index) once the connection is in.
      for (auto& w : sc.watches) {
        auto canon = canonical_path(w.given, to_, true, 0);
        if (!canon) continue;  // checked when read
        Watch watch{std::move(w.given), std::move(*canon), std::move(w.token), w.depth};
        d.add_watch(ref, std::move(watch));
        ++st.watches;
      }
      // Requests it had sent and not had answered yet: answered now, queued
      // for whoever takes the connection over.
      if (!ref.in.empty() && !d.input_paused(ref) && !d.process_input(ref)) ref.closing = true;
      ++st.connections;
    }
    return st;
  }

 private:
  struct StagedWatch {
    std::string given, token;
    std::optional<std::uint32_t> depth;
  };
  struct StagedConn {
    std::uint32_t image_id = 0;
    std::string in, out;
    std::uint32_t next_tx_id = 1;
    std::vector<StagedWatch> watches;
    std::map<std::uint32_t, SavedTransaction> txns;
  };
  struct StagedNode {
    std::string path, value;
    Perms perms;
  };

  std::string map_path(std::string_view p) const {
    std::string from = domain_path(*old_);
    if (*old_ == to_ || !is_child(p, from)) return std::string(p);
    return domain_path(to_) + std::string(p.substr(from.size()));
  }
  std::uint32_t map_domid(std::uint32_t d) const { return d == *old_ ? to_ : d; }
  Perms map_perms(std::span<const img::Perm> p) const {
    std::vector<Perm> list = from_image_perms(p).list();
    for (Perm& e : list) e.domid = map_domid(e.domid);
    return Perms(std::move(list));
  }
  std::vector<img::Quota> image_quotas() const {
    std::vector<img::Quota> q;
    for (const auto& [name, v] : *quotas_) q.push_back(img::Quota{name, v});
    return q;
  }
  Expected<StagedConn*> conn(const Record& r, std::uint32_t id) {
    for (auto& c : conns_)
      if (c.image_id == id) return &c;
    return bad(r, "conn-id {} is not a connection of this image", id);
  }
  Expected<void> need_domain(const Record& r) const {
    if (!old_) return bad(r, "DOMAIN_DATA must come first in a domain export");
    return {};
  }

  Expected<void> on(const Record&, const img::EndRecord&) { return {}; }
  Expected<void> on(const Record& r, const img::GlobalData&) {
    return bad(r, "a whole-daemon (live-update) image; import takes one domain's export");
  }
  Expected<void> on(const Record& r, const img::GlobalQuotaData&) {
    return bad(r, "a whole-daemon (live-update) image; import takes one domain's export");
  }
  Expected<void> on(const Record& r, const img::DomainData& dd) {
    if (old_) return bad(r, "a second domain ({}); an export holds one", dd.domid);
    old_ = dd.domid;
    to_ = new_domid_.value_or(dd.domid);
    features_ = dd.features;
    if (!dd.quotas.empty()) {
      quotas_.emplace();
      for (const auto& q : dd.quotas) quotas_->emplace_back(std::string(q.name), q.value);
    }
    return {};
  }
  Expected<void> on(const Record& r, const img::TernDomainData& t) {
    TERN_TRY(need_domain(r));
    if (t.domid != *old_)
      return bad(r, "TERN_DATA for domain {}, not the exported domain {}", t.domid, *old_);
    if (t.flags & img::kTernDomHasTarget) target_ = t.target;
    return {};
  }
  Expected<void> on(const Record& r, const img::ConnectionData& cd) {
    TERN_TRY(need_domain(r));
    const auto* s = std::get_if<img::SocketSpec>(&cd.spec);
    if (s == nullptr)
      return bad(r,
                 "shared-ring connection (an export carries its connections detached, as "
                 "sockets with socket-fd -1)");
    if (s->socket_fd != -1)
      return bad(r, "socket-fd {}: an export carries no descriptors (-1 expected)", s->socket_fd);
    StagedConn c;
    c.image_id = cd.conn_id;
    c.in = std::string(whole_requests(text(cd.in_data)));
    std::string_view out =
        text(cd.out_data).substr(cd.out_resp_len);  // a half-sent message stays behind
    Connection probe;
    if (auto ok = restore_output(probe, out, 0); !ok) return bad(r, "{}", ok.error().message());
    c.out = std::string(out);
    conns_.push_back(std::move(c));
    return {};
  }
  Expected<void> on(const Record& r, const img::TernRingData& t) {
    return bad(r, "ring record for connection {}: an export carries no descriptors", t.conn_id);
  }
  Expected<void> on(const Record& r, const img::TernConnectionData& t) {
    TERN_TRY_ASSIGN(StagedConn * c, conn(r, t.conn_id));
    if ((t.flags & img::kTernConnPrivileged) || t.domid != *old_)
      return bad(r, "connection {} acts as {} domain {}, not as the exported domain {}", t.conn_id,
                 (t.flags & img::kTernConnPrivileged) ? "privileged" : "unprivileged", t.domid,
                 *old_);
    c->next_tx_id = t.next_tx_id;
    return {};
  }
  Expected<void> on(const Record& r, const img::WatchData& w) {
    TERN_TRY_ASSIGN(StagedConn * c, conn(r, w.conn_id));
    bool absolute = !w.path.empty() && w.path.front() == '/';
    std::string given = absolute ? map_path(w.path) : std::string(w.path);
    if (!canonical_path(given, to_, true, 0))
      return bad(r, "watch path \"{}\" is not valid", w.path);
    std::optional<std::uint32_t> depth;
    if (w.depth && *w.depth != img::kWatchDepthUnlimited) depth = *w.depth;
    c->watches.push_back(StagedWatch{std::move(given), std::string(w.token), depth});
    return {};
  }
  Expected<void> on(const Record& r, const img::TransactionData& t) {
    TERN_TRY_ASSIGN(StagedConn * c, conn(r, t.conn_id));
    auto& saved = c->txns[t.tx_id];
    saved.tx_id = t.tx_id;
    saved.compare_reads = true;
    return {};
  }
  Expected<void> on(const Record& r, const img::TernTransactionData& t) {
    TERN_TRY_ASSIGN(StagedConn * c, conn(r, t.conn_id));
    c->txns.at(t.tx_id).take(
        t, [&](std::string_view p) { return map_path(p); },
        [&](std::uint32_t d) { return map_domid(d); });
    return {};
  }
  Expected<void> on(const Record& r, const img::NodeData& n) {
    TERN_TRY(need_domain(r));
    if (n.path.front() == '@') return bad(r, "special node {} belongs to the whole daemon", n.path);
    std::string path = map_path(n.path);
    if (!is_canonical_absolute(path)) return bad(r, "node path \"{}\" is not valid", path);
    Perms perms = map_perms(n.perms);
    if (n.pending()) {
      TERN_TRY_ASSIGN(StagedConn * c, conn(r, n.conn_id));
      SavedTransaction::PendingNode pn{std::move(path), std::nullopt, false};
      if (!n.deleted()) {
        pn.node = Node{std::string(text(n.value)), {}, std::move(perms), 0};
        pn.written = (n.access & img::kAccessWritten) != 0;
      }
      c->txns.at(n.tx_id).nodes.push_back(std::move(pn));
      return {};
    }
    nodes_.push_back(StagedNode{std::move(path), std::string(text(n.value)), std::move(perms)});
    return {};
  }

  const Daemon& d_;
  std::optional<std::uint32_t> new_domid_;
  std::optional<std::uint32_t> old_;
  std::uint32_t to_ = 0;
  std::uint32_t features_ = 0;
  std::optional<std::vector<std::pair<std::string, std::uint32_t>>> quotas_;
  std::optional<std::uint32_t> target_;
  std::vector<StagedConn> conns_;
  std::vector<StagedNode> nodes_;
};

}  // namespace

Expected<TransferStats> import_domain(Daemon& d, Bytes image,
                                      std::optional<std::uint32_t> new_domid) {
  Staging s(d, new_domid);
  TERN_TRY(s.read(image));
  TERN_TRY(s.check());
  return s.apply(d);
}

}  // namespace tern::xs
