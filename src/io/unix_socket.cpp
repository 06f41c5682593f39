#include "io/unix_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tern::io {

namespace {
Expected<sockaddr_un> address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path)
    return make_error(Errc::usage, "unix socket path '{}' must be 1..{} bytes", path,
                      sizeof a.sun_path - 1);
  std::memcpy(a.sun_path, path.data(), path.size());
  return a;
}
}  // namespace

Expected<UniqueFd> connect_unix(const std::string& path) {
  TERN_TRY_ASSIGN(auto a, address(path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket", errno);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return errno_error("connect to " + path, errno);
  return fd;
}

Expected<UniqueFd> listen_unix(const std::string& path) {
  TERN_TRY_ASSIGN(auto a, address(path));
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return make_error(Errc::usage, "{} exists and is not a socket", path);
    if (connect_unix(path))
      return make_error(Errc::usage, "{} is in use by a running process", path);
    ::unlink(path.c_str());  // stale
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket", errno);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return errno_error("bind " + path, errno);
  if (::listen(fd.get(), 8) != 0) return errno_error("listen on " + path, errno);
  return fd;
}

Expected<UniqueFd> accept_connection(int listen_fd) {
  for (;;) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    if (errno != EINTR) return errno_error("accept", errno);
  }
}

long send_with_fds(int sock, std::string_view bytes, std::span<const int> fds) {
  if (fds.size() > kMaxSentFds) {
    errno = EINVAL;
    return -1;
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxSentFds)] = {};
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(fds.size_bytes());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size_bytes());
    std::memcpy(CMSG_DATA(c), fds.data(), fds.size_bytes());
  }
  long n;
  do n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace tern::io
