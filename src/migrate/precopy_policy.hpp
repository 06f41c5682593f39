// When to stop pre-copying (issue F). Not Xen's fixed "5 rounds or < 50
// dirty pages": each round measures the link's bandwidth and the guest's
// dirty rate, and the sender stops the guest as soon as what is left to send
// fits the downtime budget at the measured bandwidth.
//
//   remaining_bytes / bandwidth <= max_downtime   -> stop and copy
//   round == max_iterations                        -> stop and copy (over budget, said so)
//   elapsed >= timeout                             -> abort: the source keeps running
//   dirty rate >= bandwidth (not converging)       -> say so; with auto-converge
//                                                     throttle the vCPUs one step more
//
// Pure logic, no clock of its own: callers pass measured durations, so tests
// drive it with exact numbers.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tern::migrate {

struct PolicyConfig {
  std::chrono::microseconds max_downtime{50'000};
  std::uint32_t max_iterations = 30;                 // pre-copy rounds after round 0
  std::optional<std::chrono::microseconds> timeout;  // whole migration; nullopt = none
  bool auto_converge = false;
  double throttle_step = 0.2;  // added per non-converging round
  double throttle_max = 0.95;
};

// What one round measured.
struct RoundMeasure {
  std::uint64_t bytes_sent = 0;            // payload + framing of this round
  std::chrono::microseconds send_time{};   // wall time spent sending them
  std::uint64_t pages_dirtied = 0;         // dirty set collected at the end of the round
  std::chrono::microseconds round_time{};  // wall time over which they were dirtied
};

enum class Action { next_round, stop_and_copy, abort };

struct Decision {
  Action action = Action::next_round;
  double throttle = 0.0;   // fraction of time the vCPUs should sleep from now on
  bool converging = true;  // the guest dirties slower than the link sends
  std::string reason;      // one line for progress output and the summary
};

class PrecopyPolicy {
 public:
  explicit PrecopyPolicy(PolicyConfig cfg) : cfg_(cfg) {}

  // Feeds one finished round; `round` counts from 0.
  void record(const RoundMeasure& m);
  // Decides after round `rounds_done - 1`, with `dirty_pages` now pending and
  // `elapsed` since the migration began.
  [[nodiscard]] Decision decide(std::uint64_t dirty_pages, std::chrono::microseconds elapsed);

  // Smoothed estimates (0 until measured).
  [[nodiscard]] double bandwidth_bytes_per_s() const { return bandwidth_; }
  [[nodiscard]] double dirty_pages_per_s() const { return dirty_rate_; }
  // Expected stop-and-copy time for `pages` at the current bandwidth.
  [[nodiscard]] std::chrono::microseconds expected_downtime(std::uint64_t pages) const;
  [[nodiscard]] std::uint32_t rounds_done() const { return rounds_; }
  [[nodiscard]] double throttle() const { return throttle_; }

 private:
  PolicyConfig cfg_;
  std::uint32_t rounds_ = 0;
  double bandwidth_ = 0;   // bytes/s, exponentially weighted
  double dirty_rate_ = 0;  // pages/s, exponentially weighted
  double throttle_ = 0;
};

// Bytes one page costs on the wire: payload plus its PAGE_DATA pfn entry.
inline constexpr std::uint64_t kWirePageBytes = 4096 + 8;

}  // namespace tern::migrate
