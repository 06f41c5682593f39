// The commit handshake that ends a migration, on the same connection as the
// stream, after the libxl END:
//
//   destination -> source   "READY\n"        stream valid, state loaded (not running)
//                           "ERROR <why>\n"  refused; the source resumes
//   source -> destination   "GO\n"           the point of no return: the source
//                                            stays stopped, the destination resumes
//
// While the stream flows, the destination reports how far it has applied it,
// after each PAGE_DATA record:
//
//   destination -> source   "ACK <bytes>\n"  stream bytes read and applied
//
// The source waits for these after each round (ReceiverProgress), so its
// bandwidth estimate is what the destination really absorbs and the guest
// is never paused with megabytes still queued in socket buffers ahead of a
// destination that is slower to apply them (fresh memory faulting in) —
// that backlog would be downtime. source_commit skips ACK lines left unread.
//
// If the connection breaks before GO is sent, the source resumes; if the
// destination does not receive GO, it discards its domain. (A GO lost after
// it was sent leaves neither side running: the one case a two-party commit
// cannot decide; the source reports it.)
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "core/error.hpp"

namespace tern::migrate {

// Source side: waits for READY (or ERROR), then sends GO.
Expected<void> source_commit(int fd, std::chrono::milliseconds timeout);
// Source side, after GO: waits (at most `timeout`) until the destination
// closes the connection, which it does once its guest runs. Meanwhile this
// side does nothing, so its teardown (unmapping guest memory, destroying the
// VM: tens of milliseconds of kernel work) does not take a CPU from the
// destination while it starts the guest, when both run on one host.
void source_wait_for_close(int fd, std::chrono::milliseconds timeout);
// Destination side: sends READY, waits for GO.
Expected<void> destination_commit(int fd, std::chrono::milliseconds timeout);
// Destination side: tells the source why the stream was refused (best effort).
void destination_refuse(int fd, std::string_view why);
// Destination side: "ACK <consumed>" (best effort, never blocks).
void destination_ack(int fd, std::uint64_t consumed);

// Source side: reads the destination's ACK lines (only whole lines, so a
// later source_commit finds the connection at a line boundary).
class ReceiverProgress {
 public:
  explicit ReceiverProgress(int fd) : fd_(fd) {}
  // Waits until the destination acknowledged `bytes`, or `timeout` passed
  // (not an error: the destination may be slow, or send no ACKs); returns
  // the bytes acknowledged. Fails when the connection closed or broke, or
  // the destination refused the stream (ERROR line).
  Expected<std::uint64_t> wait_for(std::uint64_t bytes, std::chrono::milliseconds timeout);
  [[nodiscard]] std::uint64_t acked() const { return acked_; }

 private:
  Expected<void> read_available();
  int fd_;
  std::uint64_t acked_ = 0;
};

}  // namespace tern::migrate
