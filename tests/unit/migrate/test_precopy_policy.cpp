// PreCopyPolicy: the stop-and-copy decision, on synthetic observations
// (deterministic: no guest, no clock).
#include <gtest/gtest.h>

#include "migrate/precopy_policy.hpp"

namespace tern::migrate {
namespace {

using namespace std::chrono_literals;

constexpr double kGBps = 1e9;
// Pages that go out in `ms` milliseconds at 1 GB/s.
constexpr std::uint64_t pages_in_ms(double ms) {
  return static_cast<std::uint64_t>(ms * 1e-3 * kGBps / PreCopyPolicy::kWirePageBytes);
}

RoundObservation after_round(unsigned n, std::uint64_t sent, std::uint64_t pending,
                             double rate_pps = 0) {
  RoundObservation r;
  r.rounds_after_first = n;
  r.sent_all = n == 0;
  r.sent_pages = sent;
  r.pending_pages = pending;
  r.bandwidth_bps = kGBps;
  r.dirty_rate_pps = rate_pps;
  return r;
}

TEST(PreCopyPolicy, ExpectedDowntimeIsPagesOverBandwidth) {
  EXPECT_EQ(PreCopyPolicy::expected_downtime(0, kGBps), 0ns);
  // 1e6 / 4104 pages ~ 1 MB: about 1 ms at 1 GB/s.
  const auto t = PreCopyPolicy::expected_downtime(pages_in_ms(10), kGBps);
  EXPECT_GT(t, 9900us);
  EXPECT_LE(t, 10ms);
}

TEST(PreCopyPolicy, TinySetStopsAtOnce) {
  PreCopyPolicy p({50ms, 30, 0ns, false});
  const Decision d = p.decide(after_round(0, 262144, 40));
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.reason, "downtime");
  // Also a set worth under max_downtime / kTinyDivisor (0.5 ms here).
  PreCopyPolicy q({50ms, 30, 0ns, false});
  EXPECT_TRUE(q.decide(after_round(0, 262144, pages_in_ms(0.4))).stop);
  // A set worth 2 ms is not tiny: one more round may cut the pause.
  PreCopyPolicy r({50ms, 30, 0ns, false});
  EXPECT_FALSE(r.decide(after_round(0, 262144, pages_in_ms(2))).stop);
}

TEST(PreCopyPolicy, FittingSetThatStillShrinksGetsAnotherRound) {
  // A 64 MiB working set: round 0 leaves 40 ms worth (fits 50 ms), round 1
  // cuts it to 15 ms worth (< 0.8 of 40): keep going; round 2 leaves 13 ms
  // worth (more than 0.8 of 15): one unhelpful round, keep going; round 3
  // leaves 12 ms worth of 13: the second in a row, stop.
  PreCopyPolicy p({50ms, 30, 0ns, false});
  const std::uint64_t r0 = pages_in_ms(40), r1 = pages_in_ms(15), r2 = pages_in_ms(13),
                      r3 = pages_in_ms(12);
  Decision d = p.decide(after_round(0, 262144, r0));
  EXPECT_FALSE(d.stop) << "the set after round 0 fits, but one more round may shrink it";
  d = p.decide(after_round(1, r0, r1));
  EXPECT_FALSE(d.stop) << "round 1 shrank the set to " << r1 << " of " << r0;
  d = p.decide(after_round(2, r1, r2));
  EXPECT_FALSE(d.stop) << "one round that did not shrink the set is not enough to stop";
  d = p.decide(after_round(3, r2, r3));
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.reason, "downtime");
  EXPECT_LE(d.expected_downtime, 50ms);
}

TEST(PreCopyPolicy, OneUnhelpfulRoundBetweenHelpfulOnesDoesNotStop) {
  // Round 2 falls behind (a burst, or a slow stretch at the destination),
  // round 3 shrinks again: the count of unhelpful rounds starts over.
  PreCopyPolicy p({50ms, 30, 0ns, false});
  const std::uint64_t r0 = pages_in_ms(40), r1 = pages_in_ms(15), r2 = pages_in_ms(14),
                      r3 = pages_in_ms(5), r4 = pages_in_ms(4.5), r5 = pages_in_ms(4.4);
  EXPECT_FALSE(p.decide(after_round(0, 262144, r0)).stop);
  EXPECT_FALSE(p.decide(after_round(1, r0, r1)).stop);
  EXPECT_FALSE(p.decide(after_round(2, r1, r2)).stop);
  EXPECT_FALSE(p.decide(after_round(3, r2, r3)).stop);
  EXPECT_FALSE(p.decide(after_round(4, r3, r4)).stop);
  const Decision d = p.decide(after_round(5, r4, r5));
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.reason, "downtime");
}

TEST(PreCopyPolicy, SetThatDoesNotFitKeepsIteratingUntilMaxIterations) {
  PreCopyPolicy p({5ms, 3, 0ns, false});
  const std::uint64_t big = pages_in_ms(60);
  EXPECT_FALSE(p.decide(after_round(0, 262144, big)).stop);
  EXPECT_FALSE(p.decide(after_round(1, big, big)).stop);
  EXPECT_FALSE(p.decide(after_round(2, big, big)).stop);
  const Decision d = p.decide(after_round(3, big, big));
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.reason, "max-iterations");
  EXPECT_EQ(d.throttle, 0.0) << "no throttling without auto_converge";
}

TEST(PreCopyPolicy, TimeoutStopsAnUnfittingSet) {
  PreCopyPolicy p({5ms, 30, 100ms, false});
  auto r = after_round(1, pages_in_ms(60), pages_in_ms(60));
  r.elapsed = 99ms;
  EXPECT_FALSE(p.decide(r).stop);
  r.elapsed = 100ms;
  const Decision d = p.decide(r);
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.reason, "timeout");
}

TEST(PreCopyPolicy, GuestOutrunningTheLinkIsThrottledStepByStep) {
  // Dirtying at 1.2x what the link carries.
  const double rate = 1.2 * kGBps / PreCopyPolicy::kWirePageBytes;
  for (bool ac : {false, true}) {
    SCOPED_TRACE(ac ? "auto-converge" : "reporting only");
    PreCopyPolicy p({5ms, 30, 0ns, ac});
    const std::uint64_t big = pages_in_ms(60);
    double last = 0;
    for (unsigned i = 0; i < 8; ++i) {
      const Decision d = p.decide(after_round(i, i == 0 ? 262144 : big, big, rate));
      EXPECT_TRUE(d.not_converging);
      EXPECT_FALSE(d.stop);
      if (ac) {
        EXPECT_GE(d.throttle, last);
        EXPECT_LE(d.throttle, PreCopyPolicy::kMaxThrottle);
      } else {
        EXPECT_EQ(d.throttle, 0.0);
      }
      last = d.throttle;
    }
    if (ac) {
      EXPECT_DOUBLE_EQ(last, PreCopyPolicy::kMaxThrottle);
    }
  }
}

TEST(PreCopyPolicy, StalledUnfittingSetCountsAsNotConverging) {
  // The measured rate looks harmless, but two rounds in a row left as much
  // as they sent and it never fit: the guest outruns the link all the same.
  PreCopyPolicy p({5ms, 30, 0ns, true});
  const std::uint64_t big = pages_in_ms(60);
  EXPECT_FALSE(p.decide(after_round(0, 262144, big)).not_converging);
  EXPECT_FALSE(p.decide(after_round(1, big, big)).not_converging);
  const Decision d = p.decide(after_round(2, big, big));
  EXPECT_TRUE(d.not_converging);
  EXPECT_GT(d.throttle, 0.0);
  // A round that halves the set resets the count.
  EXPECT_FALSE(p.decide(after_round(3, big, big / 3)).not_converging);
}

TEST(PreCopyPolicy, ZeroMaxDowntimeStillStopsOnAnEmptySet) {
  PreCopyPolicy p({0ms, 30, 0ns, false});
  EXPECT_FALSE(p.decide(after_round(0, 1000, 500)).stop);
  const Decision d = p.decide(after_round(1, 500, 0));
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.reason, "downtime");
}

}  // namespace
}  // namespace tern::migrate
