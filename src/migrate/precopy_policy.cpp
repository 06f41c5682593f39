#include "migrate/precopy_policy.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace tern::migrate {

namespace {
// Later rounds weigh more: the guest's behaviour and the link change.
constexpr double kWeight = 0.6;
double blend(double old_v, double new_v, bool first) {
  return first ? new_v : kWeight * new_v + (1 - kWeight) * old_v;
}
double seconds(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1e6; }
}  // namespace

void PrecopyPolicy::record(const RoundMeasure& m) {
  const bool first = rounds_ == 0;
  // Tiny rounds measure latency, not bandwidth: only rounds of at least
  // 1 MiB update the bandwidth estimate (unless there is none yet).
  if (m.send_time.count() > 0 && (m.bytes_sent >= (1u << 20) || bandwidth_ == 0))
    bandwidth_ = blend(bandwidth_, static_cast<double>(m.bytes_sent) / seconds(m.send_time),
                       bandwidth_ == 0);
  if (m.round_time.count() > 0)
    dirty_rate_ =
        blend(dirty_rate_, static_cast<double>(m.pages_dirtied) / seconds(m.round_time), first);
  ++rounds_;
}

std::chrono::microseconds PrecopyPolicy::expected_downtime(std::uint64_t pages) const {
  if (pages == 0) return std::chrono::microseconds{0};
  if (bandwidth_ <= 0) return std::chrono::microseconds::max();
  return std::chrono::microseconds{
      static_cast<std::int64_t>(static_cast<double>(pages * kWirePageBytes) / bandwidth_ * 1e6)};
}

Decision PrecopyPolicy::decide(std::uint64_t dirty_pages, std::chrono::microseconds elapsed) {
  Decision d;
  d.converging = dirty_rate_ * kWirePageBytes < bandwidth_;
  const auto expect = expected_downtime(dirty_pages);
  const double expect_ms = expect == std::chrono::microseconds::max() ? -1 : seconds(expect) * 1e3;
  if (cfg_.timeout && elapsed >= *cfg_.timeout) {
    d.action = Action::abort;
    d.reason = fmt::format(
        "timeout of {} ms reached after {} rounds with {} pages still dirty; the source keeps "
        "running",
        cfg_.timeout->count() / 1000, rounds_, dirty_pages);
    d.throttle = throttle_;
    return d;
  }
  if (expect <= cfg_.max_downtime) {
    d.action = Action::stop_and_copy;
    d.reason = fmt::format(
        "{} dirty pages fit the {} ms downtime budget (expected {:.1f} ms at {:.0f} MB/s)",
        dirty_pages, cfg_.max_downtime.count() / 1000.0, expect_ms, bandwidth_ / 1e6);
  } else if (rounds_ > cfg_.max_iterations) {
    d.action = Action::stop_and_copy;
    d.reason = fmt::format(
        "{} rounds done (--max-iterations): stopping with {} dirty pages, expected downtime {:.1f} "
        "ms "
        "over the {} ms budget",
        cfg_.max_iterations, dirty_pages, expect_ms, cfg_.max_downtime.count() / 1000.0);
  } else if (!d.converging) {
    d.reason =
        fmt::format("not converging: the guest dirties {:.0f} MB/s, the link sends {:.0f} MB/s",
                    dirty_rate_ * kWirePageBytes / 1e6, bandwidth_ / 1e6);
    if (cfg_.auto_converge) {
      throttle_ = std::min(cfg_.throttle_max, throttle_ + cfg_.throttle_step);
      d.reason +=
          fmt::format("; auto-converge throttles the vCPUs to {:.0f}%", (1 - throttle_) * 100);
    }
  } else {
    d.reason = fmt::format("{} dirty pages, expected downtime {:.1f} ms > {} ms: another round",
                           dirty_pages, expect_ms, cfg_.max_downtime.count() / 1000.0);
  }
  d.throttle = throttle_;
  return d;
}

}  // namespace tern::migrate
