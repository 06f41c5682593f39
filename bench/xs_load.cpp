// Load generator for xenstore daemons (tern-xenstored or Xen's C xenstored):
//   xs_load SOCKET ops CLIENTS SECONDS [--epoll|--uring|--threads]
//       CLIENTS connections, each doing WRITE + READ of its own key with exactly
//       one request in flight; prints ops/s (requests answered per second).
//       Default (--epoll): one thread drives all connections with epoll
//       (edge-triggered) and send()/recv(), the design of redis-benchmark and
//       memtier, so the generator costs one core at most and its threads do
//       not compete with the daemon for the CPU.
//       --uring: the same with io_uring (built with liburing): each connection
//       keeps a multishot recv armed, and the sends and completions of all
//       connections go through one io_uring_enter per batch (no SQPOLL: it
//       would take a core). It costs about as much CPU per request as
//       --epoll (~2.1 us; the unix-socket work itself dominates), but it
//       sends requests in bursts, which raised Xen's C xenstored's CPU per
//       request (8 clients: 5.45 instead of 5.05 us) and so flatters a
//       comparison with it; hence not the default.
//       --threads: one thread per connection, blocking send() + recv() (the
//       older figure; on a small machine its wake-ups and context switches
//       take the CPU the daemon needs, and a blocked recv() is woken
//       spuriously each time the daemon takes the request off the socket).
//       Every reply's type is checked, and every READ must return the value
//       written; any error makes the exit status 1.
//   xs_load SOCKET fill NODES            writes NODES nodes with 32-byte values (pipelined)
#if XS_LOAD_URING
#include <liburing.h>
#endif
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
    long n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
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
    long n = ::recv(fd, tmp, sizeof tmp, 0);
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

// One thread per client, blocking send() + recv().
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

// One connection of the event-driven generators: exactly one request in
// flight, the next sent as soon as the reply is checked.
struct Conn {
  int fd = -1;
  Requests rq;
  std::string in;
  bool reading = false;  // the request in flight is the READ
  bool failed = false;
  explicit Conn(int c) : rq(c) {}
  [[nodiscard]] const std::string& next() const { return reading ? rq.read : rq.write; }
};

enum class Reply { partial, ok, bad };

// Appends received bytes; checks the reply once it is complete.
Reply take_reply(Conn& k, const char* data, std::size_t n) {
  k.in.append(data, n);
  if (k.in.size() < 16) return Reply::partial;
  std::uint32_t h[4];
  std::memcpy(h, k.in.data(), 16);
  if (k.in.size() < 16 + h[3]) return Reply::partial;
  bool ok =
      k.in.size() == 16 + h[3] &&  // one request in flight: one reply
      (k.reading ? h[0] == kRead && std::string_view(k.in).substr(16) == kValue : h[0] == kWrite);
  k.in.clear();
  if (!ok) return Reply::bad;
  k.reading = !k.reading;
  return Reply::ok;
}

std::vector<Conn> connect_all(const char* path, int clients) {
  std::vector<Conn> conns;
  conns.reserve(static_cast<std::size_t>(clients));
  for (int c = 0; c < clients; ++c) {
    conns.emplace_back(c);
    conns.back().fd = connect_to(path);
  }
  return conns;
}

// One thread, epoll over all connections, send() + recv().
int run_ops_epoll(const char* path, int clients, double seconds) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    std::perror("epoll_create1");
    return 1;
  }
  std::vector<Conn> conns = connect_all(path, clients);
  for (int c = 0; c < clients; ++c) {
    epoll_event ev{};
    // Edge-triggered: level-triggered epoll polls every reported socket a
    // second time in the next epoll_wait. One recv drains a reply (it is far
    // smaller than the buffer), and the next one is a new edge.
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u32 = static_cast<std::uint32_t>(c);
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, conns[static_cast<std::size_t>(c)].fd, &ev) != 0) {
      std::perror("epoll_ctl");
      return 1;
    }
  }
  // A request is a few dozen bytes and a connection never has more than one
  // unanswered, so the socket always has room: a blocking send never waits.
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
      long got = ::recv(k.fd, tmp, sizeof tmp, MSG_DONTWAIT);
      if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        fail(k);
        --live;
        continue;
      }
      Reply r = take_reply(k, tmp, static_cast<std::size_t>(got));
      if (r == Reply::partial) continue;
      if (r == Reply::bad) {
        fail(k);
        --live;
        continue;
      }
      ++ops;
      if (stopping) {  // the last reply is in: this connection is done
        ::epoll_ctl(ep, EPOLL_CTL_DEL, k.fd, nullptr);
        --live;
        continue;
      }
      if (!write_all(k.fd, k.next())) {
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

#if XS_LOAD_URING
// One thread, io_uring over all connections. Each connection keeps one
// multishot recv armed (replies land in a ring of provided buffers) and has
// at most one send in flight; submissions and completions of all
// connections are batched into one io_uring_enter per loop.
class UringLoad {
 public:
  static constexpr unsigned kBufs = 256;  // provided receive buffers (a power of two)
  static constexpr unsigned kBufSize = 4096;
  static constexpr std::uint16_t kGroup = 0;

  ~UringLoad() {
    if (ring_ok_) io_uring_queue_exit(&ring_);
    std::free(br_);
  }

  // False (with a message) if this kernel or process cannot set it up.
  bool init(unsigned clients) {
    io_uring_params p{};
    // Completions are processed only when the loop asks (DEFER_TASKRUN):
    // the kernel does the receives of a batch together, not as interrupts.
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    unsigned entries = 1;
    while (entries < 2 * clients + 8) entries *= 2;
    int r = io_uring_queue_init_params(entries, &ring_, &p);
    if (r < 0) {
      std::fprintf(stderr, "xs_load: io_uring_queue_init: %s\n", std::strerror(-r));
      return false;
    }
    ring_ok_ = true;
    if (posix_memalign(reinterpret_cast<void**>(&br_), 4096, kBufs * sizeof(io_uring_buf)) != 0)
      return false;
    io_uring_buf_ring_init(br_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(br_);
    reg.ring_entries = kBufs;
    reg.bgid = kGroup;
    r = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (r < 0) {
      std::fprintf(stderr, "xs_load: io_uring_register_buf_ring: %s\n", std::strerror(-r));
      return false;
    }
    bufs_.resize(std::size_t{kBufs} * kBufSize);
    for (unsigned i = 0; i < kBufs; ++i) give_back(static_cast<std::uint16_t>(i));
    return true;
  }

  int run(std::vector<Conn>& conns, double seconds) {
    int errors = 0;
    int live = static_cast<int>(conns.size());
    auto fail = [&](Conn& k) {
      if (k.failed) return;
      k.failed = true;
      ++errors;
      --live;
      ::shutdown(k.fd, SHUT_RDWR);  // ends its armed recv
    };
    auto t0 = std::chrono::steady_clock::now();
    const auto end = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(seconds));
    for (std::size_t i = 0; i < conns.size(); ++i) {
      arm_recv(conns[i], i);
      send(conns[i], i);
    }
    std::uint64_t ops = 0;
    bool stopping = false;
    while (live > 0) {
      if (!stopping && std::chrono::steady_clock::now() >= end) stopping = true;
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec wait{5, 0};
      int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &wait, nullptr);
      if (r == -EINTR) continue;
      if (r == -ETIME) {  // 5 s without any completion: the daemon is stuck
        std::fprintf(stderr, "xs_load: no reply for 5 seconds\n");
        errors += live;
        break;
      }
      if (r < 0) {
        std::fprintf(stderr, "xs_load: io_uring_submit_and_wait: %s\n", std::strerror(-r));
        errors += live;
        break;
      }
      unsigned seen = 0;
      unsigned head;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        const std::uint64_t tag = cqe->user_data;
        Conn& k = conns[tag >> 1];
        const bool is_recv = (tag & 1) != 0;
        const int res = cqe->res;
        const unsigned flags = cqe->flags;
        if (!is_recv) {  // a failed send (successful ones post nothing)
          fail(k);
          continue;
        }
        if (res > 0) {
          auto bid = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
          Reply rep = k.failed ? Reply::partial
                               : take_reply(k, &bufs_[std::size_t{bid} * kBufSize],
                                            static_cast<std::size_t>(res));
          give_back(bid);
          if (rep == Reply::bad) fail(k);
          if (rep == Reply::ok) {
            ++ops;
            if (stopping) {  // the last reply is in: this connection is done
              k.failed = true;
              --live;
            } else {
              send(k, tag >> 1);
            }
          }
        } else if (res == -ENOBUFS) {
          // All buffers in use (not with one reply in flight per
          // connection and kBufs >= clients): re-armed below.
        } else if (!k.failed) {
          fail(k);  // end of input or an error
        }
        // A multishot recv ends without F_MORE (no buffers, an error):
        // arm it again while the connection is in use.
        if (!(flags & IORING_CQE_F_MORE) && !k.failed) arm_recv(k, tag >> 1);
      }
      io_uring_cq_advance(&ring_, seen);
    }
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report(ops, dt, errors);
    return errors ? 1 : 0;
  }

 private:
  io_uring_sqe* sqe() {
    io_uring_sqe* e = io_uring_get_sqe(&ring_);
    if (e == nullptr) {  // the queue is full: hand it to the kernel first
      io_uring_submit(&ring_);
      e = io_uring_get_sqe(&ring_);
    }
    return e;
  }
  void arm_recv(Conn& k, std::size_t i) {
    io_uring_sqe* e = sqe();
    io_uring_prep_recv_multishot(e, k.fd, nullptr, 0, 0);
    e->flags |= IOSQE_BUFFER_SELECT;
    e->buf_group = kGroup;
    io_uring_sqe_set_data64(e, (i << 1) | 1);
  }
  void send(Conn& k, std::size_t i) {
    const std::string& m = k.next();
    io_uring_sqe* e = sqe();
    io_uring_prep_send(e, k.fd, m.data(), m.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(e, i << 1);
    // Only a failed send posts a completion. (A unix stream socket with room
    // takes a request of a few dozen bytes whole; a short send would leave
    // the connection without a reply, which the 5-second check reports.)
    e->flags |= IOSQE_CQE_SKIP_SUCCESS;
  }
  void give_back(std::uint16_t bid) {
    io_uring_buf_ring_add(br_, &bufs_[std::size_t{bid} * kBufSize], kBufSize, bid,
                          io_uring_buf_ring_mask(kBufs), 0);
    io_uring_buf_ring_advance(br_, 1);
  }

  io_uring ring_{};
  bool ring_ok_ = false;
  io_uring_buf_ring* br_ = nullptr;
  std::vector<char> bufs_;
};

int run_ops_uring(const char* path, int clients, double seconds) {
  if (clients > static_cast<int>(UringLoad::kBufs)) {
    std::fprintf(stderr, "xs_load: --uring takes at most %u clients\n", UringLoad::kBufs);
    return 2;
  }
  UringLoad load;
  if (!load.init(static_cast<unsigned>(std::max(clients, 1)))) return 1;
  std::vector<Conn> conns = connect_all(path, clients);
  int rc = load.run(conns, seconds);
  for (Conn& k : conns) ::close(k.fd);
  return rc;
}

#endif

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
    std::string_view mode = argc >= 6 ? argv[5] : "";
    auto run = run_ops_epoll;
#if XS_LOAD_URING
    if (mode == "--uring") run = run_ops_uring;
#else
    if (mode == "--uring") {
      std::fprintf(stderr, "xs_load: built without liburing: no --uring\n");
      return 2;
    }
#endif
    if (mode == "--threads") run = run_ops_threads;
    return run(argv[1], std::atoi(argv[3]), std::atof(argv[4]));
  }
  if (argc >= 4 && std::strcmp(argv[2], "fill") == 0) return run_fill(argv[1], std::atoi(argv[3]));
  std::fprintf(
      stderr,
      "usage: xs_load SOCKET ops CLIENTS SECONDS [--epoll|--uring|--threads] | xs_load SOCKET "
      "fill NODES\n");
  return 2;
}
