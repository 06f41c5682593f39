// A unix-socket client (conn-type "socket"): the toolstack, Xen's xenstore-*
// tools, test-xenstore.
//
// Descriptors (SCM_RIGHTS, e.g. a domain's ring page with INTRODUCE) are
// accepted only on connections that asked for them (CONTROL tern-fd-passing):
// the daemon's listening socket turns the kernel's SO_PASSRIGHTS off (Linux
// >= 6.16), so a client that sends descriptors without asking gets EPERM from
// sendmsg, and such connections are read with recv(). recvmsg costs ~10 % of
// the daemon's CPU per request over recv (it copies the msghdr in, the peer's
// address and the control buffer out), and most clients never pass anything.
// Where the kernel lacks SO_PASSRIGHTS, every connection is read with recvmsg
// as before: descriptors can then arrive on any of them.
#pragma once

#include <vector>

#include "core/unique_fd.hpp"
#include "xenstore/transport.hpp"

namespace tern::xs {

// SO_PASSRIGHTS (asm-generic/socket.h); the C library headers may predate it.
inline constexpr int kSoPassRights = 83;

// Turns descriptor passing off on a listening socket (its accepted sockets
// inherit the setting). False where the kernel has no SO_PASSRIGHTS.
bool refuse_passed_fds(int listen_fd);

// At most this many descriptors are accepted with one read; more is a
// protocol error (read_some fails with EPROTO).
inline constexpr int kMaxPassedFds = 8;

class SocketTransport final : public Transport {
 public:
  // Reads the socket's SO_PASSRIGHTS to learn whether descriptors may come
  // (a socket accepted before a live update keeps its setting).
  explicit SocketTransport(UniqueFd fd);

  [[nodiscard]] ConnType type() const override { return ConnType::socket; }
  long read_some(char* buf, std::size_t len) override;
  long write_some(const char* buf, std::size_t len) override;
  [[nodiscard]] int fd() const override { return fd_.get(); }
  [[nodiscard]] std::uint32_t poll_events(bool want_input, bool want_output) const override;
  std::vector<UniqueFd> take_passed_fds() override { return std::move(passed_); }
  bool allow_passed_fds() override;
  [[nodiscard]] bool passes_fds() const override { return fds_allowed_; }

  // The connected socket a live update keeps across exec (CONNECTION_DATA socket-fd).
  [[nodiscard]] int socket_fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::vector<UniqueFd> passed_;
  bool fds_allowed_ = true;  // read with recvmsg: descriptors may come
};

}  // namespace tern::xs
