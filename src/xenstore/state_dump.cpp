#include "xenstore/state_dump.hpp"

#include <limits>

#include "xenstore/state_writer.hpp"
#include "xenstore/store_access.hpp"

namespace tern::xs {

Expected<DumpStats> dump_state(const Daemon& d, ByteSink& sink, const DumpOptions& o) {
  StateWriter w(sink);
  DumpStats st;
  TERN_TRY(w.header());
  TERN_TRY(w.globals(o.listen_fd, d.quota));
  for (const auto& [domid, dom] : d.domains) TERN_TRY(w.domain(dom, domid));

  auto options = [&](const Connection& c) -> Expected<ConnectionWriteOptions> {
    if (c.id == 0 || c.id > std::numeric_limits<std::uint32_t>::max())
      return make_error(Errc::unsupported,
                        "connection id {} does not fit the image's 32-bit conn-id", c.id);
    ConnectionWriteOptions co;
    co.conn_id = static_cast<std::uint32_t>(c.id);
    if (o.live_update_conn == c.id) co.live_update_reply = o.live_update_reply;
    return co;
  };
  // Connections about to be dropped (EOF, RELEASE) are left out: their
  // descriptors keep close-on-exec and vanish with the old process.
  for (const auto& [id, c] : d.conns) {
    if (c->closing) continue;
    TERN_TRY_ASSIGN(auto co, options(*c));
    TERN_TRY(w.connection(*c, co));
    ++st.connections;
  }
  TERN_TRY(visit_subtree(
      d.store, "/",
      [&](std::string_view path, std::string_view value, const Perms& perms) -> Expected<void> {
        ++st.nodes;
        return w.node(path, value, perms);
      }));
  for (const auto& [name, perms] : d.special_perms) TERN_TRY(w.special_node(name, perms));
  for (const auto& [id, c] : d.conns) {
    if (c->closing || c->txns.empty()) continue;
    TERN_TRY_ASSIGN(auto co, options(*c));
    TERN_TRY(w.pending_nodes(*c, co));
  }
  TERN_TRY(w.finish());
  st.records = w.records();
  st.bytes = w.bytes();
  return st;
}

}  // namespace tern::xs
