// Single-threaded epoll loop: accepts unix-socket clients, polls every
// connection's transport (sockets, domains' rings), moves bytes between them
// and the Daemon's per-connection buffers, never blocks.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include <sys/epoll.h>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "xenstore/daemon.hpp"

namespace tern::xs {

class Server {
 public:
  explicit Server(Daemon& d) : daemon_(d) {}
  // Creates the listening socket at `path` (replacing a stale one), mode 0600.
  Expected<> listen_at(const std::string& path);
  // Takes over a listening socket inherited across a live-update exec.
  void adopt_listener(UniqueFd fd) { listen_ = std::move(fd); }
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

  Daemon& daemon_;
  UniqueFd listen_;
  UniqueFd epoll_;
  bool accept_paused_ = false;
  std::vector<std::uint64_t> pass_;  // the dirty list being delivered (deliver_pass)
};

}  // namespace tern::xs
