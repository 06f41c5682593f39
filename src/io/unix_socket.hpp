// Unix-domain stream sockets: a listening socket bound to a path (the VMM's
// control socket, a migration receiver) and a client connection. Paths are
// limited to sizeof(sun_path) - 1 bytes; a longer one is refused by name.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace tern::io {

// Binds and listens. An existing socket file at `path` is replaced only if
// nothing accepts connections on it (a stale socket of a dead process).
[[nodiscard]] Expected<UniqueFd> listen_unix(const std::string& path);
[[nodiscard]] Expected<UniqueFd> connect_unix(const std::string& path);
// accept(2), restarting on EINTR.
[[nodiscard]] Expected<UniqueFd> accept_connection(int listen_fd);

// At most this many descriptors go with one send_with_fds.
inline constexpr std::size_t kMaxSentFds = 8;
// One sendmsg(2) of `bytes` with `fds` attached (SCM_RIGHTS), restarting on
// EINTR: the bytes sent (possibly fewer; the descriptors went with the first
// of them), or -1 with errno set (EINVAL for more than kMaxSentFds).
long send_with_fds(int sock, std::string_view bytes, std::span<const int> fds);

}  // namespace tern::io
