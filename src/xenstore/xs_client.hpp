// Small synchronous xenstore clients, used by tests and by
// `tern xenstore ring-client`: request/reply with watch events kept aside.
// SocketClient talks over the daemon's unix socket (a privileged toolstack);
// RingGuest (ring_client.hpp) talks through a shared ring as a guest would.
#pragma once

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "xenstore/wire.hpp"

namespace tern::xs {

// "a\0b\0": arguments as requests carry them.
std::string nul_joined(std::initializer_list<std::string_view> args);

class XsClient {
 public:
  XsClient() = default;
  XsClient(XsClient&&) = default;
  XsClient& operator=(XsClient&&) = default;
  virtual ~XsClient() = default;

  // Sends a request and waits for its reply (an ERROR reply is a Message of
  // type error, not a failure). Watch events that arrive meanwhile are kept.
  Expected<Message> call(Type type, std::string_view payload, std::uint32_t tx_id = 0);
  // The next watch event into `out`: one kept earlier, else the next to
  // arrive within timeout_ms; false if none came. (Not an
  // Expected<optional<Message>>: libc++ 16's std::expected mishandles value
  // types with tail padding.)
  Expected<bool> next_event(int timeout_ms, Message& out);
  // How long call() waits for a reply.
  void set_timeout(int ms) { timeout_ms_ = ms; }

 protected:
  // Writes a whole request; the next message from the daemon (false: none
  // within timeout_ms).
  virtual Expected<> send_bytes(std::string_view bytes, int timeout_ms) = 0;
  virtual Expected<bool> receive(int timeout_ms, Message& out) = 0;
  // Completes a message from bytes received so far, if there are enough.
  static Expected<bool> take_message(std::string& in, Message& out);

  std::deque<Message> events_;
  std::uint32_t next_req_ = 1;
  int timeout_ms_ = 5000;
};

class SocketClient final : public XsClient {
 public:
  static Expected<SocketClient> connect(const std::string& path);

  // INTRODUCE domid page evtchn with the ring's three descriptors attached
  // (SCM_RIGHTS): memory, then guest-to-daemon and daemon-to-guest eventfds.
  // The first one asks the daemon to take descriptors (CONTROL tern-fd-passing)
  // and waits for its reply.
  Expected<Message> introduce(std::uint32_t domid, std::uint64_t page, std::uint32_t evtchn,
                              int memory_fd, int to_daemon_fd, int to_guest_fd);

 protected:
  Expected<> send_bytes(std::string_view bytes, int timeout_ms) override;
  Expected<bool> receive(int timeout_ms, Message& out) override;

 private:
  explicit SocketClient(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  std::string in_;
  bool fd_passing_ = false;  // CONTROL tern-fd-passing answered OK
};

// The payload of a reply as text: NUL separators shown as spaces, the
// trailing NUL dropped ("OK", "/local/domain/5", "a b c").
std::string payload_text(std::string_view payload);

}  // namespace tern::xs
