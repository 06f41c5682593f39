// A client connection: a transport (transport.hpp: a unix socket or a
// domain's shared ring page) plus the per-connection protocol state. Input and
// output are plain byte buffers so a live update can dump them as they are.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/unique_fd.hpp"
#include "xenstore/perms.hpp"
#include "xenstore/store.hpp"
#include "xenstore/transport.hpp"

namespace tern::xs {

struct Watch {
  std::string given;  // as the client sent it (relative paths stay relative in events)
  std::string path;   // canonical
  std::string token;
  std::optional<std::uint32_t> depth;
  std::uint64_t seq = 0;  // registration order across the daemon (events keep it)
  std::size_t slot = 0;   // position in the daemon's WatchIndex bucket
  [[nodiscard]] std::size_t bytes() const { return given.size() + token.size(); }
};

struct Connection {
  // Fields every request touches come first: after the kernel's socket work
  // most of them are out of cache, and packed together they are a few cache
  // lines rather than the whole object (~7 lines).
  std::uint64_t id = 0;
  std::unique_ptr<Transport> transport;
  std::uint32_t poll_mask = 0;  // epoll events the server registered (server bookkeeping)
  bool closing = false;         // drop once noticed by the server
  // Stopped after an error (ConnError) but kept: a ring whose guest may ask to
  // reconnect. Nothing is read from or queued for an ignored connection.
  bool ignored = false;
  // The transport may hold input not read yet: the server stopped reading
  // before it said "nothing now" (a read budget, a pause). The server polls
  // edge-triggered, so it comes back to such a connection by itself.
  bool unread_input = true;
  // A parked connection a client takes over at the end of this round
  // (CONTROL tern-as-domain): no one else may take it meanwhile.
  bool claimed = false;
  bool dirty = false;  // listed in Daemon::dirty
  // Handle no further requests and send nothing for now: work deferred to
  // the end of the server round (a live-update exec, adopting a parked
  // connection) decides what happens to them.
  bool hold = false;
  ConnError close_reason = ConnError::none;  // none: end of input, RELEASE
  Caller who;  // socket clients are dom0 and privileged until told otherwise

  std::string in;              // received bytes not yet handled (may hold a partial message)
  std::uint64_t in_base = 0;   // stream offset of in[0]
  std::string out;             // bytes queued for the client
  std::size_t out_sent = 0;    // prefix of `out` already written
  std::uint64_t out_base = 0;  // stream offset of out[0]
  // Stream offset where the message holding the next unsent byte ends: the
  // unsent rest of a partly written message is out_msg_end - (out_base +
  // out_sent) bytes (a live-update image's out-resp-len).
  std::uint64_t out_msg_end = 0;
  std::deque<std::uint64_t> reply_ends;  // stream offsets ending unsent replies (outstanding)

  // In registration order. Change only through Daemon::add_watch /
  // remove_watch / clear_watches, which keep the daemon's watch index; a list
  // so the index can point at each watch.
  std::list<Watch> watches;
  std::map<std::uint32_t, std::unique_ptr<Transaction>> txns;
  std::uint32_t next_txid = 1;

  // Descriptors received (SCM_RIGHTS) and the input stream offset of the last
  // byte that came with them; handed to the request holding that byte
  // (request_fds, while it is handled) and closed afterwards if unused.
  std::deque<std::pair<std::uint64_t, UniqueFd>> passed_fds;
  std::vector<UniqueFd> request_fds;

  [[nodiscard]] std::size_t pending_out() const { return out.size() - out_sent; }
};

}  // namespace tern::xs
