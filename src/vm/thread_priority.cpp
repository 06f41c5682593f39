#include "vm/thread_priority.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

namespace tern::vm {

Expected<void> set_threads_background(std::span<std::thread> threads, bool background) {
  const int policy = background ? SCHED_IDLE : SCHED_OTHER;
  const sched_param param{};  // priority 0: the only one both policies take
  for (std::size_t i = 0; i < threads.size(); ++i) {
    if (!threads[i].joinable()) continue;
    if (const int e = ::pthread_setschedparam(threads[i].native_handle(), policy, &param); e != 0)
      return errno_error(
          fmt::format("setting vCPU thread {} to {}", i, background ? "SCHED_IDLE" : "SCHED_OTHER"),
          e);
  }
  return {};
}

namespace {
constexpr int kBoostNice = -10;
}

ThreadBoost::ThreadBoost() {
  // With PRIO_PROCESS, Linux applies nice to the one thread whose id is given.
  const auto tid = static_cast<id_t>(::gettid());
  errno = 0;
  const int old = ::getpriority(PRIO_PROCESS, tid);
  if (errno != 0 || old <= kBoostNice) return;
  if (::setpriority(PRIO_PROCESS, tid, kBoostNice) != 0) return;  // not permitted: no boost
  old_nice_ = old;
  boosted_ = true;
}

void ThreadBoost::end() {
  if (!boosted_) return;
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), old_nice_);
  boosted_ = false;
}

}  // namespace tern::vm
