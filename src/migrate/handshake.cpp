#include "migrate/handshake.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

namespace tern::migrate {

namespace {

Expected<void> send_line(int fd, std::string line) {
  line += '\n';
  std::string_view s = line;
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("migration handshake: send", errno);
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Reads one line (at most 4 KiB) byte by byte: nothing after it is consumed.
Expected<std::string> read_line(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return make_error(Errc::io, "migration handshake: no answer within {} ms", timeout.count());
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("migration handshake: poll", errno);
    if (n == 0) continue;
    char ch;
    const ssize_t got = ::recv(fd, &ch, 1, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno_error("migration handshake: receive", errno);
    if (got == 0)
      return make_error(Errc::io, "migration handshake: the peer closed the connection");
    if (ch == '\n') return line;
    if (line.size() >= 4096) return make_error(Errc::invalid, "migration handshake: line too long");
    line += ch;
  }
}

}  // namespace

Expected<void> source_commit(int fd, std::chrono::milliseconds timeout) {
  TERN_TRY_ASSIGN(auto line, read_line(fd, timeout));
  if (line.starts_with("ERROR "))
    return make_error(Errc::invalid, "the destination refused the migration: {}", line.substr(6));
  if (line != "READY")
    return make_error(Errc::invalid, "migration handshake: expected READY, got '{}'", line);
  return send_line(fd, "GO");
}

Expected<void> destination_commit(int fd, std::chrono::milliseconds timeout) {
  TERN_TRY(send_line(fd, "READY"));
  TERN_TRY_ASSIGN(auto line, read_line(fd, timeout));
  if (line != "GO")
    return make_error(Errc::invalid, "migration handshake: expected GO, got '{}'", line);
  return {};
}

void destination_refuse(int fd, std::string_view why) {
  std::string one_line(why);
  for (char& c : one_line)
    if (c == '\n') c = ' ';
  (void)send_line(fd, "ERROR " + one_line);
}

}  // namespace tern::migrate
