#include "migrate/precopy.hpp"

#include <algorithm>

#include "core/trace.hpp"
#include "migrate/precopy_policy.hpp"
#include "vm/thread_priority.hpp"

namespace tern::migrate {

using Clock = std::chrono::steady_clock;

namespace {

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
      : d_(d),
        config_(c),
        o_(o),
        sender_(d, sink, with_hooks(o)),
        policy_(PolicyOptions{o.max_downtime, o.max_iterations, o.timeout, o.auto_converge}) {}

  Expected<MigrateStats> run() {
    t0_ = Clock::now();
    auto r = run_rounds();
    if (background_) (void)d_.set_vcpus_background(false);  // (a failed round 0)
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
    trace::Scope log_span("migrate.dirty_log_start");
    TERN_TRY(d_.start_dirty_log());
    log_span.done();
    auto last_collect = Clock::now();  // the dirty log covers round 0 from here
    trace::Scope begin_span("migrate.begin");
    TERN_TRY(sender_.begin(config_));
    begin_span.done();
    if (o_.background_vcpus) {
      TERN_TRY(d_.set_vcpus_background(true));
      background_ = true;
    }
    trace::Scope round0_span("migrate.round0");
    TERN_TRY_ASSIGN(auto r0, sender_.send_all());
    round0_span.done();
    TERN_TRY(catch_up(r0));
    if (background_) {
      TERN_TRY(d_.set_vcpus_background(false));
      background_ = false;
    }
    account(r0);
    vm::DirtyBitmap pending;
    for (unsigned after_first = 0;; ++after_first) {
      trace::Scope collect_span("migrate.collect_dirty");
      TERN_TRY_ASSIGN(pending, d_.collect_dirty());
      collect_span.done();
      const auto now = Clock::now();
      const double secs = std::chrono::duration<double>(now - last_collect).count();
      last_collect = now;
      RoundObservation obs;
      obs.rounds_after_first = after_first;
      obs.pending_pages = pending.count();
      obs.sent_pages = stats_.rounds.back().planned;
      obs.sent_all = after_first == 0;
      obs.bandwidth_bps = bandwidth_;
      obs.dirty_rate_pps = secs > 0 ? static_cast<double>(obs.pending_pages) / secs : 0;
      obs.elapsed = now - t0_;
      const Decision dec = policy_.decide(obs);
      Progress p = progress(obs, dec);
      stats_.not_converging |= dec.not_converging;
      report(p);
      if (o_.cancelled && o_.cancelled()) return make_error(Errc::usage, "migration cancelled");
      if (dec.stop) {
        stats_.stop_reason = std::string(dec.reason);
        break;
      }
      if (dec.throttle != throttle_) {
        throttle_ = dec.throttle;
        d_.set_throttle(throttle_);
        stats_.max_throttle = std::max(stats_.max_throttle, throttle_);
      }
      trace::Scope round_span("migrate.round");
      TERN_TRY_ASSIGN(auto r, sender_.send(pending));
      round_span.done();
      TERN_TRY(catch_up(r));
      account(r);
    }

    // Stop and copy. Each step is timed: stats_.switch_over says where the
    // downtime went.
    SwitchOver& so = stats_.switch_over;
    so.receiver_backlog = backlog_;
    // From here the guest is paused: no scheduler slice may stretch it.
    vm::ThreadBoost boost;
    so.boosted = boost.boosted();
    const auto paused_at = Clock::now();
    stats_.paused_at = paused_at.time_since_epoch();
    TERN_TRY(d_.pause());
    paused_ = true;
    so.pause = Clock::now() - paused_at;
    auto lap = [t = Clock::now()](std::chrono::nanoseconds& into) mutable {
      const auto n = Clock::now();
      into = n - t;
      t = n;
    };
    if (o_.final_sync) {
      TERN_TRY_ASSIGN(auto last, d_.collect_dirty());
      pending.merge(last);
    }
    lap(so.final_sync);
    RoundObservation obs;
    obs.pending_pages = pending.count();
    obs.bandwidth_bps = bandwidth_;
    obs.elapsed = Clock::now() - t0_;
    Decision final_dec;
    final_dec.stop = true;
    final_dec.expected_downtime = PreCopyPolicy::expected_downtime(obs.pending_pages, bandwidth_);
    Progress p = progress(obs, final_dec);
    p.phase = Progress::Phase::stop_and_copy;
    report(p);
    lap(so.report);
    TERN_TRY_ASSIGN(auto rf, sender_.send(pending, /*zero_hint=*/false));
    account(rf);
    so.final_pages = rf.planned;
    so.final_bytes = rf.bytes;
    lap(so.final_send);
    trace::Scope ss("migrate.save_state");
    TERN_TRY_ASSIGN(auto state, d_.save_state());
    ss.done();
    lap(so.state_save);
    TERN_TRY(sender_.finish(state));
    lap(so.finish);
    if (o_.commit) TERN_TRY(o_.commit());
    lap(so.commit);
    stats_.downtime = Clock::now() - paused_at;
    boost.end();
    stats_.total = Clock::now() - t0_;
    stats_.bytes = sender_.bytes();
    // Committed: the guest runs on the destination from now on and this one
    // stays paused until it is torn down, so its dirty log stays on —
    // turning it off costs milliseconds of kernel work (huge pages are
    // rebuilt) on a CPU the destination may be resuming the guest on.
    d_.set_throttle(0);
    p.phase = Progress::Phase::committed;
    p.elapsed = stats_.total;
    report(p);
    return {};
  }

  // Waits for the destination to apply what was sent (MigrateOptions::catch_up).
  Expected<void> catch_up(RoundStats& r) {
    if (!o_.catch_up) return {};
    trace::Scope span("migrate.catch_up");
    const auto t = Clock::now();
    TERN_TRY_ASSIGN(const std::uint64_t acked, o_.catch_up(sender_.bytes()));
    backlog_ = sender_.bytes() > acked ? sender_.bytes() - acked : 0;
    r.time += Clock::now() - t;
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

  Progress progress(const RoundObservation& obs, const Decision& dec) {
    Progress p;
    p.round = static_cast<unsigned>(stats_.rounds.size() - 1);
    p.sent_pages = sent_pages_;
    p.sent_bytes = sender_.bytes();
    p.dirty_pages = obs.pending_pages;
    p.bandwidth_bps = bandwidth_;
    p.dirty_rate_pps = obs.dirty_rate_pps;
    p.expected_downtime = dec.expected_downtime;
    p.elapsed = Clock::now() - t0_;
    p.throttle = dec.stop ? throttle_ : dec.throttle;
    p.not_converging = dec.not_converging;
    return p;
  }

  void report(const Progress& p) {
    if (o_.progress) o_.progress(p);
  }

  vm::Domain& d_;
  const ImageConfig& config_;
  const MigrateOptions& o_;
  StreamSender sender_;
  PreCopyPolicy policy_;
  MigrateStats stats_;
  Clock::time_point t0_;
  bool paused_ = false;
  bool background_ = false;  // vCPU threads are SCHED_IDLE (round 0)
  double bandwidth_ = 0;
  double throttle_ = 0;
  std::uint64_t sent_pages_ = 0;
  std::uint64_t backlog_ = 0;  // sent, not yet acknowledged (catch_up)
};

}  // namespace

Expected<MigrateStats> migrate_domain(vm::Domain& d, const ImageConfig& config, ByteSink& sink,
                                      const MigrateOptions& opts) {
  PreCopy p(d, config, sink, opts);
  return p.run();
}

}  // namespace tern::migrate
