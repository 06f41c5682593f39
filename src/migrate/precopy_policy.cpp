#include "migrate/precopy_policy.hpp"

#include <algorithm>

namespace tern::migrate {

std::chrono::nanoseconds PreCopyPolicy::expected_downtime(std::uint64_t pages,
                                                          double bandwidth_bps) {
  const double bw = std::max(bandwidth_bps, 1.0);
  return std::chrono::nanoseconds(
      static_cast<std::int64_t>(static_cast<double>(pages) * kWirePageBytes / bw * 1e9));
}

Decision PreCopyPolicy::decide(const RoundObservation& r) {
  Decision d;
  d.expected_downtime = expected_downtime(r.pending_pages, r.bandwidth_bps);
  const bool fits = d.expected_downtime <= o_.max_downtime;
  const bool tiny =
      r.pending_pages <= kTinyPages || d.expected_downtime <= o_.max_downtime / kTinyDivisor;
  // Round 0 sent everything: any dirty set after it is "shrinking"; a later
  // round helped only if it left at most kShrinkFactor of what it sent.
  const bool shrinking = r.sent_all || static_cast<double>(r.pending_pages) <=
                                           kShrinkFactor * static_cast<double>(r.sent_pages);
  stalled_ = (!fits && !shrinking) ? stalled_ + 1 : 0;
  unhelpful_ = (fits && !shrinking) ? unhelpful_ + 1 : 0;
  d.not_converging =
      r.dirty_rate_pps * kWirePageBytes >= 0.9 * std::max(r.bandwidth_bps, 1.0) || stalled_ >= 2;
  auto stop = [&](std::string_view why) {
    d.stop = true;
    d.reason = why;
    d.throttle = throttle_;
    return d;
  };
  if (tiny || unhelpful_ >= 2) return stop("downtime");
  if (r.rounds_after_first >= o_.max_iterations) return stop("max-iterations");
  if (o_.timeout.count() > 0 && r.elapsed >= o_.timeout) return stop("timeout");
  if (d.not_converging && !fits && o_.auto_converge && throttle_ < kMaxThrottle)
    throttle_ = std::min(kMaxThrottle, throttle_ + kThrottleStep);
  d.throttle = throttle_;
  return d;
}

}  // namespace tern::migrate
