// The whole daemon's state as a xenstore image (a live update's state_dump):
// GLOBAL_DATA (the listening socket), GLOBAL_QUOTA_DATA, DOMAIN_DATA, every
// connection with its pending input/output, watches and open transactions,
// every committed node (parents first), the special nodes, then the
// transactions' pending nodes, END.
#pragma once

#include <cstdint>
#include <optional>

#include "core/byte_sink.hpp"
#include "core/error.hpp"
#include "xenstore/daemon.hpp"

namespace tern::xs {

struct DumpOptions {
  int listen_fd = -1;
  // The connection that asked for the live update, and the stream offset
  // where the reply to that request starts in its output.
  std::optional<std::uint64_t> live_update_conn;
  std::uint64_t live_update_reply = 0;
};

struct DumpStats {
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  std::uint64_t nodes = 0;
  std::uint64_t connections = 0;
};

Expected<DumpStats> dump_state(const Daemon& d, ByteSink& sink, const DumpOptions& o);

}  // namespace tern::xs
