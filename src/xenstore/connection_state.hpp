// How a connection is written to and rebuilt from an image: one function per
// transport kind for the conn-spec (sockets; shared-ring connections are
// refused for now, see save_transport), and the connection's pending
// input/output buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <variant>

#include "core/error.hpp"
#include "stream/xenstore/records.hpp"
#include "xenstore/connection.hpp"

namespace tern::xs {

namespace img = tern::stream::xenstore;

// A connection without a peer: imported from another daemon and waiting for
// a client to take it over (CONTROL tern-as-domain), or restored in a dry run.
// Reads nothing; writes nothing, so output accumulates.
class DetachedTransport final : public Transport {
 public:
  long read_some(char*, std::size_t) override;
  long write_some(const char*, std::size_t) override;
  // Saved as a socket without a descriptor (socket-fd -1).
  [[nodiscard]] ConnType type() const override { return ConnType::socket; }
  [[nodiscard]] int fd() const override { return -1; }
  [[nodiscard]] std::uint32_t poll_events(bool, bool) const override { return 0; }
};

// A socket inherited across exec, named by its descriptor number but not yet
// owned: restore builds these first and turns them into SocketTransports only
// once the whole image was accepted (adopt_sockets), so a refused image
// closes nothing. A dry run (--check-image) keeps them and never does I/O.
class InheritedSocket final : public Transport {
 public:
  explicit InheritedSocket(int fd) : fd_(fd) {}
  long read_some(char*, std::size_t) override;
  long write_some(const char*, std::size_t) override;
  [[nodiscard]] ConnType type() const override { return ConnType::socket; }
  [[nodiscard]] int fd() const override { return fd_; }
  // Never polled: it is replaced (adopt_sockets) before the server runs.
  [[nodiscard]] std::uint32_t poll_events(bool, bool) const override { return 0; }

 private:
  int fd_;
};

using ConnSpec = std::variant<img::RingSpec, img::SocketSpec>;

// The conn-spec of a connection, by transport kind. Detached connections are
// sockets with fd -1 (tern's convention, as GLOBAL_DATA uses -1 for "none").
Expected<ConnSpec> save_transport(const Connection& c);

// Whether restored sockets must be open descriptors of this process.
enum class FdCheck { open_sockets, none };
// Rebuilds a transport from a conn-spec.
Expected<std::unique_ptr<Transport>> restore_transport(std::uint32_t conn_id, const ConnSpec& spec,
                                                       FdCheck check);

// Replaces every InheritedSocket of the daemon by a SocketTransport that
// owns the descriptor. Call only once the restore succeeded.
class Daemon;
void adopt_sockets(Daemon& d);

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
inline bool is_parked(const Connection& c) {
  return dynamic_cast<const DetachedTransport*>(c.transport.get()) != nullptr;
}

// The prefix of `in` that holds whole requests (a peer that cannot resend the
// rest of a partial request needs only these).
std::string_view whole_requests(std::string_view in);

}  // namespace tern::xs
