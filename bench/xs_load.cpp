// Load generator for xenstore daemons (tern-xenstored or Xen's C xenstored):
//   xs_load SOCKET ops CLIENTS SECONDS [--threads]
//       CLIENTS connections, each doing WRITE + READ of its own key with exactly
//       one request in flight; prints ops/s (requests answered per second).
//       Default: one thread drives all connections with epoll (the design of
//       redis-benchmark and memtier), so the generator costs one core at most
//       and its threads do not compete with the daemon for the CPU.
//       --threads: one thread per connection, blocking write() + read() (the
//       older figure; on a small machine its wake-ups and context switches
//       take the CPU the daemon needs, and a blocked read() is woken
//       spuriously each time the daemon takes the request off the socket).
//       Every reply's type is checked, and every READ must return the value
//       written; any error makes the exit status 1.
//   xs_load SOCKET fill NODES            writes NODES nodes with 32-byte values (pipelined)
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

int connect_to(const char* path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  return fd;
}

void put_msg(std::string& out, std::uint32_t type, std::uint32_t req, const std::string& payload) {
  std::uint32_t h[4] = {type, req, 0, static_cast<std::uint32_t>(payload.size())};
  out.append(reinterpret_cast<const char*>(h), sizeof h);
  out += payload;
}

bool write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    long n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads one reply into `payload`; returns its type, or -1 on EOF.
long read_reply(int fd, std::string& buf, std::string* payload = nullptr) {
  while (true) {
    if (buf.size() >= 16) {
      std::uint32_t h[4];
      std::memcpy(h, buf.data(), 16);
      if (buf.size() >= 16 + h[3]) {
        if (payload) payload->assign(buf, 16, h[3]);
        buf.erase(0, 16 + h[3]);
        return h[0];
      }
    }
    char tmp[8192];
    long n = ::read(fd, tmp, sizeof tmp);
    if (n <= 0) return -1;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
}

constexpr std::uint32_t kRead = 2, kWrite = 11, kError = 16;
const std::string kValue(32, 'v');

// One client's two requests, prebuilt.
struct Requests {
  std::string write, read;
  explicit Requests(int c) {
    std::string key = "/bench/load/client" + std::to_string(c);
    put_msg(write, kWrite, 1, key + std::string(1, '\0') + kValue);
    put_msg(read, kRead, 2, key + std::string(1, '\0'));
  }
};

void report(std::uint64_t ops, double dt, int errors) {
  std::printf("%.0f\n", static_cast<double>(ops) / dt);
  if (errors) std::fprintf(stderr, "xs_load: %d client(s) got errors\n", errors);
}

// One thread per client, blocking write() + read().
int run_ops_threads(const char* path, int clients, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> total{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      int fd = connect_to(path);
      Requests rq(c);
      std::string buf, payload;
      std::uint64_t ops = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (!write_all(fd, rq.write) || read_reply(fd, buf) != kWrite) {
          errors++;
          break;
        }
        if (!write_all(fd, rq.read) || read_reply(fd, buf, &payload) != kRead ||
            payload != kValue) {
          errors++;
          break;
        }
        ops += 2;
      }
      total += ops;
      ::close(fd);
    });
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report(total.load(), dt, errors.load());
  return errors ? 1 : 0;
}

// One thread, epoll over all connections; each connection has exactly one
// request in flight and sends the next one as soon as its reply is checked.
int run_ops_events(const char* path, int clients, double seconds) {
  struct Conn {
    int fd = -1;
    Requests rq;
    std::string in;
    bool reading = false;  // the request in flight is the READ
    bool failed = false;
    explicit Conn(int c) : rq(c) {}
  };
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    std::perror("epoll_create1");
    return 1;
  }
  std::vector<Conn> conns;
  conns.reserve(static_cast<std::size_t>(clients));
  for (int c = 0; c < clients; ++c) conns.emplace_back(c);
  for (int c = 0; c < clients; ++c) {
    Conn& k = conns[static_cast<std::size_t>(c)];
    k.fd = connect_to(path);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(c);
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, k.fd, &ev) != 0) {
      std::perror("epoll_ctl");
      return 1;
    }
  }
  // A request is a few dozen bytes and a connection never has more than one
  // unanswered, so the socket always has room: a blocking write never waits.
  int errors = 0;
  auto fail = [&](Conn& k) {
    k.failed = true;
    ++errors;
    ::epoll_ctl(ep, EPOLL_CTL_DEL, k.fd, nullptr);
  };
  auto t0 = std::chrono::steady_clock::now();
  const auto end = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(seconds));
  for (Conn& k : conns)
    if (!write_all(k.fd, k.rq.write)) fail(k);
  std::uint64_t ops = 0;
  int live = clients - errors;
  std::vector<epoll_event> events(static_cast<std::size_t>(std::max(clients, 1)));
  bool stopping = false;
  while (live > 0) {
    if (!stopping && std::chrono::steady_clock::now() >= end) stopping = true;
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 5000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // 5 s without any reply: the daemon is stuck
      std::fprintf(stderr, "xs_load: no reply for 5 seconds\n");
      errors += live;
      break;
    }
    for (int i = 0; i < n; ++i) {
      Conn& k = conns[events[i].data.u32];
      if (k.failed) continue;
      char tmp[4096];
      long got = ::read(k.fd, tmp, sizeof tmp);
      if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        fail(k);
        --live;
        continue;
      }
      k.in.append(tmp, static_cast<std::size_t>(got));
      if (k.in.size() < 16) continue;
      std::uint32_t h[4];
      std::memcpy(h, k.in.data(), 16);
      if (k.in.size() < 16 + h[3]) continue;
      bool ok = k.in.size() == 16 + h[3] &&  // one request in flight: one reply
                (k.reading ? h[0] == kRead && std::string_view(k.in).substr(16) == kValue
                           : h[0] == kWrite);
      k.in.clear();
      if (!ok) {
        fail(k);
        --live;
        continue;
      }
      ++ops;
      k.reading = !k.reading;
      if (stopping) {  // the last reply is in: this connection is done
        ::epoll_ctl(ep, EPOLL_CTL_DEL, k.fd, nullptr);
        --live;
        continue;
      }
      if (!write_all(k.fd, k.reading ? k.rq.read : k.rq.write)) {
        fail(k);
        --live;
      }
    }
  }
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (Conn& k : conns) ::close(k.fd);
  ::close(ep);
  report(ops, dt, errors);
  return errors ? 1 : 0;
}

int run_fill(const char* path, int nodes) {
  int fd = connect_to(path);
  std::string buf;
  const int batch = 100;
  for (int base = 0; base < nodes; base += batch) {
    std::string out;
    int n = std::min(batch, nodes - base);
    for (int i = base; i < base + n; ++i)
      put_msg(out, kWrite, static_cast<std::uint32_t>(i),
              "/bench/fill/d" + std::to_string(i / 1000) + "/k" + std::to_string(i) +
                  std::string(1, '\0') + std::string(32, 'x'));
    if (!write_all(fd, out)) return 1;
    for (int i = 0; i < n; ++i) {
      long t = read_reply(fd, buf);
      if (t < 0 || t == kError) {
        std::fprintf(stderr, "xs_load: fill failed at node %d\n", base + i);
        return 1;
      }
    }
  }
  ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 5 && std::strcmp(argv[2], "ops") == 0) {
    bool threads = argc >= 6 && std::strcmp(argv[5], "--threads") == 0;
    return (threads ? run_ops_threads : run_ops_events)(argv[1], std::atoi(argv[3]),
                                                        std::atof(argv[4]));
  }
  if (argc >= 4 && std::strcmp(argv[2], "fill") == 0) return run_fill(argv[1], std::atoi(argv[3]));
  std::fprintf(
      stderr,
      "usage: xs_load SOCKET ops CLIENTS SECONDS [--threads] | xs_load SOCKET fill NODES\n");
  return 2;
}
