// A domain's connection through a shared ring page (conn-type "ring"),
// without Xen: the page lives in a memory file descriptor (a memfd, or the
// memfd backing a VM's RAM) and each direction's event channel is an eventfd.
// The daemon gets the three descriptors with the domain's INTRODUCE request
// (SCM_RIGHTS on the privileged socket that sends it); see README.md.
//
// With KVM the two eventfds are exactly an ioeventfd (the guest kicks the
// daemon by writing an I/O port) and an irqfd (the daemon's kick becomes a
// guest interrupt), so a VM needs no extra plumbing.
#pragma once

#include <cstdint>
#include <memory>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "xenstore/transport.hpp"

namespace tern::xs {

// What the daemon is handed for one domain.
struct RingFds {
  UniqueFd memory;     // the page is page_index * 4096 bytes into it; sealed against shrinking
  UniqueFd to_daemon;  // eventfd the guest signals after changing the ring
  UniqueFd to_guest;   // eventfd the daemon signals after changing the ring
};

class RingTransport final : public Transport {
 public:
  // Checks and maps the page. The memory descriptor must be a regular file
  // (memfd) at least (page_index + 1) pages long carrying F_SEAL_SHRINK, so
  // the guest cannot truncate it under the daemon's mapping; the other two
  // must be eventfds (the daemon makes them non-blocking). `features` is
  // written to the page's server feature bitmap before any data moves.
  static Expected<std::unique_ptr<RingTransport>> attach(RingFds fds, std::uint64_t page_index,
                                                         std::uint32_t features);
  // The checks of attach, on descriptors it neither takes nor changes (a
  // live update's new process checks what it inherited before it commits).
  static Expected<> check(int memory, int to_daemon, int to_guest, std::uint64_t page_index);
  ~RingTransport() override;
  RingTransport(const RingTransport&) = delete;
  RingTransport& operator=(const RingTransport&) = delete;

  [[nodiscard]] ConnType type() const override { return ConnType::ring; }
  long read_some(char* buf, std::size_t len) override;
  long write_some(const char* buf, std::size_t len) override;
  [[nodiscard]] int fd() const override { return fds_.to_daemon.get(); }
  [[nodiscard]] std::uint32_t poll_events(bool want_input, bool want_output) const override;
  bool on_wakeup() override;
  void finish_reset() override;
  bool report_error(ConnError why) override;
  void kept_fds(std::vector<int>& out) const override;

  // State a live update keeps across exec (the page itself stays in the
  // memory descriptor): the three descriptors and where the page is.
  [[nodiscard]] const RingFds& fds() const { return fds_; }
  [[nodiscard]] std::uint64_t page_index() const { return page_index_; }
  [[nodiscard]] std::uint32_t features() const { return features_; }

 private:
  RingTransport(RingFds fds, std::uint64_t page_index, unsigned char* page, std::uint32_t features)
      : fds_(std::move(fds)), page_index_(page_index), page_(page), features_(features) {}
  void notify();

  RingFds fds_;
  std::uint64_t page_index_;
  unsigned char* page_;
  std::uint32_t features_;
};

}  // namespace tern::xs
