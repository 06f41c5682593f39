// The guest-physical memory map (Xen's p2m, seed 002): which guest frames are
// populated. Sparse (a sorted set of extents), so a multi-TiB, mostly empty
// address space costs a few bytes per extent, never per page. Every change
// bumps generation(): a migration sender compares generations to notice that
// the map changed under it, and never sends a frame based on a stale map.
//
// Not thread-safe by itself; a Domain guards its map with its own lock and
// hands out copies (MemoryMap is a value type).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "core/error.hpp"

namespace tern::vm {

inline constexpr std::uint64_t kPageShift = 12;
inline constexpr std::uint64_t kPageSize = std::uint64_t{1} << kPageShift;
// x86-64 guest-physical addresses are at most 52 bits.
inline constexpr std::uint64_t kMaxPfn = (std::uint64_t{1} << (52 - kPageShift)) - 1;

struct Extent {
  std::uint64_t first_pfn = 0;
  std::uint64_t count = 0;  // pages
  [[nodiscard]] std::uint64_t end() const { return first_pfn + count; }
  friend bool operator==(const Extent&, const Extent&) = default;
};

class MemoryMap {
 public:
  // Adds [first, first+count) (merging with neighbours). Pages already
  // present are not an error: the result is the union. Bumps the generation
  // when anything changed.
  Expected<void> add(std::uint64_t first_pfn, std::uint64_t count);
  // Removes [first, first+count); absent pages are ignored.
  Expected<void> remove(std::uint64_t first_pfn, std::uint64_t count);

  [[nodiscard]] bool contains(std::uint64_t pfn) const;
  [[nodiscard]] std::uint64_t populated_pages() const { return pages_; }
  [[nodiscard]] std::uint64_t generation() const { return generation_; }
  [[nodiscard]] std::size_t extent_count() const { return extents_.size(); }
  // One past the highest populated pfn (0 when empty).
  [[nodiscard]] std::uint64_t end_pfn() const;

  // The extent holding `pfn`, else the first one above it; nullopt if none.
  [[nodiscard]] std::optional<Extent> extent_from(std::uint64_t pfn) const;

  // Calls f for each extent in ascending order.
  void for_each(const std::function<void(const Extent&)>& f) const;

  // Same populated set (generations may differ).
  [[nodiscard]] bool same_pages(const MemoryMap& other) const { return extents_ == other.extents_; }

 private:
  std::map<std::uint64_t, std::uint64_t> extents_;  // first_pfn -> count, disjoint, non-adjacent
  std::uint64_t pages_ = 0;
  std::uint64_t generation_ = 0;
};

}  // namespace tern::vm
