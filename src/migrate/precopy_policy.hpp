// When pre-copy stops iterating (issue F). Pure arithmetic over what each
// round observed, so it is tested deterministically without a guest.
//
// After every dirty-log collection the policy sees the pending dirty set,
// the set the last round sent, the link's bandwidth and the guest's dirty
// rate, and answers: send another round, or stop and copy (and why).
//
//   expected downtime = pending pages x wire bytes per page / bandwidth
//
//   1. The set is tiny (expected downtime at most max_downtime / kTinyDivisor,
//      or at most kTinyPages): stop — another round cannot buy anything.
//   2. It fits max_downtime: stop once rounds stop helping, i.e. two
//      rounds in a row did not shrink the set to at most kShrinkFactor of
//      what they sent; while they still shrink it meaningfully, keep going
//      (each such round is short: it carries at most a downtime's worth of
//      pages). One unhelpful round is not enough: a guest dirties in bursts
//      and a destination faulting in fresh memory absorbs pages at a
//      varying rate, so a single round that fell behind says little (seen:
//      a 4 GiB guest stopping on 16.8 MiB where the next round reached 0).
//   3. It does not fit: keep going; after max_iterations rounds, or past the
//      timeout, stop anyway (the stats say which).
//   4. The guest outruns the link (it dirties at least 90% of what the link
//      carries, or the set stopped shrinking for two rounds without fitting):
//      reported; with auto_converge the vCPUs are throttled one step more
//      (kThrottleStep, at most kMaxThrottle) for the next round.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace tern::migrate {

struct PolicyOptions {
  std::chrono::nanoseconds max_downtime{std::chrono::milliseconds(50)};
  unsigned max_iterations = 30;         // rounds after round 0
  std::chrono::nanoseconds timeout{0};  // 0 = none
  bool auto_converge = false;
};

// What the engine saw at one decision point.
struct RoundObservation {
  unsigned rounds_after_first = 0;  // rounds sent after round 0 so far
  std::uint64_t pending_pages = 0;  // dirty set collected now, to send next
  std::uint64_t sent_pages = 0;     // frames the round just finished set out to send
  bool sent_all = false;            // that round was round 0 (all memory)
  double bandwidth_bps = 0;         // link estimate, bytes/s
  double dirty_rate_pps = 0;        // guest's dirty rate over that round, pages/s
  std::chrono::nanoseconds elapsed{0};
};

struct Decision {
  bool stop = false;
  std::string_view reason;  // when stopping: "downtime", "max-iterations", "timeout"
  std::chrono::nanoseconds expected_downtime{0};
  bool not_converging = false;  // the guest outruns the link
  double throttle = 0;          // vCPU throttle to apply for the next round
};

class PreCopyPolicy {
 public:
  // Wire bytes a page costs (payload + pfn entry).
  static constexpr double kWirePageBytes = 4096 + 8;
  static constexpr std::uint64_t kTinyPages = 64;
  // A set worth at most max_downtime / kTinyDivisor (0.5 ms by default) is
  // not worth another round. (At 1/20 the last set was up to ~7 MiB on a
  // 3 GB/s link, 2-3 ms of pause that a few millisecond-long rounds remove
  // while the guest's set still shrinks; rule 2 stops them once it does not.)
  static constexpr int kTinyDivisor = 100;
  // A round "helps" while it leaves at most this much of what it sent: the
  // rounds then form a geometric series (total cost at most 5x the first
  // such round), each shorter than the last, and the final set is smaller.
  static constexpr double kShrinkFactor = 0.8;
  static constexpr double kThrottleStep = 0.2;
  static constexpr double kMaxThrottle = 0.9;

  explicit PreCopyPolicy(PolicyOptions o) : o_(o) {}

  Decision decide(const RoundObservation& r);
  [[nodiscard]] double throttle() const { return throttle_; }

  [[nodiscard]] static std::chrono::nanoseconds expected_downtime(std::uint64_t pages,
                                                                  double bandwidth_bps);

 private:
  PolicyOptions o_;
  double throttle_ = 0;
  unsigned stalled_ = 0;    // consecutive later rounds that did not shrink an unfitting set
  unsigned unhelpful_ = 0;  // consecutive later rounds that did not shrink a fitting set
};

}  // namespace tern::migrate
