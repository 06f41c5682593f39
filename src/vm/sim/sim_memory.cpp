#include "vm/sim/sim_memory.hpp"

#include <sys/mman.h>

#include <cerrno>

namespace tern::vm::sim {

Expected<std::unique_ptr<SimMemory>> SimMemory::create(std::uint64_t space_bytes, unsigned shards) {
  if (space_bytes == 0 || space_bytes % kPageSize != 0)
    return make_error(Errc::usage,
                      "sim memory: address space {} is not a non-zero multiple of 4 KiB",
                      space_bytes);
  void* p = ::mmap(nullptr, space_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return errno_error(
        fmt::format("sim memory: mmap of a {} GiB guest address space", space_bytes >> 30), errno);
  return std::unique_ptr<SimMemory>(
      new SimMemory(static_cast<std::byte*>(p), space_bytes / kPageSize, shards + 1));
}

SimMemory::SimMemory(std::byte* base, std::uint64_t pages, unsigned shards)
    : base_(base), pages_(pages) {
  for (unsigned i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

SimMemory::~SimMemory() { ::munmap(base_, pages_ * kPageSize); }

MemoryMap SimMemory::map() const {
  std::lock_guard lk(map_mu_);
  return map_;
}

bool SimMemory::contains(std::uint64_t pfn) const {
  std::lock_guard lk(map_mu_);
  return map_.contains(pfn);
}

bool SimMemory::contains_range(std::uint64_t first, std::uint64_t count) const {
  std::lock_guard lk(map_mu_);
  bool all = true;
  for_runs(first, count, false, [&](std::uint64_t, std::uint64_t) { all = false; });
  return all;
}

Expected<void> SimMemory::check(std::string_view what, std::uint64_t first,
                                std::uint64_t count) const {
  if (first > pages_ || count > pages_ - first)
    return make_error(Errc::usage,
                      "sim memory: {} of pfn {:#x}+{:#x} is outside the {:#x}-page address space",
                      what, first, count, pages_);
  return {};
}

template <typename F>
void SimMemory::for_runs(std::uint64_t first, std::uint64_t count, bool present, F&& f) const {
  const std::uint64_t end = first + count;
  if (count <= 64) {  // small requests (balloon steps): no walk over the whole map
    std::uint64_t run = first, n = 0;
    for (std::uint64_t p = first; p < end; ++p) {
      if (map_.contains(p) == present) {
        if (n == 0) run = p;
        ++n;
      } else if (n != 0) {
        f(run, n);
        n = 0;
      }
    }
    if (n != 0) f(run, n);
    return;
  }
  std::uint64_t cursor = first;  // for absent runs: start of the next gap
  map_.for_each([&](const Extent& e) {
    const std::uint64_t lo = std::max(e.first_pfn, first), hi = std::min(e.end(), end);
    if (lo >= hi) return;
    if (present) {
      f(lo, hi - lo);
    } else {
      if (lo > cursor) f(cursor, lo - cursor);
      cursor = hi;
    }
  });
  if (!present && cursor < end) f(cursor, end - cursor);
}

void SimMemory::zero(std::uint64_t first, std::uint64_t count) {
  // MADV_DONTNEED on private anonymous memory: the next touch reads zero
  // (and the host gets the memory back).
  ::madvise(base_ + (first << kPageShift), count << kPageShift, MADV_DONTNEED);
}

Expected<void> SimMemory::populate(std::uint64_t first, std::uint64_t count, unsigned shard) {
  TERN_TRY(check("populate", first, count));
  std::lock_guard lk(map_mu_);
  for_runs(first, count, false, [&](std::uint64_t f, std::uint64_t n) {
    zero(f, n);
    mark_range(shard, f, n);
  });
  TERN_TRY(map_.add(first, count));
  generation_.store(map_.generation(), std::memory_order_release);
  return {};
}

Expected<void> SimMemory::depopulate(std::uint64_t first, std::uint64_t count, unsigned shard) {
  TERN_TRY(check("depopulate", first, count));
  std::lock_guard lk(map_mu_);
  TERN_TRY(unmap_file(first, count));
  for_runs(first, count, true, [&](std::uint64_t f, std::uint64_t n) {
    zero(f, n);
    mark_range(shard, f, n);
  });
  TERN_TRY(map_.remove(first, count));
  generation_.store(map_.generation(), std::memory_order_release);
  return {};
}

Expected<void> SimMemory::map_file(std::uint64_t first, std::uint64_t count, int fd,
                                   std::uint64_t offset, unsigned shard) {
  TERN_TRY(check("map_file", first, count));
  if (offset % kPageSize != 0)
    return make_error(Errc::usage, "sim memory: map_file offset {:#x} is not 4 KiB-aligned",
                      offset);
  std::lock_guard lk(map_mu_);
  bool all = true;
  for_runs(first, count, false, [&](std::uint64_t, std::uint64_t) { all = false; });
  if (!all)
    return make_error(Errc::usage, "sim memory: map_file of frames {:#x}+{:#x}: not all populated",
                      first, count);
  void* m = ::mmap(base_ + (first << kPageShift), count << kPageShift, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, static_cast<off_t>(offset));
  if (m == MAP_FAILED)
    return errno_error(fmt::format("sim memory: mapping file offset {:#x} over frames {:#x}+{:#x}",
                                   offset, first, count),
                       errno);
  TERN_TRY(file_backed_.add(first, count));
  mark_range(shard, first, count);
  return {};
}

Expected<void> SimMemory::unmap_file(std::uint64_t first, std::uint64_t count) {
  for (std::uint64_t p = first; p < first + count;) {
    const auto e = file_backed_.extent_from(p);
    if (!e || e->first_pfn >= first + count) break;
    const std::uint64_t lo = std::max(p, e->first_pfn);
    const std::uint64_t hi = std::min(first + count, e->end());
    void* m = ::mmap(base_ + (lo << kPageShift), (hi - lo) << kPageShift, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
      return errno_error(
          fmt::format("sim memory: anonymous memory back under frames {:#x}+{:#x}", lo, hi - lo),
          errno);
    TERN_TRY(file_backed_.remove(lo, hi - lo));
    p = hi;
  }
  return {};
}

std::uint64_t SimMemory::file_backed_pages() const {
  std::lock_guard lk(map_mu_);
  return file_backed_.populated_pages();
}

void SimMemory::mark(unsigned shard, std::uint64_t pfn) {
  Shard& s = *shards_[shard];
  std::lock_guard lk(s.mu);
  if (s.on) s.bits.set(pfn);
}

void SimMemory::mark_range(unsigned shard, std::uint64_t first, std::uint64_t count) {
  Shard& s = *shards_[shard];
  std::lock_guard lk(s.mu);
  if (s.on) s.bits.set_range(first, count);
}

void SimMemory::start_log() {
  for (auto& s : shards_) {
    std::lock_guard lk(s->mu);
    s->bits.reset();
    s->on = true;
  }
}

DirtyBitmap SimMemory::collect() {
  DirtyBitmap out;
  for (auto& s : shards_) {
    std::lock_guard lk(s->mu);
    out.merge(s->bits);
    s->bits.reset();
  }
  return out;
}

void SimMemory::stop_log() {
  for (auto& s : shards_) {
    std::lock_guard lk(s->mu);
    s->on = false;
    s->bits.reset();
  }
}

}  // namespace tern::vm::sim
