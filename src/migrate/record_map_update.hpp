#pragma once
// The first half of applying one PAGE_DATA record to a destination: the
// frames it allocates join the memory map (in runs), its XTAB frames leave
// it. Shared by the streaming receiver (which populates the domain as it
// goes) and a restore's page plan (which records the same changes as
// operations), so that both leave exactly the same map.

#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "stream/libxc/records.hpp"
#include "vm/memory_map.hpp"

namespace tern::migrate {

// Updates `map` for record `pd`, calling populate(first, count) before a run
// of frames joins it and depopulate(pfn) before an XTAB frame leaves it.
// was_present[i] tells whether entry i's frame was in the map before the
// record (a re-sent frame). Returns whether the record had XTAB entries
// (then a frame may have left again after it joined).
template <typename Populate, typename Depopulate>
Expected<bool> update_map_for_record(const stream::libxc::PageData& pd, vm::MemoryMap& map,
                                     std::vector<bool>& was_present, Populate&& populate,
                                     Depopulate&& depopulate) {
  constexpr unsigned kXtab = static_cast<unsigned>(stream::libxc::PageType::xtab);
  was_present.assign(pd.count, false);
  std::uint64_t run = 0, run_len = 0;  // frames to populate, pending
  auto flush = [&]() -> Expected<void> {
    if (run_len == 0) return {};
    TERN_TRY(populate(run, run_len));
    TERN_TRY(map.add(run, run_len));
    run_len = 0;
    return {};
  };
  // Frames [absent_lo, absent_hi) are known absent from the map (saves a
  // tree lookup per frame; forgotten whenever the map changes).
  std::uint64_t absent_lo = 1, absent_hi = 0;
  auto present = [&](std::uint64_t pfn) {
    if (pfn >= absent_lo && pfn < absent_hi) return false;
    const auto e = map.extent_from(pfn);
    if (e && e->first_pfn <= pfn) return true;
    absent_lo = pfn;
    absent_hi = e ? e->first_pfn : ~std::uint64_t{0};
    return false;
  };
  bool has_xtab = false;
  for (std::uint32_t i = 0; i < pd.count; ++i) {
    const std::uint64_t pfn = pd.pfn(i);
    if (pd.type(i) == kXtab) {
      has_xtab = true;
      TERN_TRY(flush());
      absent_hi = 0;
      if (map.contains(pfn)) {
        TERN_TRY(depopulate(pfn));
        TERN_TRY(map.remove(pfn, 1));
      }
      continue;
    }
    const bool was = present(pfn);
    if (was || (run_len != 0 && pfn >= run && pfn < run + run_len)) {
      was_present[i] = was;
      continue;
    }
    if (run_len != 0 && pfn != run + run_len) {
      TERN_TRY(flush());
      absent_hi = 0;
    }
    if (run_len == 0) run = pfn;
    ++run_len;
  }
  TERN_TRY(flush());
  return has_xtab;
}

}  // namespace tern::migrate
