#include "vm/dirty_bitmap.hpp"

#include <bit>

namespace tern::vm {

DirtyBitmap::Leaf& DirtyBitmap::leaf_for(std::uint64_t pfn) {
  auto& slot = leaves_[pfn / kLeafPages];
  if (!slot) slot = std::make_unique<Leaf>(Leaf{});
  return *slot;
}

void DirtyBitmap::set(std::uint64_t pfn) {
  auto& w = leaf_for(pfn)[(pfn % kLeafPages) / 64];
  const std::uint64_t bit = std::uint64_t{1} << (pfn % 64);
  if ((w & bit) == 0) {
    w |= bit;
    ++count_;
  }
}

void DirtyBitmap::set_range(std::uint64_t first, std::uint64_t count) {
  std::uint64_t pfn = first;
  const std::uint64_t end = first + count;
  while (pfn < end) {
    if (pfn % 64 == 0 && end - pfn >= 64) {
      auto& w = leaf_for(pfn)[(pfn % kLeafPages) / 64];
      count_ += 64 - static_cast<std::uint64_t>(std::popcount(w));
      w = ~std::uint64_t{0};
      pfn += 64;
    } else {
      set(pfn++);
    }
  }
}

void DirtyBitmap::clear(std::uint64_t pfn) {
  auto it = leaves_.find(pfn / kLeafPages);
  if (it == leaves_.end()) return;
  auto& w = (*it->second)[(pfn % kLeafPages) / 64];
  const std::uint64_t bit = std::uint64_t{1} << (pfn % 64);
  if ((w & bit) != 0) {
    w &= ~bit;
    --count_;
  }
}

void DirtyBitmap::set_words(std::uint64_t first, const std::uint64_t* words, std::size_t nwords) {
  for (std::size_t i = 0; i < nwords; ++i) {
    std::uint64_t w = words[i];
    if (w == 0) continue;
    const std::uint64_t base = first + 64 * i;
    if (base % 64 == 0) {
      auto& dst = leaf_for(base)[(base % kLeafPages) / 64];
      count_ += static_cast<std::uint64_t>(std::popcount(w & ~dst));
      dst |= w;
      continue;
    }
    while (w != 0) {
      set(base + static_cast<std::uint64_t>(std::countr_zero(w)));
      w &= w - 1;
    }
  }
}

bool DirtyBitmap::test(std::uint64_t pfn) const {
  auto it = leaves_.find(pfn / kLeafPages);
  if (it == leaves_.end()) return false;
  return ((*it->second)[(pfn % kLeafPages) / 64] >> (pfn % 64)) & 1U;
}

void DirtyBitmap::reset() {
  leaves_.clear();
  count_ = 0;
}

void DirtyBitmap::merge(const DirtyBitmap& other) {
  for (const auto& [idx, leaf] : other.leaves_)
    set_words(idx * kLeafPages, leaf->data(), leaf->size());
}

DirtyBitmap DirtyBitmap::take() {
  DirtyBitmap out;
  out.leaves_.swap(leaves_);
  out.count_ = count_;
  count_ = 0;
  return out;
}

void DirtyBitmap::for_each(const std::function<void(std::uint64_t)>& f) const {
  for (const auto& [idx, leaf] : leaves_) {
    for (std::size_t i = 0; i < leaf->size(); ++i) {
      std::uint64_t w = (*leaf)[i];
      while (w != 0) {
        f(idx * kLeafPages + 64 * i + static_cast<std::uint64_t>(std::countr_zero(w)));
        w &= w - 1;
      }
    }
  }
}

void DirtyBitmap::for_each_run(const std::function<void(std::uint64_t, std::uint64_t)>& f) const {
  std::uint64_t run_first = 0, run_len = 0;
  for_each([&](std::uint64_t pfn) {
    if (run_len != 0 && pfn == run_first + run_len) {
      ++run_len;
      return;
    }
    if (run_len != 0) f(run_first, run_len);
    run_first = pfn;
    run_len = 1;
  });
  if (run_len != 0) f(run_first, run_len);
}

}  // namespace tern::vm
