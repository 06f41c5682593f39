// Guest memory of a sim domain: one anonymous MAP_NORESERVE mapping as
// large as the guest-physical address space (so page() is valid for the
// domain's lifetime and a multi-TiB, mostly empty space costs only address
// space), the memory map under a mutex, and software dirty tracking.
//
// Populate/depopulate keep the invariant "a frame outside the map reads as
// zero": depopulated frames are madvise(MADV_DONTNEED)ed, and frames
// entering the map are zeroed the same way.
//
// Lazy restore (map_file): a private, copy-on-write mapping of a file is
// placed over some frames (MAP_FIXED); a depopulated file-backed frame gets
// anonymous memory back first (MADV_DONTNEED alone would bring the file's
// bytes back, not zeros).
//
// Dirty tracking: writers mark what they wrote, after writing it, into one
// of several shards (one per vCPU, one for the VMM) under the shard's mutex;
// the mutex orders a write before a concurrent collect() (a mark seen as
// "not logging" happened entirely before start_log()). page() itself is not
// a write: callers that write guest memory through it on behalf of the
// guest (the VMM's device models) call mark(). Map changes mark the frames
// that entered or left the map.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/error.hpp"
#include "vm/dirty_bitmap.hpp"
#include "vm/memory_map.hpp"

namespace tern::vm::sim {

class SimMemory {
 public:
  static Expected<std::unique_ptr<SimMemory>> create(std::uint64_t space_bytes, unsigned shards);
  ~SimMemory();
  SimMemory(const SimMemory&) = delete;
  SimMemory& operator=(const SimMemory&) = delete;

  [[nodiscard]] std::uint64_t space_pages() const { return pages_; }
  [[nodiscard]] std::byte* page(std::uint64_t pfn) const {
    return pfn < pages_ ? base_ + (pfn << kPageShift) : nullptr;
  }

  [[nodiscard]] MemoryMap map() const;
  [[nodiscard]] std::uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }
  [[nodiscard]] bool contains(std::uint64_t pfn) const;
  [[nodiscard]] bool contains_range(std::uint64_t first, std::uint64_t count) const;

  // `shard` receives the dirty marks of the frames that changed.
  Expected<void> populate(std::uint64_t first, std::uint64_t count, unsigned shard);
  Expected<void> depopulate(std::uint64_t first, std::uint64_t count, unsigned shard);
  // Domain::map_file; `shard` receives the marks.
  Expected<void> map_file(std::uint64_t first, std::uint64_t count, int fd, std::uint64_t offset,
                          unsigned shard);
  [[nodiscard]] std::uint64_t file_backed_pages() const;

  void mark(unsigned shard, std::uint64_t pfn);
  void mark_range(unsigned shard, std::uint64_t first, std::uint64_t count);
  void start_log();
  [[nodiscard]] DirtyBitmap collect();
  void stop_log();
  [[nodiscard]] unsigned vmm_shard() const { return static_cast<unsigned>(shards_.size() - 1); }

 private:
  struct Shard {
    std::mutex mu;
    bool on = false;
    DirtyBitmap bits;
  };
  SimMemory(std::byte* base, std::uint64_t pages, unsigned shards);
  Expected<void> check(std::string_view what, std::uint64_t first, std::uint64_t count) const;
  // Calls f(first, count) for the runs of [first, first+count) that are
  // (present == true) or are not (false) in the map. map_mu_ held.
  template <typename F>
  void for_runs(std::uint64_t first, std::uint64_t count, bool present, F&& f) const;
  void zero(std::uint64_t first, std::uint64_t count);
  // Anonymous memory back under the file-backed frames of the range. map_mu_ held.
  Expected<void> unmap_file(std::uint64_t first, std::uint64_t count);

  std::byte* base_;
  std::uint64_t pages_;
  mutable std::mutex map_mu_;
  MemoryMap map_;
  MemoryMap file_backed_;  // frames mapped from a file (a set; its generation is unused)
  std::atomic<std::uint64_t> generation_{0};
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace tern::vm::sim
