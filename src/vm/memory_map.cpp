#include "vm/memory_map.hpp"

namespace tern::vm {

namespace {
Expected<void> check_range(std::string_view what, std::uint64_t first, std::uint64_t count) {
  if (count == 0) return {};
  if (first > kMaxPfn || count > kMaxPfn + 1 - first)
    return make_error(Errc::usage,
                      "memory map {}: pfn range {:#x}+{:#x} exceeds the 52-bit address space", what,
                      first, count);
  return {};
}
}  // namespace

Expected<void> MemoryMap::add(std::uint64_t first, std::uint64_t count) {
  TERN_TRY(check_range("add", first, count));
  if (count == 0) return {};
  std::uint64_t lo = first, hi = first + count;
  std::uint64_t removed = 0;
  // Merge with every extent that overlaps or touches [lo, hi).
  auto it = extents_.upper_bound(lo);
  if (it != extents_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second >= lo) it = prev;
  }
  while (it != extents_.end() && it->first <= hi) {
    lo = std::min(lo, it->first);
    hi = std::max(hi, it->first + it->second);
    removed += it->second;
    it = extents_.erase(it);
  }
  extents_.emplace(lo, hi - lo);
  std::uint64_t added = (hi - lo) - removed;
  pages_ += added;
  if (added != 0) ++generation_;
  return {};
}

Expected<void> MemoryMap::remove(std::uint64_t first, std::uint64_t count) {
  TERN_TRY(check_range("remove", first, count));
  if (count == 0) return {};
  const std::uint64_t lo = first, hi = first + count;
  std::uint64_t removed = 0;
  auto it = extents_.upper_bound(lo);
  if (it != extents_.begin()) --it;
  while (it != extents_.end() && it->first < hi) {
    const std::uint64_t s = it->first, e = it->first + it->second;
    if (e <= lo) {
      ++it;
      continue;
    }
    it = extents_.erase(it);
    if (s < lo) extents_.emplace(s, lo - s);
    if (e > hi) it = extents_.emplace(hi, e - hi).first;
    removed += std::min(e, hi) - std::max(s, lo);
  }
  pages_ -= removed;
  if (removed != 0) ++generation_;
  return {};
}

bool MemoryMap::contains(std::uint64_t pfn) const {
  auto it = extents_.upper_bound(pfn);
  if (it == extents_.begin()) return false;
  --it;
  return pfn < it->first + it->second;
}

std::optional<Extent> MemoryMap::extent_from(std::uint64_t pfn) const {
  auto it = extents_.upper_bound(pfn);
  if (it != extents_.begin()) {
    auto prev = std::prev(it);
    if (pfn < prev->first + prev->second) return Extent{prev->first, prev->second};
  }
  if (it == extents_.end()) return std::nullopt;
  return Extent{it->first, it->second};
}

std::uint64_t MemoryMap::end_pfn() const {
  if (extents_.empty()) return 0;
  const auto& last = *extents_.rbegin();
  return last.first + last.second;
}

void MemoryMap::for_each(const std::function<void(const Extent&)>& f) const {
  for (const auto& [first, count] : extents_) f(Extent{first, count});
}

}  // namespace tern::vm
