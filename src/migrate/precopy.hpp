// Live migration by pre-copy (issue F): round 0 sends all populated memory
// while the guest runs; each later round sends what the guest (and the VMM,
// and the balloon) dirtied during the previous one. After every dirty-log
// collection the engine estimates the link's bandwidth (bytes of the last
// rounds over their send time) and the guest's dirty rate, and
// PreCopyPolicy (precopy_policy.hpp) decides: another round while rounds
// still shrink the dirty set meaningfully, stop-and-copy once it fits
// max_downtime and further rounds stop helping (or it is tiny). Then: pause, ONE FINAL DIRTY SYNC
// (what was dirtied since the last collection — skipping it loses pages), the last pages, the
// vCPU/VM state, and the commit handshake with the destination.
//
// Bounded by max_iterations and timeout (then the stop-and-copy happens
// anyway, and the stats say why). When the guest dirties memory faster than
// the link carries it the progress says so, and with auto_converge the
// vCPUs are throttled in steps of 20% (at most 90%).
//
// Failure semantics: on any error before the commit — the sink breaks, the
// destination refuses, the commit handshake fails — the source guest is
// resumed (if this call paused it), unthrottled, and keeps running.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/byte_sink.hpp"
#include "migrate/image_config.hpp"
#include "migrate/stream_sender.hpp"
#include "vm/domain.hpp"

namespace tern::migrate {

struct Progress {
  enum class Phase { round, stop_and_copy, committed } phase = Phase::round;
  unsigned round = 0;            // the round just sent (0 = all memory)
  std::uint64_t sent_pages = 0;  // all rounds so far
  std::uint64_t sent_bytes = 0;
  std::uint64_t dirty_pages = 0;  // left to send
  double bandwidth_bps = 0;       // bytes/s estimate
  double dirty_rate_pps = 0;      // pages/s the guest dirties
  std::chrono::nanoseconds expected_downtime{0};
  std::chrono::nanoseconds elapsed{0};
  double throttle = 0;
  bool not_converging = false;  // dirty rate >= link bandwidth
};

struct MigrateOptions {
  std::chrono::milliseconds max_downtime{50};
  unsigned max_iterations = 30;          // rounds after round 0
  std::chrono::milliseconds timeout{0};  // 0 = none
  bool auto_converge = false;
  // Round 0 with the vCPU threads as host background work (SCHED_IDLE,
  // vm/thread_priority.hpp): on a host with no spare core the bulk copy gets
  // the CPU a busy guest would take; the guest runs normally again from
  // round 1 (and if the migration fails).
  bool background_vcpus = false;
  SenderOptions sender;
  std::function<void(const Progress&)> progress;
  // Checked between rounds and before every batch: true aborts the migration.
  std::function<bool()> cancelled;
  // Called before every batch (a VMM serves its control socket here).
  std::function<void()> tick;
  // The destination's commit handshake, after the stream is complete. Its
  // success is the point of no return: the source then stays paused.
  std::function<Expected<void>()> commit;
  // Waits (bounded) until the destination has applied `sent` stream bytes
  // and returns how many it has (ReceiverProgress). Called after every
  // round: the round's time includes the wait (so the bandwidth estimate is
  // what the destination absorbs), and the guest is paused only once the
  // destination has caught up — a backlog queued in socket buffers would be
  // applied inside the downtime. Unset: no waiting.
  std::function<Expected<std::uint64_t>(std::uint64_t sent)> catch_up;
  // Tests only: skip the final dirty sync, to prove a test notices.
  bool final_sync = true;
};

// Where the downtime went: the steps between the pause and the commit, in
// order (they add up to MigrateStats::downtime, give or take the clock reads).
struct SwitchOver {
  std::chrono::nanoseconds pause{0};       // vCPUs parked
  std::chrono::nanoseconds final_sync{0};  // the final dirty-log collection
  std::chrono::nanoseconds report{0};      // the stop-and-copy progress callback
  std::chrono::nanoseconds final_send{0};  // the last pages written to the link
  std::chrono::nanoseconds state_save{0};  // vCPU/VM state captured
  std::chrono::nanoseconds finish{0};      // state records and END written
  // Destination reads the rest, applies the state, says READY; source says GO.
  std::chrono::nanoseconds commit{0};
  std::uint64_t final_pages = 0;
  std::uint64_t final_bytes = 0;
  // Stream bytes sent but not yet acknowledged by the destination at the
  // pause (with MigrateOptions::catch_up; 0 without).
  std::uint64_t receiver_backlog = 0;
  // The sending thread ran at raised priority from the pause to the commit
  // (vm::ThreadBoost; false when the host did not permit it).
  bool boosted = false;
};

struct MigrateStats {
  std::vector<RoundStats> rounds;  // rounds[0] = all memory; last = stop-and-copy
  std::uint64_t bytes = 0;
  std::chrono::nanoseconds total{0};
  std::chrono::nanoseconds downtime{0};  // pause to commit
  SwitchOver switch_over;
  // steady_clock (CLOCK_MONOTONIC) time of the pause: a destination on the
  // same host compares it with its resume time for the full downtime.
  std::chrono::nanoseconds paused_at{0};
  std::string stop_reason;  // "downtime", "max-iterations", "timeout" (precopy_policy.hpp)
  double max_throttle = 0;
  bool not_converging = false;  // the guest outran the link at some point
};

Expected<MigrateStats> migrate_domain(vm::Domain& d, const ImageConfig& config, ByteSink& sink,
                                      const MigrateOptions& opts);

}  // namespace tern::migrate
