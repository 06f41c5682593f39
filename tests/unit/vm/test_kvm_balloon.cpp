// The balloon (guest option balloon=N[,PERIOD]): the guest gives pages to
// the KVM backend and takes them back through the hypercall ports; each
// change bumps the memory map's generation, absent pages leave the map,
// and the guest's own checks (pages come back zeroed, tagged pages keep
// their contents) stay clean, also across a save and restore.
#include <cstring>

#include "kvm_test_support.hpp"
#include "vm/kvm/balloon.hpp"

extern "C" {
#include "../../../guest/abi.h"
}

namespace tern::vm::kvm::testing {
namespace {

// The VMM's constants are the guest's (guest/abi.h).
static_assert(kPortSignature == PORT_HYPERCALL_SIGNATURE);
static_assert(kPortRequest == PORT_BALLOON_REQUEST);
static_assert(kHypercallSignature == HYPERCALL_SIGNATURE);
static_assert(kBalloonRemove == BALLOON_REMOVE && kBalloonReturn == BALLOON_RETURN);
static_assert(kStatusOk == BALLOON_STATUS_OK && kStatusBadRange == BALLOON_STATUS_BAD_RANGE);
static_assert(kBalloonRequestSize == sizeof(balloon_request));

class KvmBalloon : public KvmTest {};

// The balloon area's default place: right after the 8 MiB region at 2 MiB.
constexpr std::uint64_t kBalloonFirstPfn = (0x200000 + (8 << 20)) >> kPageShift;
constexpr std::uint64_t kBalloonPages = 64;

std::uint64_t absent_in_area(const MemoryMap& m) {
  std::uint64_t n = 0;
  for (std::uint64_t k = 0; k < kBalloonPages; ++k) n += !m.contains(kBalloonFirstPfn + k);
  return n;
}

TEST_F(KvmBalloon, GuestInflatesAndDeflatesAndStaysClean) {
  auto d = make("passes=3 mib=8 balloon=64,16", 1, "console.log");
  ASSERT_NE(d, nullptr);
  const std::uint64_t g0 = d->map_generation();
  const std::uint64_t pages0 = d->memory_map().populated_pages();
  ASSERT_TRUE(d->start());
  auto r = d->wait_exit(kGuestTimeout);
  ASSERT_TRUE(r.has_value() && r->has_value());
  const std::string log = read_file(console_path("console.log"));
  EXPECT_EQ((*r)->value, 0U) << log;
  EXPECT_NE(log.find("tern-guest: balloon: 64 pages at 0xa00000, a step every 16 pages written"),
            std::string::npos)
      << log;
  // 3 passes x 2048 pages / 16 = 384 steps, each one request.
  EXPECT_EQ(d->balloon().requests(), 384U);
  EXPECT_EQ(d->balloon().removed_pages() + d->balloon().returned_pages(), 384U);
  EXPECT_GT(d->balloon().returned_pages(), 0U);
  EXPECT_EQ(d->map_generation() - g0, 384U);  // every step changed the map
  const MemoryMap m = d->memory_map();
  const std::uint64_t absent = absent_in_area(m);
  EXPECT_EQ(pages0 - m.populated_pages(), absent);
  EXPECT_NE(
      log.find(fmt::format("balloon: 384 steps, {} pages removed, {} returned, {} absent now",
                           d->balloon().removed_pages(), d->balloon().returned_pages(), absent)),
      std::string::npos)
      << log;
}

TEST_F(KvmBalloon, RemovedPagesAreReportedDirtyAndBumpTheGeneration) {
  auto d = make("passes=0 mib=8 balloon=64,8 pause=1000", 1, "console.log");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->start());
  ASSERT_TRUE(wait_console("console.log", "pass 1:"));
  ASSERT_TRUE(d->start_dirty_log());
  const std::uint64_t g0 = d->map_generation();
  ASSERT_TRUE(wait_console("console.log", "pass 3:"));
  ASSERT_TRUE(d->pause());
  auto dirty = d->collect_dirty();
  ASSERT_TRUE(dirty.has_value());
  EXPECT_GT(d->map_generation(), g0);
  // Every balloon page now absent was reported (the sender must see it go).
  const MemoryMap m = d->memory_map();
  std::uint64_t absent = 0;
  for (std::uint64_t k = 0; k < kBalloonPages; ++k)
    if (!m.contains(kBalloonFirstPfn + k)) {
      ++absent;
      EXPECT_TRUE(dirty->test(kBalloonFirstPfn + k))
          << "absent balloon frame " << k << " not reported";
    }
  EXPECT_GT(absent, 0U);
  d->shutdown();
}

TEST_F(KvmBalloon, SaveAndRestoreCarryTheMapAndTheGuestStaysClean) {
  const std::string cmd = "passes=8 mib=8 balloon=64,8";
  auto src = make(cmd, 1, "src.log");
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->start());
  ASSERT_TRUE(wait_console("src.log", "pass 3:"));
  ASSERT_TRUE(src->pause());
  auto img = src->save_state();
  ASSERT_TRUE(img.has_value());
  const MemoryMap map = src->memory_map();
  ASSERT_GT(absent_in_area(map), 0U);

  auto dst = make(cmd, 1, "dst.log", 64, false);
  ASSERT_NE(dst, nullptr);
  map.for_each([&](const Extent& e) {
    ASSERT_TRUE(dst->populate(e.first_pfn, e.count));
    for (std::uint64_t pfn = e.first_pfn; pfn < e.end(); ++pfn)
      std::memcpy(dst->page(pfn), src->page(pfn), kPageSize);
  });
  src->shutdown();
  EXPECT_TRUE(dst->memory_map().same_pages(map));
  ASSERT_TRUE(dst->load_state(*img));
  ASSERT_TRUE(dst->resume());
  auto r = dst->wait_exit(kGuestTimeout);
  ASSERT_TRUE(r.has_value() && r->has_value());
  const std::string log = read_file(console_path("dst.log"));
  EXPECT_EQ((*r)->value, 0U) << log;
  EXPECT_NE(log.find("tern-guest: done, passes=8 errors=0"), std::string::npos) << log;
  EXPECT_GT(dst->balloon().requests(), 0U);
}

}  // namespace
}  // namespace tern::vm::kvm::testing
