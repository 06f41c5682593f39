#include "migrate/handshake.hpp"

#include <poll.h>
#include <sched.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
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

// The destination's wait for GO is inside the guest's downtime and GO is
// due within a millisecond of READY: for this long it spins on the socket
// instead of sleeping in poll(), whose wake-up alone took 2 ms here (a
// sleeping vCPU of a loaded VM host). The source does not spin for READY:
// the destination needs the CPU to get there (2 cores here). The spin
// yields the CPU at every turn: when the source shares this CPU (the
// scheduler puts a woken peer next to its waker), a spinner that does not
// yield holds it for a whole scheduler slice while the source, runnable
// beside it, waits to send GO — 2.5-5 ms of the guest's pause, measured.
constexpr auto kSpin = std::chrono::milliseconds(20);

// Reads one line (at most 4 KiB) byte by byte: nothing after it is consumed.
Expected<std::string> read_line(int fd, std::chrono::milliseconds timeout, bool spin = false) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  std::string line;
  for (;;) {
    if (spin && std::chrono::steady_clock::now() - start < kSpin) {
      char ch;
      const ssize_t got = ::recv(fd, &ch, 1, MSG_DONTWAIT);
      if (got == 1) {
        if (ch == '\n') return line;
        if (line.size() >= 4096)
          return make_error(Errc::invalid, "migration handshake: line too long");
        line += ch;
        continue;
      }
      if (got == 0)
        return make_error(Errc::io, "migration handshake: the peer closed the connection");
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        ::sched_yield();
        continue;
      }
      return errno_error("migration handshake: receive", errno);
    }
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
  std::string line;
  do {
    TERN_TRY_ASSIGN(line, read_line(fd, timeout));
  } while (line.starts_with("ACK "));
  if (line.starts_with("ERROR "))
    return make_error(Errc::invalid, "the destination refused the migration: {}", line.substr(6));
  if (line != "READY")
    return make_error(Errc::invalid, "migration handshake: expected READY, got '{}'", line);
  TERN_TRY(send_line(fd, "GO"));
  // The destination spins for GO, often on this CPU (the scheduler puts a
  // woken peer next to its waker): let it run now, not at the next tick
  // after whatever this process does next (measured: ~1 ms of the pause).
  ::sched_yield();
  return {};
}

void source_wait_for_close(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    char buf[256];
    const ssize_t got = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return;  // closed
  }
}

Expected<void> destination_commit(int fd, std::chrono::milliseconds timeout) {
  TERN_TRY(send_line(fd, "READY"));
  TERN_TRY_ASSIGN(auto line, read_line(fd, timeout, /*spin=*/true));
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

void destination_ack(int fd, std::uint64_t consumed) {
  const std::string line = fmt::format("ACK {}\n", consumed);
  // A source that does not read ACKs fills its receive buffer at worst
  // (about 20 bytes per 4 MiB of stream); never block the receiver on it.
  (void)::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

Expected<void> ReceiverProgress::read_available() {
  for (;;) {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return {};
    if (n < 0) return errno_error("migration: reading the destination's progress", errno);
    if (n == 0) return make_error(Errc::io, "migration: the destination closed the connection");
    const std::string_view peeked(buf, static_cast<std::size_t>(n));
    const auto last_nl = peeked.rfind('\n');
    if (last_nl == std::string_view::npos) return {};  // no whole line yet
    // Consume whole lines only.
    const std::size_t take = last_nl + 1;
    if (::recv(fd_, buf, take, MSG_DONTWAIT) != static_cast<ssize_t>(take))
      return errno_error("migration: reading the destination's progress", errno);
    std::string_view lines(buf, take);
    while (!lines.empty()) {
      const auto nl = lines.find('\n');
      const std::string_view line = lines.substr(0, nl);
      lines.remove_prefix(nl + 1);
      if (line.starts_with("ERROR "))
        return make_error(Errc::invalid, "the destination refused the migration: {}",
                          line.substr(6));
      if (!line.starts_with("ACK "))
        return make_error(Errc::invalid, "migration: unexpected line '{}' from the destination",
                          line);
      std::uint64_t v = 0;
      for (char c : line.substr(4)) {
        if (c < '0' || c > '9')
          return make_error(Errc::invalid, "migration: malformed '{}' from the destination", line);
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
      }
      acked_ = std::max(acked_, v);
    }
  }
}

Expected<std::uint64_t> ReceiverProgress::wait_for(std::uint64_t bytes,
                                                   std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    TERN_TRY(read_available());
    if (acked_ >= bytes) return acked_;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return acked_;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(1, left.count()))) < 0 &&
        errno != EINTR)
      return errno_error("migration: waiting for the destination's progress", errno);
  }
}

}  // namespace tern::migrate
