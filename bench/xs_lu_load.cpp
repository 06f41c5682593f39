// Continuous checked load on a xenstore daemon, for live-update tests and the
// downtime benchmark (tests/integration/test_xenstore_live_update_load.sh,
// bench/xenstored_liveupdate_bench.sh). One thread drives N connections with
// epoll; each connection:
//   - watches its own subtree /lu/load/c<i> (token c<i>);
//   - sends WRITE + READ of its own key, `depth` requests in flight, with
//     req_ids 1, 2, 3, ...: every reply must come exactly once and in order,
//     and every READ must return the value last written;
//   - (--transactions) keeps a transaction open for a while, writing in it,
//     then commits it and checks the value: it must commit (nobody else
//     touches the subtree);
//   - counts watch events: at the end each must have seen one event per
//     change it made (plus the initial one), no more, no less.
// It also records when every reply arrives: the longest time no connection
// got any reply ("max_gap_ms") is the downtime clients saw. With --run CMD
// (e.g. a xenstore-control live-update) it runs CMD after --run-after
// seconds, stops half a second after CMD ends, and reports the longest gap
// that overlapped CMD's run ("update_gap_ms"), which leaves out stalls the
// machine causes at other times.
//
//   xs_lu_load SOCKET CONNECTIONS SECONDS [--depth D] [--transactions] [--stop-file F]
//              [--run CMD [--run-after S]]
// Prints one JSON object; exits 1 if any check failed.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint32_t kRead = 2, kWatch = 4, kTxStart = 6, kTxEnd = 7, kWrite = 11, kEvent = 15,
                        kError = 16;

struct Expect {
  std::uint32_t req;
  std::uint32_t type;
  std::string value;  // READ: expected value
  int kind;           // 0 plain, 1 tx start, 2 tx write, 3 tx end
};

struct Conn {
  int fd = -1;
  int idx = 0;
  std::string in, out;
  std::uint32_t next_req = 1;
  std::deque<Expect> pending;
  std::uint64_t counter = 0;
  std::string last_value;  // committed value of the key
  std::uint32_t tx = 0;    // open transaction id
  bool tx_starting = false;
  Clock::time_point tx_opened;
  std::string tx_value;
  std::uint64_t events = 0, events_expected = 1;  // the initial event of WATCH
  Clock::time_point last_reply;
  bool seen_reply = false;
  bool want_out = false;  // EPOLLOUT registered
};

struct Stats {
  std::uint64_t replies = 0, errors = 0, commits = 0;
  double max_gap_ms = 0, max_conn_gap_ms = 0;
  long long gap_end_us = 0;  // monotonic clock: when the longest gap ended
  std::string first_error;
};

void fail(Stats& st, const std::string& why) {
  if (st.errors++ == 0) st.first_error = why;
}

void put(std::string& out, std::uint32_t type, std::uint32_t req, std::uint32_t tx,
         const std::string& payload) {
  std::uint32_t h[4] = {type, req, tx, static_cast<std::uint32_t>(payload.size())};
  out.append(reinterpret_cast<const char*>(h), sizeof h);
  out += payload;
}

std::string key(const Conn& c) { return "/lu/load/c" + std::to_string(c.idx) + "/k"; }

void send(Conn& c, std::uint32_t type, std::uint32_t tx, const std::string& payload,
          std::string value = {}, int kind = 0) {
  std::uint32_t req = c.next_req++;
  put(c.out, type, req, tx, payload);
  c.pending.push_back({req, type, std::move(value), kind});
}

// Queues the next requests of a connection (up to `depth` in flight).
void refill(Conn& c, std::size_t depth, bool transactions, double tx_hold_s) {
  while (c.pending.size() < depth) {
    auto now = Clock::now();
    if (transactions && c.tx == 0 && !c.tx_starting && c.counter % 50 == 7) {
      send(c, kTxStart, 0, std::string(1, '\0'), {}, 1);
      c.tx_starting = true;
      continue;
    }
    if (c.tx != 0 && std::chrono::duration<double>(now - c.tx_opened).count() > tx_hold_s) {
      send(c, kTxEnd, c.tx, std::string("T\0", 2), {}, 3);
      c.tx = 0;
      continue;
    }
    if (c.tx_starting) return;  // wait for the id before writing in it
    std::string v = "v" + std::to_string(++c.counter);
    send(c, kWrite, 0, key(c) + '\0' + v);
    ++c.events_expected;
    c.last_value = v;
    send(c, kRead, 0, key(c) + '\0', v);
  }
}

// Writes what is queued; asks for EPOLLOUT only while something is left.
void flush(int ep, Conn& c) {
  while (!c.out.empty()) {
    long w = ::write(c.fd, c.out.data(), c.out.size());
    if (w <= 0) break;
    c.out.erase(0, static_cast<std::size_t>(w));
  }
  bool want = !c.out.empty();
  if (want == c.want_out) return;
  c.want_out = want;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.u32 = static_cast<std::uint32_t>(c.idx);
  ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
}

int connect_to(const char* path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    std::perror("xs_lu_load: connect");
    std::exit(2);
  }
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

// Handles one message from the daemon.
void on_message(Conn& c, std::uint32_t type, std::uint32_t req, const std::string& body,
                Stats& st) {
  if (type == kEvent) {
    std::string want = "/lu/load/c" + std::to_string(c.idx);
    if (body.compare(0, want.size(), want) != 0 ||
        body.find("c" + std::to_string(c.idx) + '\0') == std::string::npos)
      fail(st, "connection " + std::to_string(c.idx) + ": foreign watch event " + body);
    ++c.events;
    return;
  }
  ++st.replies;
  if (c.pending.empty())
    return fail(st, "connection " + std::to_string(c.idx) + ": unexpected reply req " +
                        std::to_string(req));
  Expect e = c.pending.front();
  c.pending.pop_front();
  if (req != e.req)
    return fail(st, "connection " + std::to_string(c.idx) + ": reply req " + std::to_string(req) +
                        ", expected " + std::to_string(e.req) + " (lost, duplicated or reordered)");
  if (type == kError)
    return fail(st, "connection " + std::to_string(c.idx) + ": error " + body + " for req " +
                        std::to_string(req) + " type " + std::to_string(e.type));
  if (type != e.type)
    return fail(st, "connection " + std::to_string(c.idx) + ": reply type " + std::to_string(type) +
                        " for req " + std::to_string(req));
  if (e.type == kRead && body != e.value)
    return fail(st, "connection " + std::to_string(c.idx) + ": read \"" + body + "\", expected \"" +
                        e.value + "\"");
  if (e.kind == 1) {
    c.tx = static_cast<std::uint32_t>(std::strtoul(body.c_str(), nullptr, 10));
    c.tx_starting = false;
    c.tx_opened = Clock::now();
    c.tx_value = "tx" + std::to_string(c.counter);
    // Write in it now; the change shows (and fires) only at commit.
    send(c, kWrite, c.tx, key(c) + "tx" + '\0' + c.tx_value, {}, 2);
  } else if (e.kind == 3) {
    ++st.commits;
    ++c.events_expected;
    send(c, kRead, 0, key(c) + "tx" + '\0', c.tx_value);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: xs_lu_load SOCKET CONNECTIONS SECONDS [--depth D] [--transactions] "
                 "[--stop-file F] [--run CMD [--run-after S]]\n");
    return 2;
  }
  const char* path = argv[1];
  int nconn = std::atoi(argv[2]);
  double seconds = std::atof(argv[3]);
  std::size_t depth = 2;
  bool transactions = false;
  std::string stop_file, run_cmd;
  double run_after = 1.0;
  for (int i = 4; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--depth" && i + 1 < argc)
      depth = static_cast<std::size_t>(std::atoi(argv[++i]));
    else if (a == "--transactions")
      transactions = true;
    else if (a == "--stop-file" && i + 1 < argc)
      stop_file = argv[++i];
    else if (a == "--run" && i + 1 < argc)
      run_cmd = argv[++i];
    else if (a == "--run-after" && i + 1 < argc)
      run_after = std::atof(argv[++i]);
  }
  Stats st;
  std::vector<Conn> conns(static_cast<std::size_t>(nconn));
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < nconn; ++i) {
    Conn& c = conns[static_cast<std::size_t>(i)];
    c.idx = i;
    c.fd = connect_to(path);
    send(c, kWatch, 0, "/lu/load/c" + std::to_string(i) + '\0' + "c" + std::to_string(i) + '\0');
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    flush(ep, c);
  }
  auto t0 = Clock::now();
  auto last_any = t0;
  auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  bool stopping = false;
  std::vector<epoll_event> evs(256);
  const double tx_hold_s = 0.7;
  // --run: the command (a live update) and when it ran, to tell the gap it
  // caused from gaps the machine causes at other times.
  pid_t run_pid = -1;
  int run_status = -1;
  Clock::time_point run_start = Clock::time_point::max(), run_end = Clock::time_point::max();
  double update_gap_ms = 0;
  for (;;) {
    auto now = Clock::now();
    if (!run_cmd.empty() && run_pid < 0 && run_status < 0 &&
        now >= t0 + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(run_after))) {
      run_start = Clock::now();
      run_pid = ::fork();
      if (run_pid == 0) {
        ::execl("/bin/sh", "sh", "-c", run_cmd.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
      }
    }
    if (run_pid > 0) {
      int status = 0;
      if (::waitpid(run_pid, &status, WNOHANG) == run_pid) {
        run_end = Clock::now();
        run_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        run_pid = -1;
        deadline = std::min(deadline, run_end + std::chrono::milliseconds(500));
      }
    }
    if (!stopping &&
        (now >= deadline || (!stop_file.empty() && ::access(stop_file.c_str(), F_OK) == 0))) {
      stopping = true;
      deadline = now + std::chrono::seconds(20);  // time to drain
      for (auto& c : conns)
        if (c.tx != 0) {  // commit what is open, then stop
          send(c, kTxEnd, c.tx, std::string("T\0", 2), {}, 3);
          c.tx = 0;
          flush(ep, c);
        }
    }
    if (stopping) {
      bool idle = true;
      for (auto& c : conns) idle = idle && c.pending.empty() && !c.tx_starting;
      if (idle || now >= deadline) break;
    }
    int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 50);
    for (int k = 0; k < n; ++k) {
      Conn& c = conns[evs[static_cast<std::size_t>(k)].data.u32];
      if (evs[static_cast<std::size_t>(k)].events & EPOLLIN) {
        char buf[65536];
        for (;;) {
          long r = ::read(c.fd, buf, sizeof buf);
          if (r > 0) {
            c.in.append(buf, static_cast<std::size_t>(r));
            continue;
          }
          if (r == 0) {
            fail(st, "connection " + std::to_string(c.idx) + ": closed by the daemon");
            ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          }
          break;
        }
        std::size_t pos = 0;
        while (c.in.size() - pos >= 16) {
          std::uint32_t h[4];
          std::memcpy(h, c.in.data() + pos, 16);
          if (c.in.size() - pos - 16 < h[3]) break;
          std::string body = c.in.substr(pos + 16, h[3]);
          while (!body.empty() && body.back() == '\0' && h[0] != kEvent) body.pop_back();
          pos += 16 + h[3];
          if (h[0] != kEvent) {
            auto t = Clock::now();
            double gap = std::chrono::duration<double, std::milli>(t - last_any).count();
            if (gap > st.max_gap_ms) {
              st.max_gap_ms = gap;
              st.gap_end_us =
                  std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch())
                      .count();
            }
            if (t > run_start && last_any < run_end) update_gap_ms = std::max(update_gap_ms, gap);
            if (c.seen_reply)
              st.max_conn_gap_ms =
                  std::max(st.max_conn_gap_ms,
                           std::chrono::duration<double, std::milli>(t - c.last_reply).count());
            last_any = c.last_reply = t;
            c.seen_reply = true;
          }
          on_message(c, h[0], h[1], body, st);
        }
        c.in.erase(0, pos);
      }
      if (!stopping && c.pending.size() < depth) refill(c, depth, transactions, tx_hold_s);
      flush(ep, c);
    }
  }
  std::uint64_t lost = 0, ev_bad = 0;
  for (auto& c : conns) {
    lost += c.pending.size();
    if (c.events != c.events_expected) {
      ++ev_bad;
      fail(st, "connection " + std::to_string(c.idx) + ": " + std::to_string(c.events) +
                   " watch events, expected " + std::to_string(c.events_expected));
    }
  }
  if (lost) fail(st, std::to_string(lost) + " requests never answered");
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::string err;
  for (char ch : st.first_error) err += (ch == '"' || ch == '\\') ? ' ' : (ch < 0x20 ? '.' : ch);
  std::printf(
      "{\"connections\": %d, \"seconds\": %.2f, \"replies\": %llu, \"run_exit\": %d, \"run_ms\": "
      "%.1f, "
      "\"update_gap_ms\": %.3f, \"max_gap_ms\": %.3f, "
      "\"max_gap_end_monotonic_us\": %lld, \"max_connection_gap_ms\": %.3f, \"commits\": %llu, "
      "\"unanswered\": %llu, \"connections_with_wrong_events\": "
      "%llu, \"errors\": %llu, \"first_error\": \"%s\"}\n",
      nconn, elapsed, static_cast<unsigned long long>(st.replies), run_status,
      run_end == Clock::time_point::max()
          ? 0.0
          : std::chrono::duration<double, std::milli>(run_end - run_start).count(),
      update_gap_ms, st.max_gap_ms, st.gap_end_us, st.max_conn_gap_ms,
      static_cast<unsigned long long>(st.commits), static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(ev_bad), static_cast<unsigned long long>(st.errors),
      err.c_str());
  return st.errors ? 1 : 0;
}
