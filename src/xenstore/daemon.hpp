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
#include <vector>
#include <string>
#include <string_view>

#include "xenstore/connection.hpp"
#include "xenstore/quota.hpp"
#include "xenstore/store.hpp"
#include "xenstore/wire.hpp"

namespace tern::xs {

struct Domain {
  std::uint32_t domid = 0;
  bool introduced = false;
  std::uint64_t gfn = 0;        // ring page, recorded for the ring backend
  std::uint32_t evtchn = 0;
  std::uint32_t features = 0;   // SET_FEATURE (before INTRODUCE)
  std::optional<std::uint32_t> target;
  std::optional<Quotas> quota;  // SET_QUOTA <domid>; else the global quotas
};

// Ring-page features this daemon supports (xenstore-ring.txt).
inline constexpr std::uint32_t kFeatureReconnection = 1;
inline constexpr std::uint32_t kFeatureError = 2;
inline constexpr std::uint32_t kSupportedFeatures = kFeatureReconnection | kFeatureError;

// Output a client has not taken yet. Above kPauseOutput the daemon stops
// reading its requests; above kDropOutput (only watch events can get it
// there) the connection is dropped.
inline constexpr std::size_t kPauseOutput = 256 * 1024;
inline constexpr std::size_t kDropOutput = 8 * 1024 * 1024;

class Daemon;
// A CONTROL sub-command provided outside daemon.cpp (live update, domain
// export/import). Returns nullopt to let the built-in command of that name run.
using ControlHandler =
    std::function<std::optional<Result<std::string>>(Connection&, std::span<const std::string_view> args)>;

class Daemon {
 public:
  explicit Daemon(Quotas quota = {});

  Connection& add_connection(std::unique_ptr<Transport> t);
  void remove_connection(std::uint64_t id);

  // Handles every complete request in c.in. Returns false if the connection
  // broke the framing rules (payload too long) and must be dropped. Stops
  // early while the connection's output is over its limits.
  bool process_input(Connection& c);
  [[nodiscard]] bool input_paused(const Connection& c) const;
  // Handles one request, queueing the reply (and watch events) on c.
  void handle(Connection& c, const Header& hdr, std::string_view payload);
  // Notes that `written` more bytes of c.out reached the client.
  void consumed_output(Connection& c, std::size_t written);

  // Queues watch events for every connection that watches the changed paths.
  void fire(const std::vector<Event>& events);

  void set_trace(std::FILE* f) { trace_ = f; }
  [[nodiscard]] std::string memory_report() const;

  Store store;
  Quotas quota;
  std::map<std::uint64_t, std::unique_ptr<Connection>> conns;
  std::map<std::uint32_t, Domain> domains;
  std::map<std::string, Perms, std::less<>> special_perms;  // @introduceDomain, @releaseDomain
  std::set<std::uint64_t> dirty;  // connections with newly queued output
  bool logging = false;
  std::uint64_t next_conn_id = 1;
  std::map<std::string, ControlHandler, std::less<>> control_handlers;
  // Work that must not run in the middle of a request; the server runs it
  // after each round of requests, before delivering their output.
  std::vector<std::function<void()>> deferred;

 private:
  using Reply = Result<std::string>;
  Reply dispatch(Connection& c, const Header& hdr, std::string_view payload);
  Reply do_control(Connection& c, const Args& a);
  Reply do_watch(Connection& c, const Args& a);
  Reply do_unwatch(Connection& c, const Args& a);
  Reply do_transaction_end(Connection& c, const Header& hdr, const Args& a);
  Reply do_introduce(Connection& c, const Args& a);
  Reply do_release(Connection& c, const Args& a);
  Reply do_quota(Connection& c, const Args& a, bool set);
  Reply do_feature(Connection& c, const Args& a, bool set);
  Reply do_special_perms(Connection& c, std::string_view path, const Args* set);

  const Quotas* quota_for(const Connection& c) const;
  Domain& domain(std::uint32_t domid);
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
