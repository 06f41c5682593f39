// Load generator for xenstore daemons (tern-xenstored or Xen's C xenstored):
//   xs_load SOCKET ops CLIENTS SECONDS   N clients, each WRITE + READ of its own key; prints ops/s
//   xs_load SOCKET fill NODES            writes NODES nodes with 32-byte values (pipelined)
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
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

// Reads one reply; returns its type, or -1 on EOF.
long read_reply(int fd, std::string& buf) {
  while (true) {
    if (buf.size() >= 16) {
      std::uint32_t h[4];
      std::memcpy(h, buf.data(), 16);
      if (buf.size() >= 16 + h[3]) {
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

int run_ops(const char* path, int clients, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> total{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      int fd = connect_to(path);
      std::string key = "/bench/load/client" + std::to_string(c);
      std::string w, r, buf;
      put_msg(w, kWrite, 1, key + std::string(1, '\0') + std::string(32, 'v'));
      put_msg(r, kRead, 2, key + std::string(1, '\0'));
      std::uint64_t ops = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (!write_all(fd, w) || read_reply(fd, buf) != kWrite) { errors++; break; }
        if (!write_all(fd, r) || read_reply(fd, buf) != kRead) { errors++; break; }
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
  std::printf("%.0f\n", static_cast<double>(total.load()) / dt);
  if (errors) std::fprintf(stderr, "xs_load: %d client(s) got errors\n", errors.load());
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
  if (argc >= 5 && std::strcmp(argv[2], "ops") == 0)
    return run_ops(argv[1], std::atoi(argv[3]), std::atof(argv[4]));
  if (argc >= 4 && std::strcmp(argv[2], "fill") == 0) return run_fill(argv[1], std::atoi(argv[3]));
  std::fprintf(stderr, "usage: xs_load SOCKET ops CLIENTS SECONDS | xs_load SOCKET fill NODES\n");
  return 2;
}
