// Single-threaded epoll loop: accepts unix-socket clients, polls every
// connection's transport (sockets, domains' rings), moves bytes between them
// and the Daemon's per-connection buffers, never blocks.
//
// Connections are polled edge-triggered (EPOLLET): level-triggered epoll puts
// every reported descriptor back on its ready list and polls it again in the
// next epoll_wait (with 32 busy clients epoll_wait was 17 % of the daemon's
// profile, 6 % edge-triggered; see README.md for why the CPU per request
// hardly moved). The server remembers instead which connections it stopped
// reading early (unread_input) and serves them again without an event.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include <sys/epoll.h>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "xenstore/daemon.hpp"

namespace tern::xs {

// Adaptive busy polling: after a round that handled events, the loop keeps
// looking for more without blocking for this long before it sleeps in
// epoll_wait. A client's next request then usually arrives while the daemon
// is still polling, so neither side pays for putting the daemon to sleep and
// waking it (one client: ~2.5x the requests per second); an idle daemon
// blocks once the budget passes with nothing to do. 0 disables it. While it
// is on, a round's replies are also sent together (see Server::serve).
// Off by default: a spinning daemon takes a core from whatever shares the
// host with it (dom0's toolstack, backends, the clients themselves: with 8
// or 32 thread-per-client load generators on 2 cores, busy polling cut
// tern's lead over C from 1.72x/2.00x to 1.37x/1.58x).
inline constexpr std::chrono::microseconds kDefaultBusyPoll{0};
// The largest budget accepted (--busy-poll-us): beyond it spinning only burns CPU.
inline constexpr std::chrono::microseconds kMaxBusyPoll{10000};

class Server {
 public:
  explicit Server(Daemon& d) : daemon_(d) {}
  // Sets the busy-poll budget (kDefaultBusyPoll unless set; 0 disables).
  void set_busy_poll(std::chrono::microseconds budget) { busy_poll_ = budget; }
  // Creates the listening socket at `path` (replacing a stale one), mode 0600.
  Expected<> listen_at(const std::string& path);
  // Takes over a listening socket inherited across a live-update exec.
  void adopt_listener(UniqueFd fd);
  // Runs until `stop` becomes true (checked at least every 200 ms).
  Expected<> run(const std::atomic<bool>& stop);
  [[nodiscard]] int listen_fd() const { return listen_.get(); }

 private:
  void accept_all();
  void attach(Connection& c);
  void serve(Connection& c);
  void retire_transports();
  void on_readable(Connection& c);
  void flush(Connection& c);
  void update_interest(Connection& c);
  void drop(Connection& c);
  void watch_existing();
  void round(std::vector<epoll_event>& events, int n, epoll_event& lev);
  void deliver();
  void deliver_pass();
  // Replies wait for the end of the round (see serve()).
  [[nodiscard]] bool batch_replies() const { return busy_poll_.count() > 0; }

  Daemon& daemon_;
  UniqueFd listen_;
  UniqueFd epoll_;
  bool accept_paused_ = false;
  std::chrono::steady_clock::time_point accept_resume_{};  // when a paused listener is polled again
  std::chrono::microseconds busy_poll_ = kDefaultBusyPoll;
  int held_replies_ = 0;  // connections served this round since replies were last sent

  std::vector<std::uint64_t> pass_;  // the dirty list being delivered (deliver_pass)
  // Connections to serve again without an epoll event: input left unread
  // that may be read now (Connection::unread_input). again_ fills while
  // again_serving_ is served, so neither allocates per round.
  std::vector<std::uint64_t> again_, again_serving_;
};

}  // namespace tern::xs
