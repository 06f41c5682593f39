#include "migrate/precopy.hpp"

#include <algorithm>

namespace tern::migrate {

using Clock = std::chrono::steady_clock;

namespace {

// Bytes a page costs on the wire (payload + pfn entry), for the estimate.
constexpr double kWirePageBytes = vm::kPageSize + 8;
// Rounds smaller than this say little about the link; keep the estimate.
constexpr std::uint64_t kMinSampleBytes = 1 << 20;

SenderOptions with_hooks(const MigrateOptions& o) {
  SenderOptions s = o.sender;
  s.before_batch = [&o]() -> Expected<void> {
    if (o.tick) o.tick();
    if (o.cancelled && o.cancelled()) return make_error(Errc::usage, "migration cancelled");
    return {};
  };
  return s;
}

class PreCopy {
 public:
  PreCopy(vm::Domain& d, const ImageConfig& c, ByteSink& sink, const MigrateOptions& o)
      : d_(d), config_(c), o_(o), sender_(d, sink, with_hooks(o)) {}

  Expected<MigrateStats> run() {
    t0_ = Clock::now();
    auto r = run_rounds();
    if (!r) {
      if (paused_) (void)d_.resume();
      d_.set_throttle(0);
      (void)d_.stop_dirty_log();
      return std::unexpected(r.error());
    }
    return std::move(stats_);
  }

 private:
  Expected<void> run_rounds() {
    if (d_.state() != vm::RunState::running)
      return make_error(Errc::usage, "migrate: the domain is {}, not running",
                        vm::run_state_name(d_.state()));
    TERN_TRY(d_.start_dirty_log());
    auto last_collect = Clock::now();  // the dirty log covers round 0 from here
    TERN_TRY(sender_.begin(config_));
    TERN_TRY_ASSIGN(auto r0, sender_.send_all());
    account(r0);
    vm::DirtyBitmap pending;
    for (unsigned iter = 1;; ++iter) {
      TERN_TRY_ASSIGN(pending, d_.collect_dirty());
      const auto now = Clock::now();
      const double secs = std::chrono::duration<double>(now - last_collect).count();
      last_collect = now;
      Progress p = progress(pending.count(), secs);
      report(p);
      if (o_.cancelled && o_.cancelled()) return make_error(Errc::usage, "migration cancelled");
      if (p.expected_downtime <= o_.max_downtime) {
        stats_.stop_reason = "downtime";
        break;
      }
      if (iter > o_.max_iterations) {
        stats_.stop_reason = "max-iterations";
        break;
      }
      if (o_.timeout.count() > 0 && now - t0_ >= o_.timeout) {
        stats_.stop_reason = "timeout";
        break;
      }
      if (p.not_converging && o_.auto_converge && throttle_ < 0.9) {
        throttle_ = std::min(0.9, throttle_ + 0.2);
        d_.set_throttle(throttle_);
        stats_.max_throttle = throttle_;
      }
      TERN_TRY_ASSIGN(auto r, sender_.send(pending));
      account(r);
    }

    // Stop and copy.
    const auto paused_at = Clock::now();
    TERN_TRY(d_.pause());
    paused_ = true;
    if (o_.final_sync) {
      TERN_TRY_ASSIGN(auto last, d_.collect_dirty());
      pending.merge(last);
    }
    Progress p = progress(pending.count(), 0);
    p.phase = Progress::Phase::stop_and_copy;
    report(p);
    TERN_TRY_ASSIGN(auto rf, sender_.send(pending));
    account(rf);
    TERN_TRY_ASSIGN(auto state, d_.save_state());
    TERN_TRY(sender_.finish(state));
    if (o_.commit) TERN_TRY(o_.commit());
    stats_.downtime = Clock::now() - paused_at;
    stats_.total = Clock::now() - t0_;
    stats_.bytes = sender_.bytes();
    d_.set_throttle(0);
    (void)d_.stop_dirty_log();
    p.phase = Progress::Phase::committed;
    p.elapsed = stats_.total;
    report(p);
    return {};
  }

  void account(const RoundStats& r) {
    stats_.rounds.push_back(r);
    sent_pages_ += r.data_pages + r.zero_pages + r.xtab_pages;
    if (r.bytes >= kMinSampleBytes || bandwidth_ == 0) {
      const double secs = std::max(1e-6, std::chrono::duration<double>(r.time).count());
      const double sample = static_cast<double>(r.bytes) / secs;
      // Weighted toward the latest round: links and hosts change speed.
      bandwidth_ = bandwidth_ == 0 ? sample : 0.3 * bandwidth_ + 0.7 * sample;
    }
  }

  Progress progress(std::uint64_t dirty, double secs) {
    Progress p;
    p.round = static_cast<unsigned>(stats_.rounds.size() - 1);
    p.sent_pages = sent_pages_;
    p.sent_bytes = sender_.bytes();
    p.dirty_pages = dirty;
    p.bandwidth_bps = bandwidth_;
    p.dirty_rate_pps = secs > 0 ? static_cast<double>(dirty) / secs : 0;
    const double bw = std::max(bandwidth_, 1.0);
    p.expected_downtime = std::chrono::nanoseconds(
        static_cast<std::int64_t>(static_cast<double>(dirty) * kWirePageBytes / bw * 1e9));
    p.elapsed = Clock::now() - t0_;
    p.throttle = throttle_;
    p.not_converging = p.dirty_rate_pps * kWirePageBytes >= 0.9 * bw;
    stats_.not_converging |= p.not_converging && secs > 0;
    return p;
  }

  void report(const Progress& p) {
    if (o_.progress) o_.progress(p);
  }

  vm::Domain& d_;
  const ImageConfig& config_;
  const MigrateOptions& o_;
  StreamSender sender_;
  MigrateStats stats_;
  Clock::time_point t0_;
  bool paused_ = false;
  double bandwidth_ = 0;
  double throttle_ = 0;
  std::uint64_t sent_pages_ = 0;
};

}  // namespace

Expected<MigrateStats> migrate_domain(vm::Domain& d, const ImageConfig& config, ByteSink& sink,
                                      const MigrateOptions& opts) {
  PreCopy p(d, config, sink, opts);
  return p.run();
}

}  // namespace tern::migrate
