// Where a migration stream goes or comes from, as users write it:
//   tcp://HOST:PORT   (HOST a name, an IPv4 address, or [IPv6]; PORT 0 on
//                      --listen picks a free port, reported by bound_address)
//   unix:PATH         (a unix stream socket)
//   fd:N              (an fd the caller already opened: a pipe, a socketpair,
//                      a connection handed over by a supervisor; --to only)
// A receiver listens and accepts exactly one connection; a sender connects.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace tern::io {

struct Endpoint {
  enum class Kind { tcp, unix_socket, fd };
  Kind kind = Kind::tcp;
  std::string host;        // tcp
  std::uint16_t port = 0;  // tcp
  std::string path;        // unix
  int fd = -1;             // fd
  [[nodiscard]] std::string to_string() const;
};

[[nodiscard]] Expected<Endpoint> parse_endpoint(std::string_view text);

class Listener {
 public:
  // Binds and listens (a stale unix socket file is replaced only when nothing
  // answers on it). fd: endpoints cannot be listened on.
  static Expected<Listener> open(const Endpoint& ep);
  // Waits for one connection (nullopt timeout = forever). The accepted
  // socket is blocking, TCP_NODELAY on TCP.
  Expected<UniqueFd> accept_one(std::optional<std::chrono::milliseconds> timeout);
  // The address actually bound (tcp://127.0.0.1:40123 after port 0).
  [[nodiscard]] const Endpoint& bound() const { return bound_; }
  Listener(Listener&&) = default;
  Listener& operator=(Listener&&) = default;
  ~Listener();

 private:
  Listener() = default;
  UniqueFd fd_;
  Endpoint bound_;
  bool unlink_on_close_ = false;
};

// Connects (retrying ECONNREFUSED/ENOENT until the timeout, so a sender may
// start just before its receiver). fd:N returns a duplicate of N.
[[nodiscard]] Expected<UniqueFd> connect_endpoint(const Endpoint& ep,
                                                  std::chrono::milliseconds timeout);

}  // namespace tern::io
