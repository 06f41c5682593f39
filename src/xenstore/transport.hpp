// How bytes reach a connection. Each kind of connection (the conn-type of the
// xenstore migration image's CONNECTION_DATA record) has its own Transport:
// SocketTransport (socket_transport.hpp) for unix-socket clients and
// RingTransport (ring_transport.hpp) for a domain's shared ring page. A Xen
// backend (grant-mapped page, event channel) would be a third implementation
// of the same interface; nothing above it knows which one it talks to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/unique_fd.hpp"

namespace tern::xs {

// CONNECTION_DATA conn-type values (designs/xenstore-migration).
enum class ConnType : std::uint16_t { ring = 0, socket = 1 };

// Why the daemon stops talking to a connection. The values are the ring
// page's "connection error indicator" (misc/xenstore-ring.txt).
enum class ConnError : std::uint32_t {
  none = 0,
  communication = 1,  // the peer does not take its output (event channel not functional)
  ring_index = 2,     // inconsistent producer or consumer offset
  protocol = 3,       // protocol violation (payload too long, bad descriptors)
};

class Transport {
 public:
  virtual ~Transport() = default;

  [[nodiscard]] virtual ConnType type() const = 0;

  // Move bytes. Results follow read(2)/write(2): a count, 0 for end of input,
  // or -1 with errno (EAGAIN: nothing now, wait for fd(); EPROTO: the peer
  // broke the transport's rules, e.g. a ring index out of range).
  virtual long read_some(char* buf, std::size_t len) = 0;
  virtual long write_some(const char* buf, std::size_t len) = 0;

  // The descriptor the server polls, and the epoll events to wait for given
  // whether the daemon wants input and has output pending.
  [[nodiscard]] virtual int fd() const = 0;
  [[nodiscard]] virtual std::uint32_t poll_events(bool want_input, bool want_output) const = 0;

  // Called each time fd() is ready, before any I/O. Returns true if the peer
  // asked for its connection to be reset (ring reconnection); the daemon then
  // forgets the connection's state and calls finish_reset().
  virtual bool on_wakeup() { return false; }
  virtual void finish_reset() {}

  // The daemon stops serving this peer because of `why`. Returns true if the
  // connection is kept (a ring stays mapped: the guest may ask to reconnect),
  // false if it is to be closed (a socket).
  virtual bool report_error(ConnError /*why*/) { return false; }

  // Descriptors that arrived with the bytes of the last read_some (a unix
  // socket's SCM_RIGHTS); they belong to the request holding its last byte.
  virtual std::vector<UniqueFd> take_passed_fds() { return {}; }
  // Lets the peer pass descriptors from now on (CONTROL tern-fd-passing);
  // false if this transport cannot carry them.
  virtual bool allow_passed_fds() { return false; }
  [[nodiscard]] virtual bool passes_fds() const { return false; }

  // False for a connection no client is on: imported from another daemon and
  // parked until one takes it over (its output accumulates meanwhile).
  [[nodiscard]] virtual bool has_peer() const { return true; }

  // Appends the descriptors a live update keeps open across its exec (the
  // new process finds them through the image).
  virtual void kept_fds(std::vector<int>& out) const {
    if (fd() >= 0) out.push_back(fd());
  }
};

std::string_view conn_type_name(ConnType t);

}  // namespace tern::xs
