#include "xenstore/socket_transport.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace tern::xs {

std::string_view conn_type_name(ConnType t) {
  switch (t) {
    case ConnType::ring:
      return "ring";
    case ConnType::socket:
      return "socket";
  }
  return "unknown";
}

bool refuse_passed_fds(int listen_fd) {
  const int off = 0;
  return ::setsockopt(listen_fd, SOL_SOCKET, kSoPassRights, &off, sizeof off) == 0;
}

SocketTransport::SocketTransport(UniqueFd fd) : fd_(std::move(fd)) {
  int on = 1;
  socklen_t len = sizeof on;
  // No SO_PASSRIGHTS (an older kernel): descriptors can come on any connection.
  if (::getsockopt(fd_.get(), SOL_SOCKET, kSoPassRights, &on, &len) == 0 && on == 0)
    fds_allowed_ = false;
}

bool SocketTransport::allow_passed_fds() {
  if (fds_allowed_) return true;
  const int on = 1;
  if (::setsockopt(fd_.get(), SOL_SOCKET, kSoPassRights, &on, sizeof on) != 0) return false;
  fds_allowed_ = true;
  return true;
}

long SocketTransport::read_some(char* buf, std::size_t len) {
  // The kernel refuses descriptors for this socket (SO_PASSRIGHTS off): a
  // plain read, none can be lost.
  if (!fds_allowed_) return ::recv(fd_.get(), buf, len, MSG_DONTWAIT);
  iovec iov{buf, len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  long n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      passed_.emplace_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    // The kernel dropped descriptors that did not fit: the request they came
    // with cannot be served as meant.
    passed_.clear();
    errno = EPROTO;
    return -1;
  }
  return n;
}

long SocketTransport::write_some(const char* buf, std::size_t len) {
  return ::send(fd_.get(), buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

std::uint32_t SocketTransport::poll_events(bool want_input, bool want_output) const {
  // Hang-up only matters while reading: a paused client that shut down its
  // sending side would otherwise wake the loop forever (level-triggered).
  return (want_input ? EPOLLIN | EPOLLRDHUP : 0u) | (want_output ? EPOLLOUT : 0u);
}

}  // namespace tern::xs
