// Which frames a sender may send as zero (XALLOC) without reading them:
// those the backend reports as never written (Domain::next_data_run, e.g.
// pages of the KVM backend's RAM never faulted in). Reading such a frame would
// not only cost time: a read fault can allocate the page, so a save of a
// large, mostly untouched guest would grow the VMM by the untouched memory.
//
// Caches the backend's answer as a window, so a run of data frames costs one
// query, not one per frame. Frames are best asked for in ascending order
// (as both map extents and dirty bitmaps deliver them); any order is correct.
#pragma once

#include <cstdint>

#include "vm/domain.hpp"

namespace tern::migrate {

class ZeroHint {
 public:
  explicit ZeroHint(const vm::Domain& d) : d_(d) {}

  // True when `pfn` is known to read as zero without being read.
  bool known_zero(std::uint64_t pfn) {
    if (pfn < from_ || pfn >= run_.end) {
      from_ = pfn;
      run_ = d_.next_data_run(pfn);
      if (run_.end <= pfn) run_ = {pfn, pfn + 1};  // a backend answer that says nothing
    }
    return pfn < run_.first;
  }

 private:
  const vm::Domain& d_;
  std::uint64_t from_ = 1;  // window [from_, run_.end): empty until the first query
  vm::FrameRun run_{0, 0};
};

}  // namespace tern::migrate
