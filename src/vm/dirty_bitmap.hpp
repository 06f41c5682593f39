// A sparse set of guest frames (dirty pages, pages to send): a two-level
// bitmap whose leaves (one bit per page, 2^15 pages = 128 MiB of guest per
// 4 KiB leaf) exist only where a bit was ever set. A multi-TiB address space
// with a few dirty pages costs a few leaves, not a bit per possible page.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

namespace tern::vm {

class DirtyBitmap {
 public:
  static constexpr std::uint64_t kLeafPages = std::uint64_t{1} << 15;

  void set(std::uint64_t pfn);
  void set_range(std::uint64_t first_pfn, std::uint64_t count);
  void clear(std::uint64_t pfn);
  // Sets every bit of a KVM-style dirty log word array covering pages
  // [first_pfn, first_pfn + 64 * words.size()).
  void set_words(std::uint64_t first_pfn, const std::uint64_t* words, std::size_t nwords);
  [[nodiscard]] bool test(std::uint64_t pfn) const;
  [[nodiscard]] std::uint64_t count() const { return count_; }
  [[nodiscard]] bool empty() const { return count_ == 0; }
  void reset();
  // Union with another bitmap.
  void merge(const DirtyBitmap& other);
  // Moves the contents out, leaving this bitmap empty.
  [[nodiscard]] DirtyBitmap take();

  // Calls f(pfn) for each set bit, ascending.
  void for_each(const std::function<void(std::uint64_t)>& f) const;
  // Calls f(first, count) for each run of consecutive set bits, ascending.
  void for_each_run(const std::function<void(std::uint64_t, std::uint64_t)>& f) const;

  // Bytes of bitmap storage in use (for memory reports).
  [[nodiscard]] std::size_t bytes_used() const { return leaves_.size() * sizeof(Leaf); }

 private:
  using Leaf = std::array<std::uint64_t, kLeafPages / 64>;
  Leaf& leaf_for(std::uint64_t pfn);
  std::map<std::uint64_t, std::unique_ptr<Leaf>> leaves_;  // leaf index -> bits
  std::uint64_t count_ = 0;
};

}  // namespace tern::vm
