// Unix-domain stream sockets: a listening socket bound to a path (the VMM's
// control socket, a migration receiver) and a client connection. Paths are
// limited to sizeof(sun_path) - 1 bytes; a longer one is refused by name.
#pragma once

#include <string>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace tern::io {

// Binds and listens. An existing socket file at `path` is replaced only if
// nothing accepts connections on it (a stale socket of a dead process).
[[nodiscard]] Expected<UniqueFd> listen_unix(const std::string& path);
[[nodiscard]] Expected<UniqueFd> connect_unix(const std::string& path);
// accept(2), restarting on EINTR.
[[nodiscard]] Expected<UniqueFd> accept_connection(int listen_fd);

}  // namespace tern::io
