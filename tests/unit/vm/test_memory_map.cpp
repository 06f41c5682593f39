#include <gtest/gtest.h>

#include <random>
#include <set>

#include "vm/dirty_bitmap.hpp"
#include "vm/memory_map.hpp"

using tern::vm::DirtyBitmap;
using tern::vm::MemoryMap;

TEST(MemoryMap, AddMergesAndCountsOnce) {
  MemoryMap m;
  ASSERT_TRUE(m.add(0, 10));
  ASSERT_TRUE(m.add(10, 5));  // adjacent: merges
  ASSERT_TRUE(m.add(3, 4));   // inside: no change
  EXPECT_EQ(m.populated_pages(), 15U);
  EXPECT_EQ(m.extent_count(), 1U);
  EXPECT_EQ(m.generation(), 2U);  // the no-op add did not bump it
}

TEST(MemoryMap, RemoveSplitsExtents) {
  MemoryMap m;
  ASSERT_TRUE(m.add(0, 100));
  ASSERT_TRUE(m.remove(40, 10));
  EXPECT_EQ(m.populated_pages(), 90U);
  EXPECT_EQ(m.extent_count(), 2U);
  EXPECT_FALSE(m.contains(45));
  EXPECT_TRUE(m.contains(39));
  EXPECT_TRUE(m.contains(50));
  const auto g = m.generation();
  ASSERT_TRUE(m.remove(40, 10));  // already absent
  EXPECT_EQ(m.generation(), g);
}

TEST(MemoryMap, MultiTebibyteSparseSpaceIsCheap) {
  MemoryMap m;
  // 16 TiB address space, a populated MiB every TiB.
  for (std::uint64_t tib = 0; tib < 16; ++tib) ASSERT_TRUE(m.add((tib << 28), 256));
  EXPECT_EQ(m.populated_pages(), 16U * 256U);
  EXPECT_EQ(m.end_pfn(), (15ULL << 28) + 256);
  EXPECT_FALSE(m.add(tern::vm::kMaxPfn, 2).has_value());
}

TEST(MemoryMap, RandomOpsMatchAReferenceSet) {
  std::mt19937_64 rng(7);
  MemoryMap m;
  std::set<std::uint64_t> ref;
  for (int i = 0; i < 2000; ++i) {
    const std::uint64_t first = rng() % 512, count = rng() % 40;
    if (rng() % 2) {
      ASSERT_TRUE(m.add(first, count));
      for (auto p = first; p < first + count; ++p) ref.insert(p);
    } else {
      ASSERT_TRUE(m.remove(first, count));
      for (auto p = first; p < first + count; ++p) ref.erase(p);
    }
    ASSERT_EQ(m.populated_pages(), ref.size());
  }
  for (std::uint64_t p = 0; p < 600; ++p) ASSERT_EQ(m.contains(p), ref.count(p) == 1) << p;
}

TEST(DirtyBitmap, SetsRunsAndWords) {
  DirtyBitmap b;
  b.set(5);
  b.set_range(62, 70);  // 62..131
  b.set(5);
  EXPECT_EQ(b.count(), 71U);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  b.for_each_run([&](std::uint64_t f, std::uint64_t n) { runs.emplace_back(f, n); });
  ASSERT_EQ(runs.size(), 2U);
  EXPECT_EQ(runs[1], std::make_pair(std::uint64_t{62}, std::uint64_t{70}));
  const std::uint64_t words[2] = {0x3, 0x1};
  b.set_words(DirtyBitmap::kLeafPages * 1000, words, 2);
  EXPECT_EQ(b.count(), 74U);
  EXPECT_TRUE(b.test(DirtyBitmap::kLeafPages * 1000 + 64));
  auto taken = b.take();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(taken.count(), 74U);
  EXPECT_EQ(taken.bytes_used(), 2 * 4096U);
}
