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

}  // namespace tern::vm
