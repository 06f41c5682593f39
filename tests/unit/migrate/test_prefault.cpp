// Prefaulter's lead mode: it touches the data frames announced, then a
// window past the last of them, never what the stream has settled below
// its look-ahead, and release() gives back what it touched. Residency is
// read with mincore() on the sim domain's anonymous memory.
#include <sys/mman.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "migrate/prefault.hpp"
#include "migrate_test_util.hpp"

namespace tern::migrate {
namespace {

using namespace std::chrono_literals;
using namespace testing;

// Frames of [first, end) resident in host memory.
std::uint64_t resident(vm::Domain& d, std::uint64_t first, std::uint64_t end) {
  std::uint64_t n = 0;
  for (std::uint64_t pfn = first; pfn < end; ++pfn) {
    unsigned char v = 0;
    EXPECT_EQ(::mincore(d.page(pfn), vm::kPageSize, &v), 0);
    n += v & 1;
  }
  return n;
}

// Waits (bounded) until the thread's position reaches `pfn`.
bool reaches(const Prefaulter& p, std::uint64_t pfn) {
  for (int i = 0; i < 2000 && p.position() < pfn; ++i) std::this_thread::sleep_for(1ms);
  return p.position() >= pfn;
}

constexpr std::uint64_t kWindow = 4 * Prefaulter::kStepPages;
// Frames well above the sim workload's header page (0x100), which nothing
// here writes: they start out never touched.
constexpr std::uint64_t kBase = 0x1000;

TEST(Prefaulter, LeadTouchesAnnouncedDataAndOneWindowPastIt) {
  const auto cfg = sim_config("", 1, 64ULL << 20);
  auto d = make_sim(cfg);
  ASSERT_NE(d, nullptr);
  const std::uint64_t end = cfg.memory_bytes / vm::kPageSize;
  // Residency is counted in 4 KiB pages: no huge pages (a host whose THP
  // setting is "always" would fault 2 MiB at a time).
  ASSERT_EQ(::madvise(d->page(0), cfg.memory_bytes, MADV_NOHUGEPAGE), 0);
  ASSERT_EQ(resident(*d, 0, end), 0U);

  Prefaulter p(*d, end, kWindow);
  // Round 0 starts at frame 0: the first window is looked ahead at once.
  ASSERT_TRUE(reaches(p, kWindow));

  // A record: data at [kBase, kBase + 100) and [kBase + 200, kBase + 300);
  // the stream has settled everything below kBase + 300.
  const std::vector<Prefaulter::Run> data{{kBase, kBase + 100}, {kBase + 200, kBase + 300}};
  p.lead(data, kBase + 300);
  ASSERT_TRUE(reaches(p, kBase + 300 + kWindow));
  EXPECT_EQ(resident(*d, kBase, kBase + 100), 100U);
  EXPECT_EQ(resident(*d, kBase + 200, kBase + 300 + kWindow), 100 + kWindow);
  // The skipped frames between the first window and the data, and the hole
  // inside the record, were never touched.
  EXPECT_EQ(resident(*d, kWindow, kBase), 0U);
  EXPECT_EQ(resident(*d, kBase + 100, kBase + 200), 0U);

  // A record of zero frames only: it settles its frames, so the look-ahead
  // (which ended below them) goes no further.
  p.lead({}, kBase + 300 + 4 * kWindow);
  // Another record with data far above: the frames between are passed over.
  const std::uint64_t far = kBase + 0x2000;
  const std::vector<Prefaulter::Run> more{{far, far + 64}};
  p.lead(more, far + 64);
  ASSERT_TRUE(reaches(p, far + 64 + kWindow));
  EXPECT_EQ(resident(*d, kBase + 300 + kWindow, far), 0U);
  EXPECT_EQ(resident(*d, far, far + 64 + kWindow), 64 + kWindow);
  // Nothing past the window.
  EXPECT_EQ(resident(*d, far + 64 + kWindow, end), 0U);

  // The frames between the first record's data and the far one turned out
  // zero: only the first window past that data can have been touched, so
  // only it is given back (the rest of the range is not even walked).
  p.release(kBase + 300, far);
  EXPECT_EQ(resident(*d, kBase + 300, far), 0U);
  EXPECT_EQ(p.released_bytes(), kWindow * vm::kPageSize);
  // Likewise the look-ahead past the last data (the stream's tail, up to
  // the end of RAM).
  p.release(far + 64, end);
  EXPECT_EQ(resident(*d, far + 64, far + 64 + kWindow), 0U);
  EXPECT_EQ(p.released_bytes(), 2 * kWindow * vm::kPageSize);
  EXPECT_EQ(resident(*d, far, far + 64), 64U);  // the data frames stay
  // Frames at or above the position are not the receiver's to give back.
  p.release(far + 64 + kWindow, end);
  EXPECT_EQ(p.released_bytes(), 2 * kWindow * vm::kPageSize);

  // A record of scattered data (more runs than kDenseRuns): its runs are
  // touched, nothing past them (the look-ahead would touch the zero frames
  // between such runs, each a madvise() to give back).
  const std::uint64_t sparse = far + 0x800;  // (RAM ends at 0x4000)
  std::vector<Prefaulter::Run> scattered;
  for (std::uint64_t i = 0; i <= Prefaulter::kDenseRuns; ++i)
    scattered.push_back({sparse + 2 * i, sparse + 2 * i + 1});
  p.lead(scattered, scattered.back().end);
  ASSERT_TRUE(reaches(p, scattered.back().end));
  EXPECT_EQ(resident(*d, sparse, sparse + 2 * (Prefaulter::kDenseRuns + 1)),
            Prefaulter::kDenseRuns + 1);
  EXPECT_EQ(resident(*d, scattered.back().end, end), 0U);
  p.stop();
  EXPECT_EQ(p.bytes(),
            (kWindow + 200 + kWindow + 64 + kWindow + Prefaulter::kDenseRuns + 1) * vm::kPageSize);
}

TEST(Prefaulter, WholeModeTouchesEveryFrameInOrder) {
  const auto cfg = sim_config("", 1, 8ULL << 20);
  auto d = make_sim(cfg);
  ASSERT_NE(d, nullptr);
  const std::uint64_t end = cfg.memory_bytes / vm::kPageSize;
  Prefaulter p(*d, end);
  ASSERT_TRUE(reaches(p, end));
  p.stop();
  EXPECT_EQ(resident(*d, 0, end), end);
  EXPECT_EQ(p.bytes(), cfg.memory_bytes);
  EXPECT_FALSE(p.leads());
}

}  // namespace
}  // namespace tern::migrate
