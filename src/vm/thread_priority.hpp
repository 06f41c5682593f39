// Host scheduling of a domain's vCPU threads.
//
// A migration's round 0 copies all of a guest's memory while the guest runs.
// On a host without a spare core, a busy vCPU thread (one that never halts)
// takes an equal share of the CPU the sender and the destination's receiver
// need, and the copy slows by a third or more. With `background` the vCPU
// threads run as SCHED_IDLE: they get the CPU nobody else wants — all of it
// on a host with spare cores, little on a saturated one — until the policy
// is set back to SCHED_OTHER.
#pragma once

#include <span>
#include <thread>

#include "core/error.hpp"

namespace tern::vm {

// Sets every thread of `threads` to SCHED_IDLE (background) or back to
// SCHED_OTHER; fails naming the thread and the reason.
Expected<void> set_threads_background(std::span<std::thread> threads, bool background);

// Raises the calling thread's priority (nice -10) for a scope: the
// switch-over of a migration, while the guest is paused on both hosts. On a
// host whose cores are all busy, a thread that blocks for a moment (on the
// socket, on the peer's answer) otherwise waits a scheduler slice or more
// to run again, and the guest's pause grows by milliseconds; measured here
// with two busy processes beside a 1 GiB migration, 7.5-8.8 ms -> 1.2-6.4.
// Needs CAP_SYS_NICE (or RLIMIT_NICE); without it nothing changes
// (boosted() says which). The old nice value is restored on destruction.
// Threads created meanwhile inherit the boost: start none in the scope.
class ThreadBoost {
 public:
  ThreadBoost();
  ~ThreadBoost() { end(); }
  ThreadBoost(const ThreadBoost&) = delete;
  ThreadBoost& operator=(const ThreadBoost&) = delete;
  // Restores the old priority now (idempotent).
  void end();
  [[nodiscard]] bool boosted() const { return boosted_; }

 private:
  int old_nice_ = 0;
  bool boosted_ = false;
};

}  // namespace tern::vm
