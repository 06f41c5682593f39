#include "vm/thread_priority.hpp"

#include <pthread.h>
#include <sched.h>

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

}  // namespace tern::vm
