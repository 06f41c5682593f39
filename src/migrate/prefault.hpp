// Pre-faults a destination domain's RAM on a thread of its own while the
// stream fills it.
//
// Fresh guest memory is slow the first time it is touched (on this class of
// host about 0.3 GB/s with 4 KiB pages: the kernel allocates and zeroes each
// page, and a nested host faults its own backing in). The receiver would pay
// that inside its copy loop, page by page; this thread pays it ahead of the
// stream with MADV_POPULATE_WRITE in 256 KiB steps, in ascending frame order
// (the order round 0 arrives in), so the receiver's copies find the pages
// present. It only helps where a core is free for it.
//
// Two modes:
//  - whole (`tern receive --prefault`): every frame of the guest's RAM, as
//    QEMU's -mem-prealloc does; it costs all of the RAM in resident memory.
//  - lead (the default): the data frames each round-0 record announces
//    (lead(), called before the record's payload is read), then, past a
//    record of dense data, a window beyond its last data frame, so the
//    thread runs ahead of the copies. It never goes back below what the
//    stream has settled, and the frames it touched that round 0 leaves zero
//    (XALLOC and XTAB entries, frames the stream skips) are given back
//    (release()): the destination ends with about the source's resident
//    memory, not the guest's whole RAM. (A step in flight when its frames
//    turn out zero, at most 256 KiB at a time, stays resident.)
//
// Frames it touches read zero as before; the destination's memory map is
// not changed. stop() (also the destructor) ends it within one step; the
// receiver stops it when round 0 is over, so it never competes with the
// short later rounds and the switch-over.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <thread>

#include "vm/domain.hpp"

namespace tern::migrate {

class Prefaulter {
 public:
  // Pages per MADV_POPULATE_WRITE call (256 KiB). stop() waits for the step
  // in progress, and the receiver may stop the thread with the guest paused
  // (state records reached before round 0's end was seen). Fresh memory
  // faults in at ~1.6 GB/s here: a 2 MiB step took ~1.3 ms, this one ~0.16
  // ms; a call per 64 pages costs nothing next to their 64 faults.
  static constexpr std::uint64_t kStepPages = 64;
  // A record whose data frames form at most this many runs is dense: the
  // thread looks ahead past it (past a sparser one it does not).
  static constexpr std::size_t kDenseRuns = 8;

  // Whole mode (lead_window == 0): touches frames [0, end_pfn) that have
  // host memory. Lead mode: the first `lead_window` frames at once (round 0
  // starts at the lowest frame), then announced data and at most
  // `lead_window` frames past the last data frame announced.
  Prefaulter(vm::Domain& d, std::uint64_t end_pfn, std::uint64_t lead_window = 0);
  ~Prefaulter() { stop(); }
  Prefaulter(const Prefaulter&) = delete;
  Prefaulter& operator=(const Prefaulter&) = delete;

  // Lead mode, per round-0 record, before its payload is read: the runs of
  // frames [first, end) it writes data to (ascending), and `settled`: every
  // frame below it is accounted for by the stream (data announced here or
  // before, or left zero), so the thread's look-ahead starts there.
  struct Run {
    std::uint64_t first;
    std::uint64_t end;
  };
  void lead(std::span<const Run> data, std::uint64_t settled);
  // Frames below this were touched or passed over; the thread only moves
  // forward, so a frame below it is never touched again.
  [[nodiscard]] std::uint64_t position() const;
  // Gives frames [first, end) back to the kernel (MADV_DONTNEED: they read
  // zero and cost no memory again): frames round 0 left zero, after this
  // thread may have touched them. `first` must not lie below the data
  // announced before it (round 0's order), so only [first, first + window)
  // can have been touched, and only below position(): the rest is left alone.
  void release(std::uint64_t first, std::uint64_t end);

  void stop();
  [[nodiscard]] bool leads() const { return window_ != 0; }
  // Bytes populated so far, and asked back by release() (the receive
  // summary; frames asked back were not all touched: passed-over ones too).
  [[nodiscard]] std::uint64_t bytes() const;
  [[nodiscard]] std::uint64_t released_bytes() const { return released_; }

 private:
  void run();
  void run_locked(std::unique_lock<std::mutex>& lock);
  // The next step, [pfn, pfn + n) with n > 0, or n == 0 when there is none
  // yet. Under mu_.
  Run next_step() const;
  // The host memory of frames [pfn, pfn + n) when it is one contiguous piece
  // (the backends' slots are; a range across a slot edge is skipped).
  std::byte* contiguous(std::uint64_t pfn, std::uint64_t n) const;

  vm::Domain& d_;
  const std::uint64_t end_;
  const std::uint64_t window_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool finished_ = false;  // run() returned: lead() has nobody to tell
  std::uint64_t bytes_ = 0;
  std::uint64_t pos_ = 0;
  std::deque<Run> runs_;        // lead mode: announced data not yet reached
  std::uint64_t settled_ = 0;   // lead mode: look-ahead starts here or later
  std::uint64_t floor_ = 0;     // lead mode: the receiver has written what lies below
  std::uint64_t ahead_end_;     // lead mode: look-ahead ends here
  std::uint64_t released_ = 0;  // (the receiver's thread only)
  std::thread thread_;          // (last: starts once the members above exist)
};

}  // namespace tern::migrate
