#include <algorithm>

#include "xenstore/domain_transfer.hpp"
#include "xenstore/path.hpp"
#include "xenstore/state_writer.hpp"
#include "xenstore/store_access.hpp"

namespace tern::xs {

namespace {

// The domain's own connections: those acting as it, unprivileged.
bool belongs_to(const Connection& c, std::uint32_t domid) {
  return !c.closing && !c.who.privileged && c.who.domid == domid;
}

}  // namespace

Expected<TransferStats> export_domain(const Daemon& d, std::uint32_t domid, ByteSink& sink) {
  const std::string home = domain_path(domid);
  auto dom = d.domains.find(domid);
  if (dom == d.domains.end() && !node_exists(d.store, home))
    return make_error(Errc::usage,
                      "domain {} is not known to this daemon (no domain record, no {})", domid,
                      home);
  StateWriter w(sink);
  TransferStats st;
  TERN_TRY(w.header());
  Domain unknown;  // no domain record: defaults
  unknown.domid = domid;
  TERN_TRY(w.domain(dom != d.domains.end() ? dom->second : unknown, domid));
  std::vector<std::pair<const Connection*, ConnectionWriteOptions>> conns;
  std::uint32_t next_id = 1;
  for (const auto& [id, c] : d.conns) {
    if (!belongs_to(*c, domid)) continue;
    ConnectionWriteOptions o;
    o.conn_id = next_id++;
    o.whole_messages_only = true;
    o.detach_transports = true;
    TERN_TRY(w.connection(*c, o));
    conns.emplace_back(c.get(), o);
    ++st.connections;
    st.watches += c->watches.size();
    st.transactions += c->txns.size();
  }
  // Its home subtree, parents first, then the nodes it owns elsewhere in
  // path order (a parent sorts before its children).
  TERN_TRY(visit_subtree(
      d.store, home,
      [&](std::string_view path, std::string_view value, const Perms& perms) -> Expected<void> {
        ++st.nodes;
        return w.node(path, value, perms);
      }));
  std::vector<std::string> owned;
  visit_all(d.store, [&](std::string_view path, PermsView perms) {
    if (perms.owner() == domid && !is_child(path, home)) owned.emplace_back(path);
  });
  std::sort(owned.begin(), owned.end());
  for (const auto& path : owned) {
    auto n = copy_node(d.store, path);
    TERN_TRY(w.node(path, n->value, n->perms));
    ++st.nodes;
  }
  for (const auto& [c, o] : conns) TERN_TRY(w.pending_nodes(*c, o));
  TERN_TRY(w.finish());
  return st;
}

}  // namespace tern::xs
