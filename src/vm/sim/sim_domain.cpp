#include "vm/sim/sim_domain.hpp"

#include <algorithm>

#include "vm/backends.hpp"
#include "vm/thread_priority.hpp"

namespace tern::vm {
Expected<std::unique_ptr<Domain>> create_sim_domain(const DomainConfig& config) {
  TERN_TRY_ASSIGN(auto d, sim::SimDomain::create(config));
  return std::unique_ptr<Domain>(std::move(d));
}
}  // namespace tern::vm

namespace tern::vm::sim {

using stream::domctx::CpuidList;
using stream::domctx::StateImage;
using stream::domctx::VcpuState;

Expected<std::unique_ptr<SimDomain>> SimDomain::create(const DomainConfig& config) {
  const std::uint64_t space =
      config.address_space_bytes != 0 ? config.address_space_bytes : config.memory_bytes;
  TERN_TRY_ASSIGN(auto mem, SimMemory::create(space, config.vcpus));
  TERN_TRY_ASSIGN(auto console, Console::open(config.console, config.boot));
  return std::unique_ptr<SimDomain>(new SimDomain(config, std::move(mem), std::move(console)));
}

SimDomain::SimDomain(const DomainConfig& config, std::unique_ptr<SimMemory> mem,
                     std::unique_ptr<Console> console)
    : config_(config),
      cpu_policy_(host_cpu_policy()),
      mem_(std::move(mem)),
      console_(std::move(console)) {
  // CPUID 1 EBX[31:24] is the initial APIC id of whichever CPU ran CPUID.
  for (CpuidEntry& e : cpu_policy_)
    if (e.function == 1) e.ebx &= 0x00ffffff;
  for (std::uint32_t i = 0; i < config_.vcpus; ++i)
    states_.push_back(std::make_unique<WorkState>());
}

SimDomain::~SimDomain() { shutdown(); }

RunState SimDomain::state() const {
  std::lock_guard lk(mu_);
  return state_;
}

// ---- memory ------------------------------------------------------------------

Expected<void> SimDomain::populate(std::uint64_t first_pfn, std::uint64_t count) {
  const std::uint64_t n = ++populate_calls_;
  if (faults_.fail_populate_at.load() == n)
    return make_error(Errc::io, "sim: injected failure of populate call #{}", n);
  return mem_->populate(first_pfn, count, mem_->vmm_shard());
}

Expected<void> SimDomain::depopulate(std::uint64_t first_pfn, std::uint64_t count) {
  return mem_->depopulate(first_pfn, count, mem_->vmm_shard());
}

Expected<void> SimDomain::start_dirty_log() {
  mem_->start_log();
  return {};
}

Expected<DirtyBitmap> SimDomain::collect_dirty() {
  const std::uint64_t n = ++collect_calls_;
  if (faults_.fail_collect_dirty_at.load() == n)
    return make_error(Errc::io, "sim: injected failure of collect_dirty call #{}", n);
  return mem_->collect();
}

Expected<void> SimDomain::stop_dirty_log() {
  mem_->stop_log();
  return {};
}

// ---- execution -----------------------------------------------------------------

Expected<void> SimDomain::start() {
  {
    std::lock_guard lk(mu_);
    if (state_ != RunState::created || !threads_.empty())
      return make_error(Errc::usage, "sim: start() on a domain that is already {}",
                        run_state_name(state_));
  }
  if (!config_.boot) return {};  // a restore target waits for load_state() + resume()
  return boot();
}

void SimDomain::spawn_vcpus() {
  std::lock_guard lk(mu_);
  live_ = config_.vcpus;
  parked_ = 0;
  state_ = RunState::running;
  for (unsigned i = 0; i < config_.vcpus; ++i) threads_.emplace_back([this, i] { vcpu_main(i); });
}

Expected<void> SimDomain::pause() {
  std::unique_lock lk(mu_);
  if (state_ == RunState::paused) return {};
  if (state_ != RunState::running)
    return make_error(Errc::usage, "sim: cannot pause a domain that is {}", run_state_name(state_));
  pause_req_ = true;
  cv_.wait(lk, [&] { return parked_ == live_ || stop_; });
  if (state_ == RunState::running) state_ = RunState::paused;
  // The guest may have exited or failed just before it could park.
  if (state_ != RunState::paused) {
    pause_req_ = false;
    return make_error(Errc::usage, "sim: the guest {} before it could be paused",
                      state_ == RunState::exited ? "exited" : "failed");
  }
  return {};
}

Expected<void> SimDomain::resume() {
  std::unique_lock lk(mu_);
  if (state_ == RunState::running) return {};
  if (state_ == RunState::created) {
    if (!state_loaded_)
      return make_error(Errc::usage, "sim: resume() of a restore target before load_state()");
    lk.unlock();
    TERN_TRY_ASSIGN(layout_, read_header());
    spawn_vcpus();
    return {};
  }
  if (state_ != RunState::paused)
    return make_error(Errc::usage, "sim: cannot resume a domain that is {}",
                      run_state_name(state_));
  state_ = RunState::running;
  pause_req_ = false;
  cv_.notify_all();
  return {};
}

void SimDomain::set_throttle(double fraction) { throttle_ = std::clamp(fraction, 0.0, 0.99); }

Expected<void> SimDomain::set_vcpus_background(bool background) {
  std::lock_guard lk(mu_);
  return set_threads_background(threads_, background);
}

Expected<std::optional<GuestExit>> SimDomain::wait_exit(
    std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock lk(mu_);
  auto ended = [&] { return state_ == RunState::exited || state_ == RunState::failed; };
  if (timeout) {
    if (!cv_.wait_for(lk, *timeout, ended)) return std::optional<GuestExit>{};
  } else {
    cv_.wait(lk, ended);
  }
  if (state_ == RunState::failed) return std::unexpected(*failure_);
  return std::optional<GuestExit>(GuestExit{exit_value_});
}

void SimDomain::shutdown() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  std::lock_guard lk(mu_);
  if (state_ == RunState::running) state_ = RunState::paused;
}

void SimDomain::fail(const Error& e) {
  std::lock_guard lk(mu_);
  if (!failure_) failure_ = e;
  state_ = RunState::failed;
  stop_ = true;
  cv_.notify_all();
}

void SimDomain::notify_progress() {
  std::lock_guard lk(mu_);
  cv_.notify_all();
}

void SimDomain::park() {
  std::unique_lock lk(mu_);
  ++parked_;
  cv_.notify_all();
  cv_.wait(lk, [&] { return !pause_req_ || stop_; });
  --parked_;
}

bool SimDomain::barrier_passed(unsigned id) const {
  const std::uint64_t target = states_[id]->get(kArrived);
  for (const auto& s : states_)
    if (s->arrived_acquire() < target) return false;
  return true;
}

void SimDomain::wait_at_barrier(unsigned id) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, std::chrono::milliseconds(1),
               [&] { return pause_req_ || stop_ || barrier_passed(id); });
}

void SimDomain::throttle_point(std::chrono::steady_clock::time_point& since, unsigned& units) {
  if (++units < 64) return;
  units = 0;
  const double f = throttle_.load(std::memory_order_relaxed);
  const auto now = std::chrono::steady_clock::now();
  if (f > 0) std::this_thread::sleep_for((now - since) * (f / (1 - f)));
  since = std::chrono::steady_clock::now();
}

void SimDomain::vcpu_main(unsigned id) {
  WorkState& s = *states_[id];
  auto since = std::chrono::steady_clock::now();
  unsigned units = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    if (pause_req_.load(std::memory_order_acquire)) {
      park();
      continue;
    }
    if (s.phase() == Phase::done) break;
    if (s.get(kWaiting) != 0) {
      if (!barrier_passed(id)) {
        wait_at_barrier(id);
        continue;
      }
      s.set(kWaiting, 0);
      after_barrier(id);
      continue;
    }
    if (auto r = step(id); !r) {
      fail(r.error().context(fmt::format("sim vCPU {}", id)));
      break;
    }
    throttle_point(since, units);
  }
  std::lock_guard lk(mu_);
  --live_;
  cv_.notify_all();
}

// ---- state ----------------------------------------------------------------------

Expected<StateImage> SimDomain::save_state() {
  {
    std::lock_guard lk(mu_);
    // An exited guest's state is final, so it can be read too (host checks).
    if (state_ != RunState::paused && state_ != RunState::exited &&
        !(state_ == RunState::created && state_loaded_))
      return make_error(Errc::usage, "sim: save_state() needs a paused domain (it is {})",
                        run_state_name(state_));
  }
  if (faults_.fail_save_state.load())
    return make_error(Errc::io, "sim: injected failure of save_state");
  StateImage img;
  CpuidList cpuid{cpu_policy()};
  for (const auto& s : states_) {
    VcpuState v;
    v.regs = s->to_regs();
    v.cpuid = cpuid;
    img.vcpus.push_back(std::move(v));
  }
  return img;
}

Expected<void> SimDomain::check_state(const StateImage& img) const {
  if (img.vcpus.size() != config_.vcpus)
    return make_error(Errc::unsupported, "the saved state has {} vCPUs, this domain has {}",
                      img.vcpus.size(), config_.vcpus);
  for (std::size_t i = 0; i < img.vcpus.size(); ++i) {
    const VcpuState& v = img.vcpus[i];
    if (!v.regs)
      return make_error(Errc::unsupported, "vCPU {}: the saved state has no VCPU_REGS record", i);
    if (auto r = WorkState::check_regs(*v.regs); !r)
      return std::unexpected(r.error().context(fmt::format("vCPU {}", i)));
    if (v.cpuid)
      if (auto r = check_cpu_policy(v.cpuid->entries); !r)
        return std::unexpected(r.error().context(fmt::format("vCPU {}", i)));
  }
  return {};
}

Expected<void> SimDomain::load_state(const StateImage& img) {
  {
    std::lock_guard lk(mu_);
    const bool fresh_target = state_ == RunState::created && !config_.boot;
    if (!fresh_target && state_ != RunState::paused)
      return make_error(Errc::usage,
                        "sim: load_state() needs a paused domain or a restore target (it is {})",
                        run_state_name(state_));
  }
  TERN_TRY(check_state(img));
  if (faults_.fail_load_state.load())
    return make_error(Errc::io, "sim: injected failure of load_state");
  for (std::size_t i = 0; i < img.vcpus.size(); ++i) states_[i]->from_regs(*img.vcpus[i].regs);
  std::lock_guard lk(mu_);
  state_loaded_ = true;
  return {};
}

}  // namespace tern::vm::sim
