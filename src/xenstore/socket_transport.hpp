// A unix-socket client (conn-type "socket"): the toolstack, Xen's xenstore-*
// tools, test-xenstore. Reads with recvmsg so a privileged client can hand
// over descriptors (SCM_RIGHTS), e.g. a domain's ring page with INTRODUCE.
#pragma once

#include <vector>

#include "core/unique_fd.hpp"
#include "xenstore/transport.hpp"

namespace tern::xs {

// At most this many descriptors are accepted with one read; more is a
// protocol error (read_some fails with EPROTO).
inline constexpr int kMaxPassedFds = 8;

class SocketTransport final : public Transport {
 public:
  explicit SocketTransport(UniqueFd fd) : fd_(std::move(fd)) {}

  [[nodiscard]] ConnType type() const override { return ConnType::socket; }
  long read_some(char* buf, std::size_t len) override;
  long write_some(const char* buf, std::size_t len) override;
  [[nodiscard]] int fd() const override { return fd_.get(); }
  [[nodiscard]] std::uint32_t poll_events(bool want_input, bool want_output) const override;
  std::vector<UniqueFd> take_passed_fds() override { return std::move(passed_); }

  // The connected socket a live update keeps across exec (CONNECTION_DATA socket-fd).
  [[nodiscard]] int socket_fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::vector<UniqueFd> passed_;
};

}  // namespace tern::xs
