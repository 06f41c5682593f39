// The vCPU threads and the pause protocol.
//
// Each vCPU runs KVM_RUN in a loop on its own thread. pause() sets a flag and
// kicks every thread with a signal whose handler sets the thread's
// kvm_run.immediate_exit, so KVM_RUN returns at once whether the signal
// lands before, during or after the ioctl. A thread that sees the flag
// re-enters KVM_RUN once with immediate_exit set, which completes a pending
// port read (KVM writes the value into the guest's register and moves RIP)
// without running guest code, and only then parks. pause() returns when
// every thread is parked, so nothing changes while state is read.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "vm/domain.hpp"
#include "vm/kvm/vcpu.hpp"

namespace tern::vm::kvm {

// What a vCPU exit means for the whole domain.
struct ExitOutcome {
  enum class Kind { keep_running, guest_exit, failure } kind = Kind::keep_running;
  std::uint32_t value = 0;     // guest_exit
  std::optional<Error> error;  // failure
};

class Runner {
 public:
  using ExitHandler = std::function<ExitOutcome(Vcpu&)>;
  Runner(std::vector<Vcpu*> vcpus, ExitHandler handler);
  ~Runner() { stop(); }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Spawns the vCPU threads, running.
  void start();
  [[nodiscard]] bool started() const { return !threads_.empty(); }
  Expected<void> pause();
  Expected<void> resume();
  void set_throttle(double fraction);
  // vCPU threads as SCHED_IDLE or SCHED_OTHER (vm/thread_priority.hpp).
  Expected<void> set_background(bool background);
  // Ends the threads (joined); the run state stays what it was (paused if running).
  void stop();

  // running, paused, exited or failed (created before start()).
  [[nodiscard]] RunState state() const;
  Expected<std::optional<GuestExit>> wait_exit(std::optional<std::chrono::milliseconds> timeout);

 private:
  void vcpu_main(std::size_t i);
  void ticker_main();
  ExitOutcome run_until_told(Vcpu& v);
  void complete_pending_io(Vcpu& v);
  void finish(const ExitOutcome& o);
  void kick_all();
  void throttle_sleep(std::chrono::steady_clock::time_point& slice_start);

  std::vector<Vcpu*> vcpus_;
  ExitHandler handler_;
  std::vector<std::thread> threads_;
  std::thread ticker_;

  mutable std::mutex mu_;
  std::condition_variable cv_;         // parked_/state changes, pause/stop requests
  std::condition_variable ticker_cv_;  // throttle on/off
  std::atomic<bool> pause_req_{false};
  std::atomic<bool> stop_{false};
  bool joined_ = false;  // stop() ran: nothing will change any more
  std::atomic<double> throttle_{0.0};
  std::size_t parked_ = 0;
  RunState state_ = RunState::created;
  std::uint32_t exit_value_ = 0;
  std::optional<Error> failure_;
};

}  // namespace tern::vm::kvm
