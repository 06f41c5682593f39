// Pre-faults a destination domain's RAM on a thread of its own while the
// stream fills it (`tern receive --prefault`).
//
// Fresh guest memory is slow the first time it is touched (on this class of
// host about 0.3 GB/s with 4 KiB pages: the kernel allocates and zeroes each
// page, and a nested host faults its own backing in). The receiver would pay
// that inside its copy loop, page by page; this thread pays it ahead of the
// stream with MADV_POPULATE_WRITE in 256 KiB steps, in ascending frame order
// (the order round 0 arrives in), so the receiver's copies find the pages
// present. It only helps where a core is free for it; it costs the whole of
// the guest's RAM in resident memory, as QEMU's -mem-prealloc does.
//
// Frames it touches read zero as before; the destination's memory map is
// not changed. stop() (also the destructor) ends it within one step; the
// receiver stops it when round 0 is over, so it never competes with the
// short later rounds and the switch-over.
#pragma once

#include <atomic>
#include <cstdint>
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

  // Starts touching frames [0, end_pfn) of `d` that have host memory.
  Prefaulter(vm::Domain& d, std::uint64_t end_pfn);
  ~Prefaulter() { stop(); }
  Prefaulter(const Prefaulter&) = delete;
  Prefaulter& operator=(const Prefaulter&) = delete;

  void stop();
  // Bytes populated so far (for the receive summary).
  [[nodiscard]] std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  // False when the kernel lacks MADV_POPULATE_WRITE (before 5.14).
  [[nodiscard]] bool supported() const { return supported_.load(std::memory_order_relaxed); }

 private:
  void run(vm::Domain& d, std::uint64_t end_pfn);
  std::atomic<bool> stop_{false};
  std::atomic<bool> supported_{true};
  std::atomic<std::uint64_t> bytes_{0};
  std::thread thread_;
};

}  // namespace tern::migrate
