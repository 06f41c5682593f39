// set_throttle() slows a guest that never leaves guest mode on its own (the
// workload computes in ring 3 between console lines), and a throttled guest
// still pauses promptly and finishes clean.
#include <algorithm>

#include "kvm_test_support.hpp"

namespace tern::vm::kvm::testing {
namespace {

class KvmThrottle : public KvmTest {};

std::size_t count_passes(const std::string& log) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = log.find("\npass ", at)) != std::string::npos; ++at) ++n;
  return n;
}

TEST_F(KvmThrottle, ThrottledGuestMakesLessProgressAndStillPauses) {
  auto d = make("passes=0 mib=4", 1, "console.log");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->start());
  ASSERT_TRUE(wait_console("console.log", "pass 1:"));
  const auto window = std::chrono::milliseconds(400);

  std::size_t before = count_passes(read_file(console_path("console.log")));
  std::this_thread::sleep_for(window);
  const std::size_t free_run = count_passes(read_file(console_path("console.log"))) - before;

  d->set_throttle(0.8);
  before = count_passes(read_file(console_path("console.log")));
  std::this_thread::sleep_for(window);
  const std::size_t throttled = count_passes(read_file(console_path("console.log"))) - before;

  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(d->pause());
  const auto pause_time = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(pause_time, std::chrono::milliseconds(100))
      << "a throttled vCPU must not delay a pause";
  ASSERT_TRUE(d->resume());

  d->set_throttle(0);  // full speed again at once, even for a vCPU in the middle of a sleep
  before = count_passes(read_file(console_path("console.log")));
  std::this_thread::sleep_for(window);
  const std::size_t free_again = count_passes(read_file(console_path("console.log"))) - before;
  d->shutdown();

  RecordProperty("free_run", static_cast<int>(free_run));
  RecordProperty("throttled", static_cast<int>(throttled));
  RecordProperty("free_again", static_cast<int>(free_again));
  ASSERT_GT(free_run, 4U) << "the guest should complete several 4 MiB passes in " << window.count()
                          << " ms";
  // 0.8 leaves the guest a fifth of the time; allow for a noisy host.
  EXPECT_GT(throttled, 0U) << "throttled means slower, not stopped";
  EXPECT_LT(throttled * 2, free_run) << "free: " << free_run << " passes, throttled: " << throttled;
  EXPECT_GT(free_again * 2, free_run)
      << "free: " << free_run << " passes, after the throttle: " << free_again;
}

}  // namespace
}  // namespace tern::vm::kvm::testing
