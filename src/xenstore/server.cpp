#include "xenstore/server.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "xenstore/socket_transport.hpp"

namespace tern::xs {

namespace {
// epoll user data: the listening socket is 0, connections are their ids (>= 1).
constexpr std::uint64_t kListenTag = 0;
// Bytes read from one client per wakeup, so one busy client cannot starve others.
constexpr std::size_t kReadBudget = std::size_t{256} * 1024;
// Unhandled input kept per connection: a live-update image records it in a
// 16-bit length (in-data-len).
constexpr std::size_t kInputMax = 65535;
// How long new connections wait after accept ran out of descriptors.
constexpr std::chrono::milliseconds kAcceptPause{200};
using Clock = std::chrono::steady_clock;
// Connections served before the replies held back in a round are sent.
constexpr int kFlushBatch = 64;
}  // namespace

Expected<> Server::listen_at(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path))
    return make_error(Errc::usage, "socket path {} is longer than {} bytes", path,
                      sizeof(addr.sun_path) - 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket", errno);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return errno_error("bind " + path, errno);
  ::chmod(path.c_str(), 0600);
  // Before listen: every connection refuses descriptors until it asks for them
  // (socket_transport.hpp). An older kernel cannot: then all may pass them.
  refuse_passed_fds(fd.get());
  if (::listen(fd.get(), 1024) != 0) return errno_error("listen " + path, errno);
  listen_ = std::move(fd);
  return {};
}

void Server::adopt_listener(UniqueFd fd) {
  // A listener from a daemon that let every connection pass descriptors
  // refuses them from now on; connections it accepted keep their setting.
  refuse_passed_fds(fd.get());
  listen_ = std::move(fd);
}

void Server::update_interest(Connection& c) {
  int fd = c.transport->fd();
  if (fd < 0) return;
  std::uint32_t mask =
      c.transport->poll_events(!c.ignored && !daemon_.input_paused(c), c.pending_out() > 0) |
      EPOLLET;
  if (mask == c.poll_mask) return;  // spares an epoll_ctl per request
  epoll_event ev{};
  ev.events = mask;
  ev.data.u64 = c.id;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev);
  c.poll_mask = mask;
}

void Server::attach(Connection& c) {
  epoll_event ev{};
  ev.events = c.transport->poll_events(true, false) | EPOLLET;
  ev.data.u64 = c.id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.transport->fd(), &ev) != 0) {
    log::warn("connection {}: epoll_ctl: {}", c.id, std::strerror(errno));
    daemon_.fail_connection(c, ConnError::communication);
    return;
  }
  c.poll_mask = ev.events;
}

void Server::drop(Connection& c) {
  log::debug("connection {} closed", c.id);
  daemon_.remove_connection(c.id);
}

void Server::retire_transports() {
  // Deregister explicitly: the peer (a guest) may still hold the same open
  // eventfd, so closing ours would not take it out of the epoll set.
  for (auto& t : daemon_.retired)
    if (t->fd() >= 0) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, t->fd(), nullptr);
  daemon_.retired.clear();
}

// Connections the daemon already has when the loop starts (restored by a
// live update): poll their transports, handle requests they had buffered, and
// send what they were owed. Each is read once in the first round too
// (unread_input starts true): a guest may have written to its ring during
// the exec without a kick still pending.
void Server::watch_existing() {
  for (auto& [id, cp] : daemon_.conns) {
    Connection& c = *cp;
    if (c.transport && c.transport->fd() >= 0) attach(c);
    if (!c.closing && !c.ignored && !c.in.empty() && !daemon_.input_paused(c) &&
        !daemon_.process_input(c))
      daemon_.fail_connection(c, ConnError::protocol);
    daemon_.mark_dirty(c);
  }
}

void Server::accept_all() {
  for (int i = 0; i < 256; ++i) {
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop accepting for a while instead of spinning.
        log::warn("accept: {}; pausing new connections", std::strerror(errno));
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listen_.get(), nullptr);
        accept_paused_ = true;
        accept_resume_ = Clock::now() + kAcceptPause;
      }
      return;
    }
    attach(daemon_.add_connection(std::make_unique<SocketTransport>(UniqueFd(fd))));
  }
}

void Server::flush(Connection& c) {
  while (c.pending_out() > 0) {
    long n = c.transport->write_some(c.out.data() + c.out_sent, c.pending_out());
    if (n > 0) {
      daemon_.consumed_output(c, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    daemon_.fail_connection(
        c, n < 0 && errno == EPROTO ? ConnError::ring_index : ConnError::none);  // peer gone
    break;
  }
}

void Server::on_readable(Connection& c) {
  char buf[65536];
  std::size_t budget = kReadBudget;
  while (budget > 0 && !c.closing && !c.ignored && !daemon_.input_paused(c) &&
         c.in.size() < kInputMax) {
    std::size_t asked = std::min(sizeof buf, kInputMax - c.in.size());
    long n = c.transport->read_some(buf, asked);
    if (n > 0) {
      c.in.append(buf, static_cast<std::size_t>(n));
      for (auto& fd : c.transport->take_passed_fds())
        c.passed_fds.emplace_back(c.in_base + c.in.size() - 1, std::move(fd));
      budget -= std::min<std::size_t>(budget, static_cast<std::size_t>(n));
      if (c.passed_fds.size() > kMaxPassedFds) {
        log::info("connection {}: more than {} descriptors pending, dropped", c.id, kMaxPassedFds);
        daemon_.fail_connection(c, ConnError::protocol);
      } else if (!daemon_.process_input(c)) {
        log::info("connection {}: payload longer than {} bytes", c.id, kPayloadMax);
        daemon_.fail_connection(c, ConnError::protocol);
      }
      // A short read drained the transport: the next input is a new edge.
      if (static_cast<std::size_t>(n) < asked) {
        c.unread_input = false;
        break;
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c.unread_input = false;
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    // End of input, or the peer broke the transport's rules (EPROTO).
    c.unread_input = false;
    daemon_.fail_connection(c, n < 0 && errno == EPROTO ? ConnError::ring_index : ConnError::none);
  }
}

void Server::serve(Connection& c) {
  // Called for an event (new input, perhaps) or to go on reading: until a
  // read says "nothing now", input may be waiting.
  c.unread_input = true;
  if (c.transport->on_wakeup()) {
    // Ring reconnection: the guest restarts from an empty ring.
    daemon_.reset_connection(c);
    c.transport->finish_reset();
  }
  if (!c.hold) flush(c);  // a held connection's output waits for the deferred work
  on_readable(c);
  // Output drained below the limits: handle requests already buffered.
  if (!c.closing && !c.ignored && !c.in.empty() && !daemon_.input_paused(c))
    if (!daemon_.process_input(c)) daemon_.fail_connection(c, ConnError::protocol);
  // Without busy polling its replies go out now rather than after the whole
  // batch: the clients work on them while the daemon still serves others,
  // instead of the daemon falling asleep just as they send the next requests.
  // With busy polling the daemon sees those requests anyway, and sending a
  // round's replies together (deliver(), at most kFlushBatch connections
  // later) wakes a client's poller once rather than for each of its replies.
  if (!batch_replies() && !c.closing && !c.ignored && !c.hold && c.pending_out() > 0) flush(c);
  daemon_.mark_dirty(c);
}

Expected<> Server::run(const std::atomic<bool>& stop) {
  epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return errno_error("epoll_create1", errno);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.u64 = kListenTag;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listen_.get(), &lev) != 0)
    return errno_error("epoll_ctl", errno);
  std::vector<epoll_event> events(256);
  watch_existing();
  bool first = true;
  Clock::time_point spin_until{};  // busy polling (busy_poll_) goes on until then
  while (!stop.load()) {
    if (first) {
      first = false;  // deliver what restored connections were owed before waiting
    } else {
      // Output still to deliver (queued while delivering), input left to
      // read, or events handled less than busy_poll_ ago: look for events,
      // don't wait.
      int timeout = 200;
      if (!daemon_.dirty.empty() || !again_.empty() ||
          (busy_poll_.count() > 0 && Clock::now() < spin_until))
        timeout = 0;
      int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_error("epoll_wait", errno);
      }
      round(events, n, lev);
      if (n > 0 && busy_poll_.count() > 0) spin_until = Clock::now() + busy_poll_;
    }
    // This round's output goes out first, except to connections on hold;
    // then the work that had to wait for the end of the round (a live update
    // with its reply still pending, adopting a parked connection); then what
    // that work released.
    deliver();
    if (!daemon_.deferred.empty()) {
      for (auto& work : std::exchange(daemon_.deferred, {})) work();
      deliver();
    }
    retire_transports();
  }
  return {};
}

void Server::round(std::vector<epoll_event>& events, int n, epoll_event& lev) {
  if (accept_paused_ && Clock::now() >= accept_resume_) {
    accept_paused_ = false;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listen_.get(), &lev);
  }
  // Input left unread in the last round: no new edge will announce it.
  again_serving_.clear();
  again_serving_.swap(again_);
  for (std::uint64_t id : again_serving_)
    if (Connection* c = daemon_.conns.find(id); c != nullptr && c->unread_input)
      serve(*c);  // (listed twice if delivered in two passes: served once)
  for (int i = 0; i < n; ++i) {
    std::uint64_t tag = events[i].data.u64;
    if (tag == kListenTag) {
      accept_all();
      continue;
    }
    Connection* c = daemon_.conns.find(tag);
    if (c == nullptr) continue;  // dropped earlier in this round
    serve(*c);
    // Replies held back for the end of the round (batch_replies) wait for
    // at most kFlushBatch connections: a round can hold hundreds.
    if (batch_replies() && ++held_replies_ >= kFlushBatch) {
      deliver();
      held_replies_ = 0;
    }
  }
  held_replies_ = 0;
  // Rings introduced this round: poll them, and serve what their guests
  // wrote before the daemon knew them.
  while (!daemon_.attached.empty()) {
    std::vector<std::uint64_t> ids = std::move(daemon_.attached);
    daemon_.attached.clear();
    retire_transports();  // a re-INTRODUCE retired the old descriptors first
    for (std::uint64_t id : ids)
      if (Connection* c = daemon_.conns.find(id)) {
        attach(*c);
        serve(*c);
      }
  }
}

// Delivers what this round queued (replies and other clients' watch events).
void Server::deliver() {
  // Handling buffered requests below can queue output for other connections:
  // a few passes deliver that too; the rest goes out in the next round.
  for (int pass = 0; pass < 4 && !daemon_.dirty.empty(); ++pass) deliver_pass();
  // (Connections on hold stay dirty: epoll_wait does not sleep while any is.)
}

void Server::deliver_pass() {
  // Both lists keep their capacity from pass to pass: no allocation per round.
  pass_.clear();
  pass_.swap(daemon_.dirty);
  std::vector<std::uint64_t> held;
  for (std::uint64_t id : pass_) {
    Connection* cp = daemon_.conns.find(id);
    if (cp == nullptr) continue;
    Connection& c = *cp;
    c.dirty = false;  // output queued from here on lists it again
    if (c.hold && !c.closing) {
      held.push_back(id);  // its output waits for the deferred work
      continue;
    }
    if (!c.closing && !c.ignored) flush(c);
    // Writing may have lifted a pause (output or outstanding-reply limits):
    // requests already buffered go on now, not when the client next sends.
    while (!c.closing && !c.ignored && !c.in.empty() && !daemon_.input_paused(c)) {
      std::size_t before = c.in.size();
      if (!daemon_.process_input(c)) daemon_.fail_connection(c, ConnError::protocol);
      if (!c.closing && !c.ignored) flush(c);
      if (c.in.size() == before) break;  // only a partial request is left
    }
    if (c.closing && !daemon_.keep_after_failure(c)) {
      drop(c);  // RELEASE, end of input, a socket's protocol error
      continue;
    }
    update_interest(c);
    // Reading stopped early (a budget, a pause since lifted): go on next round.
    if (c.unread_input && !c.closing && !c.ignored && !daemon_.input_paused(c) && c.transport &&
        c.transport->fd() >= 0)
      again_.push_back(id);
  }
  for (std::uint64_t id : held)
    if (Connection* c = daemon_.conns.find(id)) daemon_.mark_dirty(*c);
}

}  // namespace tern::xs
