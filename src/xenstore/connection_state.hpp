// How a connection is written to and rebuilt from an image: the conn-spec
// of each transport kind (a socket's descriptor; a shared ring's eventfd,
// with its page and other eventfd in a TERN_DATA ring record), and the
// connection's pending input/output buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>

#include "core/error.hpp"
#include "stream/xenstore/records.hpp"
#include "xenstore/connection.hpp"

namespace tern::xs {

namespace img = tern::stream::xenstore;

// A transport that moves no bytes (reads and writes say "nothing now") and
// is never polled: what the three kinds below have in common.
class IdleTransport : public Transport {
 public:
  long read_some(char*, std::size_t) override;
  long write_some(const char*, std::size_t) override;
  [[nodiscard]] std::uint32_t poll_events(bool, bool) const override { return 0; }
};

// A connection without a peer: imported from another daemon and waiting for
// a client to take it over (CONTROL tern-as-domain), or restored in a dry run.
// Reads nothing; writes nothing, so output accumulates.
class DetachedTransport final : public IdleTransport {
 public:
  // Saved as a socket without a descriptor (socket-fd -1).
  [[nodiscard]] ConnType type() const override { return ConnType::socket; }
  [[nodiscard]] int fd() const override { return -1; }
  [[nodiscard]] bool has_peer() const override { return false; }
};

// A ring's three descriptors by number (not owned).
struct RingFdNumbers {
  int memory = -1;
  int to_daemon = -1;
  int to_guest = -1;
};

// A socket inherited across exec, named by its descriptor number but not yet
// owned: restore builds these first and turns them into SocketTransports only
// once the whole image was accepted (adopt_transports), so a refused image
// closes nothing. A dry run (--check-image) keeps them and never does I/O.
class InheritedSocket final : public IdleTransport {
 public:
  explicit InheritedSocket(int fd) : fd_(fd) {}
  [[nodiscard]] ConnType type() const override { return ConnType::socket; }
  [[nodiscard]] int fd() const override { return fd_; }

 private:
  int fd_;
};

// A shared ring inherited across exec, as InheritedSocket: restore checks
// the descriptors (RingTransport::check) without owning them, and
// adopt_transports maps the ring once the whole image was accepted. Until its
// TERN_DATA ring record is read the descriptors are -1.
class InheritedRing final : public IdleTransport {
 public:
  InheritedRing() = default;
  InheritedRing(const RingFdNumbers& fds, std::uint64_t page_index, std::uint32_t features)
      : fds_(fds), page_index_(page_index), features_(features) {}
  [[nodiscard]] ConnType type() const override { return ConnType::ring; }
  [[nodiscard]] int fd() const override { return -1; }
  [[nodiscard]] const RingFdNumbers& fds() const { return fds_; }
  [[nodiscard]] std::uint64_t page_index() const { return page_index_; }
  [[nodiscard]] std::uint32_t features() const { return features_; }

 private:
  RingFdNumbers fds_;
  std::uint64_t page_index_ = 0;
  std::uint32_t features_ = 0;
};

using ConnSpec = std::variant<img::RingSpec, img::SocketSpec>;

// The conn-spec of a connection, by transport kind. Detached connections are
// sockets with fd -1 (tern's convention, as GLOBAL_DATA uses -1 for "none").
Expected<ConnSpec> save_transport(const Connection& c);

// The TERN_DATA ring record of a shared-ring connection (none for others).
std::optional<img::TernRingData> save_ring(const Connection& c, std::uint32_t conn_id);

// Whether restored sockets and rings must be open descriptors of this process.
enum class FdCheck { open_sockets, none };
// Rebuilds a socket transport from a conn-spec. A shared ring needs its
// TERN_DATA ring record too (restore_ring); until then it is a placeholder.
Expected<std::unique_ptr<Transport>> restore_transport(std::uint32_t conn_id, const ConnSpec& spec,
                                                       FdCheck check);
// An InheritedRing from a connection's shared-ring conn-spec and ring record.
Expected<std::unique_ptr<Transport>> restore_ring(const img::RingSpec& spec,
                                                  const img::TernRingData& r, FdCheck check);

// Replaces every InheritedSocket of the daemon by a SocketTransport that
// owns the descriptor, and every InheritedRing by a RingTransport that owns
// its three. Call only once the restore succeeded.
class Daemon;
void adopt_transports(Daemon& d);

// The unsent output (from the first unsent byte) and the length of the
// partly written message it starts with (out-resp-len).
struct SavedOutput {
  std::string_view data;
  std::uint16_t resp_len = 0;
};
SavedOutput save_output(const Connection& c);

// Sets a fresh connection's output to an image's pending output; rebuilds the
// outstanding-reply index (the partly written message counts as a reply).
// Fails if the data after the partial message is not whole messages.
Expected<void> restore_output(Connection& c, std::string_view data, std::uint16_t resp_len);

// Appends whole messages to c's output, keeping the outstanding-reply index.
void append_output(Connection& c, std::string_view whole_messages);

// A connection without a peer (imported, waiting to be taken over).
inline bool is_parked(const Connection& c) { return c.transport && !c.transport->has_peer(); }

// The prefix of `in` that holds whole requests (a peer that cannot resend the
// rest of a partial request needs only these).
std::string_view whole_requests(std::string_view in);

}  // namespace tern::xs
