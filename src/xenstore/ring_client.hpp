// The guest side of tern's shared-ring transport: what a guest's xenbus
// driver does, from user space. It owns the ring page (a sealed memfd) and the
// two eventfds; SocketClient::introduce hands them to the daemon, after which
// requests go through the ring exactly as misc/xenstore-ring.txt describes.
// Used by the unit tests and `tern xenstore ring-client`. (A tern VM does not
// have a xenstore device yet; with KVM, its eventfds would be an ioeventfd
// and an irqfd, see ring_transport.hpp.)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "xenstore/xs_client.hpp"

namespace tern::xs {

class RingGuest final : public XsClient {
 public:
  // A fresh one-page ring whose four offsets all start at `start_offset`
  // (guests must not assume 0; tests use values near 2^32 and near the
  // 1024-byte edge).
  static Expected<std::unique_ptr<RingGuest>> create(std::uint32_t start_offset = 0);
  ~RingGuest() override;
  RingGuest(const RingGuest&) = delete;
  RingGuest& operator=(const RingGuest&) = delete;

  // What INTRODUCE hands to the daemon (SocketClient::introduce).
  [[nodiscard]] int memory_fd() const { return memory_.get(); }
  [[nodiscard]] int to_daemon_fd() const { return to_daemon_.get(); }
  [[nodiscard]] int to_guest_fd() const { return to_guest_.get(); }

  // Ring reconnection (needs the server's feature bit): asks the daemon to
  // reset the connection and waits until it has.
  Expected<> reconnect(int timeout_ms);

  // The page's signalling fields.
  [[nodiscard]] std::uint32_t server_features() const;
  [[nodiscard]] std::uint32_t connection_state() const;
  [[nodiscard]] std::uint32_t error_indicator() const;

  // Low level, for tests: puts as many request bytes as fit (no kick) and
  // returns how many; signals the daemon; waits for the daemon's signal.
  std::optional<std::size_t> push(std::string_view bytes);
  void kick();
  bool wait_signal(int timeout_ms);
  [[nodiscard]] unsigned char* page() const { return page_; }

 protected:
  Expected<> send_bytes(std::string_view bytes, int timeout_ms) override;
  Expected<bool> receive(int timeout_ms, Message& out) override;

 private:
  RingGuest(UniqueFd memory, UniqueFd to_daemon, UniqueFd to_guest, unsigned char* page)
      : memory_(std::move(memory)),
        to_daemon_(std::move(to_daemon)),
        to_guest_(std::move(to_guest)),
        page_(page) {}
  // Moves whatever responses are in the ring to in_; false if the offsets are inconsistent.
  bool pull();

  UniqueFd memory_;
  UniqueFd to_daemon_;
  UniqueFd to_guest_;
  unsigned char* page_;
  std::string in_;  // response bytes not yet split into messages
};

}  // namespace tern::xs
