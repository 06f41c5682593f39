// Rebuilds the whole daemon from a xenstore image (tern-xenstored -U, and the
// --check-image dry run a live update runs first). Strict: any record the
// daemon cannot take (a node without its parent, a watch path that is not
// valid, a socket that is not open, a ring without its descriptors) is an error
// naming the record, and the caller discards the half-built Daemon: nothing
// of a refused image reaches a serving daemon, and no descriptor is closed.
#pragma once

#include <cstdint>
#include <optional>

#include "core/byte_source.hpp"
#include "core/error.hpp"
#include "xenstore/connection_state.hpp"
#include "xenstore/daemon.hpp"

namespace tern::xs {

struct RestoreOptions {
  // open_sockets: the descriptors the image names must be open sockets of
  // this process (a live update); none: a dry run that only reads the image.
  FdCheck fds = FdCheck::open_sockets;
  std::uint64_t size_hint = 0;  // image size, to size the node table once
};

struct RestoreResult {
  int listen_fd = -1;
  std::uint64_t nodes = 0;
  std::uint64_t connections = 0;
  std::uint64_t watches = 0;
  std::uint64_t transactions = 0;
  std::uint64_t pending_nodes = 0;
  // The connection whose output holds the reply to the live-update request,
  // and where that reply starts in its output (Connection::out offsets).
  std::optional<std::uint64_t> live_update_conn;
  std::uint64_t live_update_reply_at = 0;
};

// `d` must be freshly constructed; on error it is left half-built and must
// be discarded. Sockets and rings stay InheritedSocket / InheritedRing
// transports: call adopt_transports once the caller commits to the restored
// state.
Expected<RestoreResult> restore_state(ByteSource& src, Daemon& d, const RestoreOptions& o);

}  // namespace tern::xs
