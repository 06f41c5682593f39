// A client connection: a transport (unix socket today; a domain's shared ring
// page later) plus the per-connection protocol state. Input and output are
// plain byte buffers so a live update can dump them as they are.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/unique_fd.hpp"
#include "xenstore/perms.hpp"
#include "xenstore/store.hpp"

namespace tern::xs {

// Moves bytes for one connection. Results follow read(2)/write(2): a count,
// 0 for end of input, or -1 with errno (EAGAIN: try again later).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual long read_some(char* buf, std::size_t len) = 0;
  virtual long write_some(const char* buf, std::size_t len) = 0;
  [[nodiscard]] virtual int fd() const = 0;  // polled descriptor, -1 if none
  [[nodiscard]] virtual std::string_view kind() const = 0;
};

class SocketTransport final : public Transport {
 public:
  explicit SocketTransport(UniqueFd fd) : fd_(std::move(fd)) {}
  long read_some(char* buf, std::size_t len) override;
  long write_some(const char* buf, std::size_t len) override;
  [[nodiscard]] int fd() const override { return fd_.get(); }
  [[nodiscard]] std::string_view kind() const override { return "socket"; }

 private:
  UniqueFd fd_;
};

struct Watch {
  std::string given;   // as the client sent it (relative paths stay relative in events)
  std::string path;    // canonical
  std::string token;
  std::optional<std::uint32_t> depth;
  [[nodiscard]] std::size_t bytes() const { return given.size() + token.size(); }
};

struct Connection {
  std::uint64_t id = 0;
  std::unique_ptr<Transport> transport;
  Caller who;  // socket clients are dom0 and privileged until told otherwise

  std::string in;                  // received bytes not yet handled (may hold a partial message)
  std::string out;                 // bytes queued for the client
  std::size_t out_sent = 0;        // prefix of `out` already written
  std::uint64_t out_base = 0;      // stream offset of out[0]
  std::deque<std::uint64_t> reply_ends;  // stream offsets ending unsent replies (outstanding)
  // Stream offset where the message holding the next unsent byte ends: the
  // unsent rest of a partly written message is out_msg_end - (out_base +
  // out_sent) bytes (a live-update image's out-resp-len).
  std::uint64_t out_msg_end = 0;

  std::vector<Watch> watches;
  std::map<std::uint32_t, std::unique_ptr<Transaction>> txns;
  std::uint32_t next_txid = 1;
  bool closing = false;  // drop once noticed by the server
  // Handle no further requests and send nothing for now: work deferred to
  // the end of the server round (a live-update exec, adopting a parked
  // connection) decides what happens to them.
  bool hold = false;

  [[nodiscard]] std::size_t pending_out() const { return out.size() - out_sent; }
};

}  // namespace tern::xs
