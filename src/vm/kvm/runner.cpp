#include "vm/kvm/runner.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>

#include "core/log.hpp"
#include "core/trace.hpp"
#include "vm/thread_priority.hpp"

namespace tern::vm::kvm {

namespace {

// The kvm_run of the vCPU this thread drives (nullptr on other threads).
thread_local kvm_run* t_run = nullptr;

int kick_signal() { return SIGRTMIN + 3; }

void on_kick(int) {
  if (t_run != nullptr) *reinterpret_cast<volatile std::uint8_t*>(&t_run->immediate_exit) = 1;
}

void install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(kick_signal(), &sa, nullptr);
  });
}

void set_immediate_exit(kvm_run* run, std::uint8_t v) {
  *reinterpret_cast<volatile std::uint8_t*>(&run->immediate_exit) = v;
}

// While throttled, a vCPU runs slices of at least this long before it sleeps
// its share: sleeping after every short exit (a console line is dozens of
// port exits) would cost more in wake-up latency than the throttle asks for.
constexpr auto kThrottleSlice = std::chrono::milliseconds(5);

}  // namespace

Runner::Runner(std::vector<Vcpu*> vcpus, ExitHandler handler)
    : vcpus_(std::move(vcpus)), handler_(std::move(handler)) {}

void Runner::start() {
  install_kick_handler();
  {
    std::lock_guard lk(mu_);
    pause_req_ = false;
    state_ = RunState::running;
  }
  trace::Scope span("kvm.start_threads");
  for (std::size_t i = 0; i < vcpus_.size(); ++i)
    threads_.emplace_back([this, i] { vcpu_main(i); });
  ticker_ = std::thread([this] { ticker_main(); });
}

void Runner::vcpu_main(std::size_t i) {
  Vcpu& v = *vcpus_[i];
  t_run = v.run();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kick_signal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);

  std::unique_lock lk(mu_);
  for (;;) {
    if (pause_req_ && !stop_) {
      ++parked_;
      cv_.notify_all();
      cv_.wait(lk, [&] { return !pause_req_ || stop_; });
      --parked_;
    }
    if (stop_) break;
    lk.unlock();
    const ExitOutcome o = run_until_told(v);
    if (o.kind == ExitOutcome::Kind::keep_running) complete_pending_io(v);
    lk.lock();
    if (o.kind != ExitOutcome::Kind::keep_running) {
      lk.unlock();
      finish(o);
      lk.lock();
    }
  }
  t_run = nullptr;
}

ExitOutcome Runner::run_until_told(Vcpu& v) {
  auto slice_start = std::chrono::steady_clock::now();
  // The first entry of each vCPU thread is a trace point: where "restore to
  // running" really ends.
  thread_local bool t_entered_once = false;
  for (;;) {
    if (pause_req_.load() || stop_.load()) return {};
    if (!t_entered_once) {
      t_entered_once = true;
      trace::instant(v.index() == 0 ? "kvm.vcpu0.first_run" : "kvm.vcpu.first_run");
    }
    auto entered = v.enter();
    set_immediate_exit(v.run(), 0);
    if (!entered) return {ExitOutcome::Kind::failure, 0, entered.error()};
    if (*entered) {
      ExitOutcome o = handler_(v);
      if (o.kind != ExitOutcome::Kind::keep_running) return o;
    }
    if (throttle_.load() > 0)
      throttle_sleep(slice_start);
    else
      slice_start = std::chrono::steady_clock::now();  // a throttle set later counts from here
  }
}

void Runner::complete_pending_io(Vcpu& v) {
  set_immediate_exit(v.run(), 1);
  auto r = v.enter();
  set_immediate_exit(v.run(), 0);
  if (!r) {
    finish({ExitOutcome::Kind::failure, 0, r.error()});
  } else if (*r) {
    // KVM ran nothing (immediate_exit) yet reported an exit: handle it so
    // it is not lost; it cannot need guest execution to complete.
    const ExitOutcome o = handler_(v);
    if (o.kind != ExitOutcome::Kind::keep_running) finish(o);
  }
}

void Runner::throttle_sleep(std::chrono::steady_clock::time_point& slice_start) {
  const double f = throttle_.load();
  const auto now = std::chrono::steady_clock::now();
  const auto ran = now - slice_start;
  if (ran < kThrottleSlice) return;
  const auto idle =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(ran * (f / (1.0 - f)));
  std::unique_lock lk(mu_);
  // A pause, a stop or a new throttle level ends the sleep early.
  cv_.wait_for(lk, idle,
               [&] { return pause_req_.load() || stop_.load() || throttle_.load() != f; });
  slice_start = std::chrono::steady_clock::now();
}

void Runner::ticker_main() {
  // Guest code that never exits to the VMM would never be throttled: while a
  // throttle is set, kick every vCPU each tick so each gets to sleep its share.
  std::unique_lock lk(mu_);
  while (!stop_) {
    if (throttle_.load() <= 0 || state_ != RunState::running) {
      ticker_cv_.wait(lk);
      continue;
    }
    ticker_cv_.wait_for(lk, kThrottleSlice);
    if (!stop_ && throttle_.load() > 0 && state_ == RunState::running) kick_all();
  }
}

void Runner::kick_all() {
  for (auto& t : threads_) pthread_kill(t.native_handle(), kick_signal());
}

void Runner::finish(const ExitOutcome& o) {
  std::lock_guard lk(mu_);
  if (state_ == RunState::exited || state_ == RunState::failed) return;
  if (o.kind == ExitOutcome::Kind::guest_exit) {
    state_ = RunState::exited;
    exit_value_ = o.value;
  } else {
    state_ = RunState::failed;
    failure_ = o.error;
  }
  stop_ = true;
  kick_all();
  cv_.notify_all();
  ticker_cv_.notify_all();
}

Expected<void> Runner::pause() {
  std::unique_lock lk(mu_);
  if (state_ == RunState::paused) return {};
  if (state_ != RunState::running)
    return make_error(Errc::usage, "cannot pause a domain that is {}", run_state_name(state_));
  pause_req_ = true;
  kick_all();
  cv_.notify_all();  // wakes throttled vCPUs
  cv_.wait(lk, [&] { return parked_ == vcpus_.size() || stop_; });
  if (state_ != RunState::running) {
    pause_req_ = false;
    return make_error(Errc::usage, "the guest {} before it could be paused",
                      state_ == RunState::exited ? "exited" : "failed");
  }
  state_ = RunState::paused;
  return {};
}

Expected<void> Runner::resume() {
  std::lock_guard lk(mu_);
  if (state_ == RunState::running) return {};
  if (state_ != RunState::paused)
    return make_error(Errc::usage, "cannot resume a domain that is {}", run_state_name(state_));
  state_ = RunState::running;
  pause_req_ = false;
  cv_.notify_all();
  ticker_cv_.notify_all();
  return {};
}

void Runner::set_throttle(double fraction) {
  std::lock_guard lk(mu_);
  throttle_ = std::clamp(fraction, 0.0, 0.99);
  ticker_cv_.notify_all();
  cv_.notify_all();
}

Expected<void> Runner::set_background(bool background) {
  std::lock_guard lk(mu_);  // threads_ changes only in start()/stop()
  return set_threads_background(threads_, background);
}

void Runner::stop() {
  {
    std::lock_guard lk(mu_);
    if (threads_.empty()) return;
    stop_ = true;
    kick_all();
    cv_.notify_all();
    ticker_cv_.notify_all();
  }
  for (auto& t : threads_) t.join();
  if (ticker_.joinable()) ticker_.join();
  threads_.clear();
  std::lock_guard lk(mu_);
  if (state_ == RunState::running) state_ = RunState::paused;
  joined_ = true;
  cv_.notify_all();
}

RunState Runner::state() const {
  std::lock_guard lk(mu_);
  return state_;
}

Expected<std::optional<GuestExit>> Runner::wait_exit(
    std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock lk(mu_);
  auto ended = [&] { return state_ == RunState::exited || state_ == RunState::failed || joined_; };
  if (timeout) {
    if (!cv_.wait_for(lk, *timeout, ended)) return std::optional<GuestExit>{};
  } else {
    cv_.wait(lk, ended);
  }
  if (state_ == RunState::failed) return std::unexpected(*failure_);
  if (state_ != RunState::exited)
    return make_error(Errc::usage, "the domain was shut down before the guest exited");
  return std::optional<GuestExit>(GuestExit{exit_value_});
}

}  // namespace tern::vm::kvm
