// KVM backend dirty tracking: every frame whose contents changed while
// logging is reported (nothing lost, checked against a snapshot), the log
// is drained by each collect, and frames the VMM marks are reported too.
#include <cstring>
#include <vector>

#include "kvm_test_support.hpp"

namespace tern::vm::kvm::testing {
namespace {

class KvmDirty : public KvmTest {};

std::vector<std::byte> snapshot(Domain& d) {
  const MemoryMap map = d.memory_map();
  std::vector<std::byte> out(map.end_pfn() * kPageSize);
  map.for_each([&](const Extent& e) {
    for (std::uint64_t pfn = e.first_pfn; pfn < e.end(); ++pfn)
      std::memcpy(out.data() + pfn * kPageSize, d.page(pfn), kPageSize);
  });
  return out;
}

TEST_F(KvmDirty, EveryChangedFrameIsReportedAndTheLogDrains) {
  // 1 MiB written per pass with a pause between passes: a moving window.
  auto d = make("passes=0 mib=8 ws=1 pause=2000", 1, "console.log");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->start());
  ASSERT_TRUE(wait_console("console.log", "pass 2:"));

  ASSERT_TRUE(d->pause());
  ASSERT_TRUE(d->start_dirty_log());
  const std::vector<std::byte> before = snapshot(*d);
  ASSERT_TRUE(d->resume());
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  DirtyBitmap dirty;
  auto round = d->collect_dirty();  // a round while running, as a pre-copy sender does
  ASSERT_TRUE(round.has_value()) << round.error().message();
  dirty.merge(*round);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  ASSERT_TRUE(d->pause());
  auto last = d->collect_dirty();  // the final sync, with every vCPU stopped
  ASSERT_TRUE(last.has_value());
  dirty.merge(*last);
  const std::vector<std::byte> after = snapshot(*d);

  std::uint64_t changed = 0, missed = 0, in_region = 0;
  for (std::uint64_t pfn = 0; pfn * kPageSize < after.size(); ++pfn) {
    if (std::memcmp(before.data() + pfn * kPageSize, after.data() + pfn * kPageSize, kPageSize) !=
        0) {
      ++changed;
      if (!dirty.test(pfn)) ++missed;
    }
    if (dirty.test(pfn) && pfn >= 0x200 && pfn < 0xa00) ++in_region;
  }
  EXPECT_EQ(missed, 0U) << changed << " frames changed";
  EXPECT_GE(changed, 256U) << "the guest should have rewritten at least a MiB";
  EXPECT_GE(in_region, 256U);

  // Paused: nothing new, and what was collected is not reported again.
  auto empty = d->collect_dirty();
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->count(), 0U);

  // Writes through page() count once the VMM says so.
  std::memset(d->page(0x50), 0xab, 16);
  d->mark_dirty(0x50, 3);
  auto vmm = d->collect_dirty();
  ASSERT_TRUE(vmm.has_value());
  EXPECT_EQ(vmm->count(), 3U);
  EXPECT_TRUE(vmm->test(0x50) && vmm->test(0x52));

  ASSERT_TRUE(d->stop_dirty_log());
  EXPECT_FALSE(d->collect_dirty().has_value());
  d->shutdown();
}

TEST_F(KvmDirty, PopulateAndDepopulateAreReportedAndBumpTheGeneration) {
  auto d = make("", 1, "console.log", 16, /*boot=*/false);
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->populate(0, 4096));
  const std::uint64_t g0 = d->map_generation();
  ASSERT_TRUE(d->start_dirty_log());
  std::memset(d->page(100), 0x5a, kPageSize);
  ASSERT_TRUE(d->depopulate(100, 2));
  EXPECT_GT(d->map_generation(), g0);
  EXPECT_FALSE(d->memory_map().contains(100));
  // A punched frame reads zero through the same, still valid, pointer.
  EXPECT_EQ(std::to_integer<int>(d->page(100)[0]), 0);
  auto dirty = d->collect_dirty();
  ASSERT_TRUE(dirty.has_value());
  EXPECT_TRUE(dirty->test(100) && dirty->test(101));
  ASSERT_TRUE(d->populate(100, 1));
  EXPECT_TRUE(d->memory_map().contains(100));
  EXPECT_FALSE(d->memory_map().contains(101));
  // Outside guest RAM: refused with the range named.
  auto bad = d->populate(4096, 1);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("0x1000+0x1"), std::string::npos) << bad.error().message();
  EXPECT_EQ(d->page(4096), nullptr);
}

}  // namespace
}  // namespace tern::vm::kvm::testing
