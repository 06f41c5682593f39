// All xenstored state in one object (store, connections with their watches,
// transactions and queues, domains, quotas) and the request handler. The
// epoll server (server.hpp) only moves bytes; everything a live update must
// dump is reachable from here.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "xenstore/connection.hpp"
#include "xenstore/connection_table.hpp"
#include "xenstore/quota.hpp"
#include "xenstore/ring.hpp"
#include "xenstore/store.hpp"
#include "xenstore/watch_index.hpp"
#include "xenstore/wire.hpp"

namespace tern::xs {

// Ring-page features this daemon supports (xenstore-ring.txt).
inline constexpr std::uint32_t kSupportedFeatures =
    ring::kFeatureReconnection | ring::kFeatureError;

struct Domain {
  std::uint32_t domid = 0;
  bool introduced = false;
  std::uint64_t gfn = 0;  // INTRODUCE's page argument (tern rings: page index in the memory fd)
  std::uint32_t evtchn = 0;
  std::uint64_t ring_conn = 0;  // id of the domain's ring connection, 0 if none
  std::uint32_t features =
      kSupportedFeatures;  // what its ring advertises (SET_FEATURE before INTRODUCE)
  std::optional<std::uint32_t> target;
  std::optional<Quotas> quota;  // SET_QUOTA <domid>; else the global quotas
};

// Output a client has not taken yet. Above kPauseOutput the daemon stops
// reading its requests; above kDropOutput (only watch events can get it
// there) the connection is dropped.
inline constexpr std::size_t kPauseOutput = std::size_t{256} * 1024;
inline constexpr std::size_t kDropOutput = std::size_t{8} * 1024 * 1024;

class Daemon;
// A reply's payload: text a handler built, or a view of bytes that stay put
// until the reply is queued (a READ's value in the store), so answering a
// READ copies the value once, into the output. (No flag member: an empty
// view reads as the empty owned text, and libc++ 16's std::expected
// mishandles value types with tail padding.)
class ReplyText {
 public:
  ReplyText() = default;
  ReplyText(std::string s) : owned_(std::move(s)) {}  // NOLINT: implicit, as handlers return text
  static ReplyText borrow(std::string_view v) {
    ReplyText r;
    r.borrowed_ = v;
    return r;
  }
  [[nodiscard]] std::string_view text() const {
    return borrowed_.data() != nullptr ? borrowed_ : std::string_view(owned_);
  }

 private:
  std::string owned_;
  std::string_view borrowed_;
};

// A CONTROL sub-command provided outside daemon.cpp (live update, domain
// export/import). Returns nullopt to let the built-in command of that name run.
using ControlHandler = std::function<std::optional<Result<std::string>>(
    Connection&, std::span<const std::string_view> args)>;

class Daemon {
 public:
  explicit Daemon(Quotas quota = {});

  Connection& add_connection(std::unique_ptr<Transport> t);
  // The oldest parked connection acting as `domid` (imported, no client on
  // it) that no client is taking over yet, or nullptr.
  Connection* parked_connection(std::uint32_t domid);
  // Forgets a connection with its watches and transactions. Its transport
  // moves to `retired` until the server has stopped polling it.
  void remove_connection(std::uint64_t id);
  // Stops serving a connection after `why` (safe anywhere: it only marks it).
  // The server then closes a socket, or keeps a ring (keep_after_failure):
  // told through its error indicator, ignored until its guest reconnects.
  void fail_connection(Connection& c, ConnError why);
  bool keep_after_failure(Connection& c);
  // Drops everything in flight for a connection (input, unsent output,
  // watches, transactions), as a ring reconnection asks.
  void reset_connection(Connection& c);

  // Handles every complete request in c.in. Returns false if the connection
  // broke the framing rules (payload too long) and must be dropped. Stops
  // early while the connection's output is over its limits.
  bool process_input(Connection& c);
  // Checked several times per request, so the common answer is inline: a
  // privileged connection has no outstanding-request quota.
  [[nodiscard]] bool input_paused(const Connection& c) const {
    if (c.hold || c.pending_out() > kPauseOutput) return true;
    return !c.who.privileged && over_outstanding(c);
  }
  // Handles one request, queueing the reply (and watch events) on c.
  void handle(Connection& c, const Header& hdr, std::string_view payload);
  // Queues watch events for changes (request handling; tests).
  void fire(const std::vector<Event>& events);
  // Notes that `written` more bytes of c.out reached the client.
  void consumed_output(Connection& c, std::size_t written);

  // The only ways to change a connection's watches (they keep `watch_index`).
  Watch& add_watch(Connection& c, Watch w);
  void remove_watch(Connection& c, std::list<Watch>::iterator it);
  void clear_watches(Connection& c);

  void set_trace(std::FILE* f) { trace_ = f; }
  [[nodiscard]] std::string memory_report() const;

  Store store;
  Quotas quota;
  ConnectionTable conns;
  std::map<std::uint32_t, Domain> domains;
  std::map<std::string, Perms, std::less<>> special_perms;  // @introduceDomain, @releaseDomain
  WatchIndex watch_index;  // every connection's watches by watched path
  std::uint64_t next_watch_seq = 1;
  std::uint64_t watch_candidates = 0;  // watches looked at by events (statistics, tests)
  // Connections with newly queued output, each listed once
  // (Connection::dirty); may name connections removed since.
  std::vector<std::uint64_t> dirty;
  void mark_dirty(Connection& c) {
    if (!c.dirty) {
      c.dirty = true;
      dirty.push_back(c.id);
    }
  }
  // Connections created by a request (a domain's ring, from INTRODUCE) that
  // the server must start polling, and transports of removed connections it
  // must stop polling before they are closed.
  std::vector<std::uint64_t> attached;
  std::vector<std::unique_ptr<Transport>> retired;
  bool logging = false;
  // CONTROL logfile / memreport FILE open files the client names; a daemon
  // fed arbitrary requests (the fuzzer) turns that off and answers EACCES.
  bool control_may_write_files = true;
  std::uint64_t next_conn_id = 1;
  std::map<std::string, ControlHandler, std::less<>> control_handlers;
  // Work that must not run in the middle of a request; the server runs it
  // after each round of requests, before delivering their output.
  std::vector<std::function<void()>> deferred;

 private:
  // An unprivileged connection with as many unanswered requests as its
  // domain's outstanding quota allows.
  [[nodiscard]] bool over_outstanding(const Connection& c) const;
  using Reply = Result<ReplyText>;
  Reply dispatch(Connection& c, const Header& hdr, std::string_view payload);
  Reply do_control(Connection& c, const Args& a);
  Reply do_watch(Connection& c, const Args& a);
  Reply do_unwatch(Connection& c, const Args& a);
  Reply do_transaction_end(Connection& c, const Header& hdr, const Args& a);
  Reply do_introduce(Connection& c, const Args& a);
  Result<> attach_ring(Connection& via, Domain& dom, std::uint64_t page, std::uint32_t evtchn);
  Reply do_release(Connection& c, const Args& a);
  Reply do_quota(Connection& c, const Args& a, bool set);
  Reply do_feature(Connection& c, const Args& a, bool set);
  Reply do_special_perms(Connection& c, std::string_view path, const Args* set);

  const Quotas* quota_for(const Connection& c) const;
  Domain& domain(std::uint32_t domid);
  void deliver(std::vector<WatchRef>& matches, const std::function<bool(const WatchRef&)>& wants,
               const std::function<std::string_view(const WatchRef&)>& event_path);
  void fire_special(std::string_view name, std::uint32_t domid);
  void queue_event(Connection& c, const Watch& w, std::string_view epath);
  void queue(Connection& c, std::uint32_t type, std::uint32_t req_id, std::uint32_t tx_id,
             std::string_view payload, bool is_reply);
  std::size_t watch_count(std::uint32_t domid) const;
  std::size_t txn_count(std::uint32_t domid) const;
  std::string usage_report(std::uint32_t domid) const;

  std::FILE* trace_ = nullptr;
};

}  // namespace tern::xs
