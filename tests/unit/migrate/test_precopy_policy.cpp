#include <gtest/gtest.h>

#include "migrate/precopy_policy.hpp"
#include "migrate/progress.hpp"

using namespace tern::migrate;
using namespace std::chrono_literals;

namespace {
// A round that sent `mib` MiB in `ms` and saw `dirtied` pages dirtied over it.
RoundMeasure round(std::uint64_t mib, std::int64_t ms, std::uint64_t dirtied) {
  return {mib << 20, std::chrono::milliseconds(ms), dirtied, std::chrono::milliseconds(ms)};
}
PolicyConfig config(std::chrono::microseconds max_downtime, std::uint32_t max_iterations = 30,
                    std::optional<std::chrono::microseconds> timeout = std::nullopt,
                    bool auto_converge = false) {
  PolicyConfig c;
  c.max_downtime = max_downtime;
  c.max_iterations = max_iterations;
  c.timeout = timeout;
  c.auto_converge = auto_converge;
  return c;
}
}  // namespace

TEST(PrecopyPolicy, StopsWhenTheRestFitsTheDowntimeBudget) {
  PrecopyPolicy p(config(50ms));
  p.record(round(1024, 1000, 2000));  // ~1 GiB/s, 2000 pages/s
  EXPECT_NEAR(p.bandwidth_bytes_per_s(), 1073741824.0, 1.0);
  // 1 GiB/s sends ~12,800 pages in 50 ms.
  auto d = p.decide(10'000, 1s);
  EXPECT_EQ(d.action, Action::stop_and_copy) << d.reason;
  EXPECT_TRUE(d.converging);
  d = p.decide(20'000, 1s);
  EXPECT_EQ(d.action, Action::next_round) << d.reason;
  EXPECT_NE(d.reason.find("another round"), std::string::npos);
}

TEST(PrecopyPolicy, MaxIterationsForcesStopAndCopyAndSaysItIsOverBudget) {
  PrecopyPolicy p(config(1ms, 2));
  for (int i = 0; i < 3; ++i) {
    p.record(round(100, 1000, 1000));
    auto d = p.decide(100'000, std::chrono::seconds(i + 1));
    if (i < 2) {
      EXPECT_EQ(d.action, Action::next_round) << i;
    } else {
      EXPECT_EQ(d.action, Action::stop_and_copy);
      EXPECT_NE(d.reason.find("over the"), std::string::npos) << d.reason;
    }
  }
}

TEST(PrecopyPolicy, TimeoutAbortsSoTheSourceKeepsRunning) {
  PrecopyPolicy p(config(1ms, 30, 5s));
  p.record(round(100, 1000, 1000));
  EXPECT_EQ(p.decide(100'000, 4s).action, Action::next_round);
  auto d = p.decide(100'000, 5s);
  EXPECT_EQ(d.action, Action::abort);
  EXPECT_NE(d.reason.find("keeps running"), std::string::npos);
}

TEST(PrecopyPolicy, NotConvergingIsReportedAndAutoConvergeThrottlesStepwise) {
  // 100 MiB/s link, the guest dirties 50,000 pages/s (~200 MB/s).
  PrecopyPolicy plain(config(10ms));
  plain.record(round(100, 1000, 50'000));
  auto d = plain.decide(50'000, 1s);
  EXPECT_FALSE(d.converging);
  EXPECT_EQ(d.throttle, 0.0);
  EXPECT_NE(d.reason.find("not converging"), std::string::npos);

  PrecopyPolicy ac(config(10ms, 30, std::nullopt, true));
  double last = 0;
  for (int i = 0; i < 10; ++i) {
    ac.record(round(100, 1000, 50'000));
    d = ac.decide(50'000, std::chrono::seconds(i + 1));
    EXPECT_GT(d.throttle, last - 1e-9);
    last = d.throttle;
  }
  EXPECT_DOUBLE_EQ(last, 0.95);  // capped
}

TEST(PrecopyPolicy, SmallRoundsDoNotSkewBandwidth) {
  PrecopyPolicy p(PolicyConfig{});
  p.record(round(1024, 1000, 0));
  const double bw = p.bandwidth_bytes_per_s();
  p.record({4096, 10ms, 0, 10ms});  // one page in 10 ms: latency, not bandwidth
  EXPECT_DOUBLE_EQ(p.bandwidth_bytes_per_s(), bw);
  EXPECT_EQ(p.expected_downtime(0), 0us);
}

TEST(Progress, BarAndJsonShowRoundPagesLeftAndRate) {
  ProgressEvent e{.phase = "round",
                  .round = 3,
                  .round_pages = 1000,
                  .round_pages_sent = 250,
                  .bytes_total = 1 << 20,
                  .rate_bytes_per_s = 1e9,
                  .elapsed = 1500ms,
                  .message = ""};
  const auto bar = render_bar(e, 20);
  EXPECT_NE(bar.find("round   3"), std::string::npos) << bar;
  EXPECT_NE(bar.find("[#####...............]"), std::string::npos) << bar;
  EXPECT_NE(bar.find("750 pages left"), std::string::npos) << bar;
  EXPECT_NE(bar.find("1.00 GB/s"), std::string::npos) << bar;
  const auto j = to_json(e);
  EXPECT_EQ(j["round"], 3);
  EXPECT_EQ(j["elapsed_ms"], 1500);
}
