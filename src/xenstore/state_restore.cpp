#include "xenstore/state_restore.hpp"

#include <fmt/format.h>

#include <set>

#include "stream/xenstore/image_reader.hpp"
#include "xenstore/image_convert.hpp"
#include "xenstore/path.hpp"
#include "xenstore/store_access.hpp"
#include "xenstore/transaction_restore.hpp"

namespace tern::xs {

namespace {

using img::Record;

std::string_view text(Bytes b) { return image_text(b); }

// Fails with the record's place in the image.
template <typename... Args>
std::unexpected<Error> bad(const Record& r, fmt::format_string<Args...> f, Args&&... args) {
  return record_error("xenstore image", r, f, std::forward<Args>(args)...);
}

class Restorer {
 public:
  // The store is emptied here: the image brings every node, "/" included.
  Restorer(Daemon& d, const RestoreOptions& o)
      : d_(d), o_(o), loader_(d.store, static_cast<std::size_t>(o.size_hint / 96)) {}

  Expected<RestoreResult> run(ByteSource& src) {
    d_.domains.clear();
    TERN_TRY(img::read_image(src, [&](const Record& r) { return record(r); }));
    return finish();
  }

 private:
  Expected<void> record(const Record& r) {
    return std::visit([&](const auto& body) { return on(r, body); }, r.body);
  }

  Expected<void> on(const Record&, const img::EndRecord&) { return {}; }

  Expected<void> on(const Record& r, const img::GlobalData& g) {
    if (g.rw_socket_fd < -1) return bad(r, "rw-socket-fd {} is not a descriptor", g.rw_socket_fd);
    if (g.rw_socket_fd >= 0) TERN_TRY(claim_fd(r, g.rw_socket_fd));
    res_.listen_fd = g.rw_socket_fd;
    return {};
  }

  Expected<void> on(const Record&, const img::GlobalQuotaData& q) {
    apply_image_quotas(q.per_domain, d_.quota);
    apply_image_quotas(q.global, d_.quota);
    return {};
  }

  Expected<void> on(const Record&, const img::DomainData& dd) {
    Domain& dom = domain(dd.domid);
    dom.features = dd.features;
    if (!dd.quotas.empty()) {
      dom.quota = d_.quota;
      apply_image_quotas(dd.quotas, *dom.quota);
    }
    return {};
  }

  Expected<void> on(const Record&, const img::TernDomainData& t) {
    Domain& dom = domain(t.domid);
    dom.introduced = (t.flags & img::kTernDomIntroduced) != 0;
    dom.evtchn = t.evtchn;
    dom.gfn = t.gfn;
    if (t.flags & img::kTernDomHasTarget) dom.target = t.target;
    return {};
  }

  Expected<void> on(const Record& r, const img::ConnectionData& cd) {
    if (const auto* s = std::get_if<img::SocketSpec>(&cd.spec); s != nullptr && s->socket_fd >= 0)
      TERN_TRY(claim_fd(r, s->socket_fd));
    auto t = restore_transport(cd.conn_id, cd.spec, o_.fds);
    if (!t) return bad(r, "{}", t.error().message());
    auto c = std::make_unique<Connection>();
    c->id = cd.conn_id;
    c->transport = std::move(*t);
    c->in.assign(text(cd.in_data));
    if (auto ok = restore_output(*c, text(cd.out_data), cd.out_resp_len); !ok)
      return bad(r, "{}", ok.error().message());
    if (const auto* ring = std::get_if<img::RingSpec>(&cd.spec)) rings_.emplace(c->id, *ring);
    d_.next_conn_id = std::max(d_.next_conn_id, c->id + 1);
    d_.conns.add(std::move(c));
    ++res_.connections;
    return {};
  }

  Expected<void> on(const Record& r, const img::TernConnectionData& t) {
    Connection& c = d_.conns.at(t.conn_id);
    if (!c.watches.empty())
      return bad(
          r,
          "connection {}: its TERN_DATA record must come before its watches (they resolve relative "
          "paths against its domain)",
          t.conn_id);
    c.who.domid = t.domid;
    c.who.privileged = (t.flags & img::kTernConnPrivileged) != 0;
    if (t.flags & img::kTernConnHasTarget) c.who.target = t.target;
    c.next_txid = t.next_tx_id;
    c.ignored = (t.flags & img::kTernConnIgnored) != 0;
    if (t.flags & img::kTernConnLiveUpdateReply) {
      std::size_t at = t.live_update_reply_at;
      if (at >= c.out.size())
        return bad(r, "live-update reply offset {} is beyond the pending output", at);
      res_.live_update_conn = c.id;
      res_.live_update_reply_at = at;
    }
    return {};
  }

  // A shared ring's page and eventfds (the image's rules put it after its
  // connection's shared-ring CONNECTION_DATA, once).
  Expected<void> on(const Record& r, const img::TernRingData& t) {
    auto spec = rings_.extract(t.conn_id);
    if (spec.empty()) return bad(r, "connection {}: a second ring record", t.conn_id);
    for (int fd : {t.memory_fd, static_cast<int>(spec.mapped().evtchn), t.to_guest_fd})
      TERN_TRY(claim_fd(r, fd));
    auto ring = restore_ring(spec.mapped(), t, o_.fds);
    if (!ring) return bad(r, "{}", ring.error().message());
    Connection& c = d_.conns.at(t.conn_id);
    c.transport = std::move(*ring);
    domain(spec.mapped().domid).ring_conn = c.id;
    return {};
  }

  Expected<void> on(const Record& r, const img::WatchData& w) {
    Connection& c = d_.conns.at(w.conn_id);
    auto canon = canonical_path(w.path, c.who.domid, true, 0);
    if (!canon)
      return bad(r, "watch path \"{}\" is not valid ({})", w.path, err_name(canon.error()));
    Watch watch{std::string(w.path), std::move(*canon), std::string(w.token), std::nullopt};
    if (w.depth && *w.depth != img::kWatchDepthUnlimited) watch.depth = *w.depth;
    d_.add_watch(c, std::move(watch));  // keeps the daemon's watch index
    ++res_.watches;
    return {};
  }

  Expected<void> on(const Record&, const img::TransactionData& t) {
    auto& s = txns_[key(t.conn_id, t.tx_id)];
    s.tx_id = t.tx_id;
    ++res_.transactions;
    return {};
  }

  Expected<void> on(const Record&, const img::TernTransactionData& t) {
    txns_.at(key(t.conn_id, t.tx_id))
        .take(
            t, [](std::string_view p) { return std::string(p); },
            [](std::uint32_t d) { return d; });
    return {};
  }

  Expected<void> on(const Record& r, const img::NodeData& n) {
    Perms perms = from_image_perms(n.perms);
    if (n.pending()) {
      auto& s = txns_.at(key(n.conn_id, n.tx_id));
      TERN_TRY(check_path(r, n.path));
      SavedTransaction::PendingNode pn{std::string(n.path), std::nullopt, false};
      if (!n.deleted()) {
        pn.node = Node{std::string(text(n.value)), {}, std::move(perms), 0};
        pn.written = (n.access & img::kAccessWritten) != 0;
      }
      s.nodes.push_back(std::move(pn));
      ++res_.pending_nodes;
      return {};
    }
    if (n.path.front() == '@') {
      d_.special_perms.insert_or_assign(std::string(n.path), std::move(perms));
      return {};
    }
    TERN_TRY(check_path(r, n.path));
    if (const char* why = loader_.add(n.path, std::string(text(n.value)), std::move(perms)))
      return bad(r, "node {}: {} (a node's parent must come before it; each path once)", n.path,
                 why);
    ++res_.nodes;
    return {};
  }

  Expected<void> check_path(const Record& r, std::string_view p) {
    if (!is_canonical_absolute(p))
      return bad(r, "node path \"{}\" is not a valid absolute xenstore path", p);
    return {};
  }

  Expected<void> claim_fd(const Record& r, int fd) {
    if (!fds_.insert(fd).second) return bad(r, "descriptor {} is named twice", fd);
    return {};
  }

  Expected<RestoreResult> finish() {
    if (!loader_.has_root())
      return make_error(
          Errc::invalid,
          "xenstore image: no root node \"/\" (a live-update image holds the whole tree)");
    if (!rings_.empty())
      return make_error(Errc::invalid,
                        "xenstore image: connection {} (domain {}) is a shared ring without a "
                        "TERN_DATA ring record (a Xen ring is a grant-mapped page tern cannot map)",
                        rings_.begin()->first, rings_.begin()->second.domid);
    Domain& dom0 = domain(0);  // dom0 is always there
    dom0.introduced = true;
    for (auto& [k, s] : txns_) {
      Connection& c = d_.conns.at(static_cast<std::uint64_t>(k >> 32));
      std::uint64_t limit = 0;
      if (!c.who.privileged) {
        auto it = d_.domains.find(c.who.domid);
        limit = (it != d_.domains.end() && it->second.quota) ? it->second.quota->transaction_nodes
                                                             : d_.quota.transaction_nodes;
      }
      std::uint32_t tx_id = s.tx_id;
      c.txns.emplace(tx_id, build_transaction(d_.store, limit, std::move(s)));
    }
    res_.nodes = d_.store.node_count();
    return res_;
  }

  Domain& domain(std::uint32_t domid) {
    Domain& dom = d_.domains[domid];
    dom.domid = domid;
    return dom;
  }

  static std::uint64_t key(std::uint32_t conn, std::uint32_t tx) {
    return (static_cast<std::uint64_t>(conn) << 32) | tx;
  }

  Daemon& d_;
  const RestoreOptions& o_;
  RestoreResult res_;
  std::map<std::uint64_t, SavedTransaction> txns_;
  std::set<int> fds_;
  std::map<std::uint64_t, img::RingSpec> rings_;  // shared-ring connections awaiting their record
  StoreLoader loader_;
};

}  // namespace

Expected<RestoreResult> restore_state(ByteSource& src, Daemon& d, const RestoreOptions& o) {
  Restorer r(d, o);
  return r.run(src);
}

}  // namespace tern::xs
