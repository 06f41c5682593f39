// Migration endpoints: "unix:PATH", "tcp://HOST:PORT" (HOST may be a name,
// an IPv4 address or a bracketed IPv6 address) and, for connecting only,
// "fd:N" (an already connected socket inherited from the parent).
#pragma once

#include <string>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace tern::io {

struct Endpoint {
  enum class Kind { unix_path, tcp, fd } kind = Kind::unix_path;
  std::string path;  // unix
  std::string host;  // tcp
  std::string port;  // tcp
  int fd = -1;       // fd
};

[[nodiscard]] Expected<Endpoint> parse_endpoint(const std::string& text);
[[nodiscard]] Expected<UniqueFd> connect_endpoint(const Endpoint& e);
// Listening socket for unix: and tcp:// endpoints (fd: is refused).
[[nodiscard]] Expected<UniqueFd> listen_endpoint(const Endpoint& e);
// "unix:/run/x.sock", "tcp://127.0.0.1:4444 (bound to port 4444)", ...
[[nodiscard]] std::string describe(const Endpoint& e);

}  // namespace tern::io
