// vm::ThreadBoost (raised priority for a migration's switch-over) and
// set_threads_background (SCHED_IDLE vCPU threads during round 0).
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "vm/thread_priority.hpp"

namespace tern::vm {
namespace {

int my_nice() { return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())); }

TEST(ThreadBoost, RaisesThisThreadOnlyAndRestores) {
  std::thread([] {  // a thread of its own: the test runner's nice stays as it was
    const int before = my_nice();
    std::atomic<int> other_seen{1000};
    {
      ThreadBoost b;
      if (!b.boosted()) {
        EXPECT_EQ(my_nice(), before) << "no boost, no change";
        return;
      }
      EXPECT_EQ(my_nice(), -10);
      // Another thread that existed before is not affected.
      std::atomic<bool> go{false};
      std::thread t([&] {
        while (!go) std::this_thread::yield();
        other_seen = my_nice();
      });
      go = true;
      t.join();  // (created inside the scope: it inherits the boost, as documented)
      EXPECT_EQ(other_seen.load(), -10);
      b.end();
      EXPECT_EQ(my_nice(), before);
      b.end();  // idempotent
      EXPECT_EQ(my_nice(), before);
    }
    EXPECT_EQ(my_nice(), before);
  })
      .join();
}

TEST(ThreadBackground, SchedIdleAndBack) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] {
      while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
  auto policy = [](std::thread& t) {
    int p = -1;
    sched_param sp{};
    EXPECT_EQ(::pthread_getschedparam(t.native_handle(), &p, &sp), 0);
    return p;
  };
  ASSERT_TRUE(set_threads_background(threads, true));
  for (auto& t : threads) EXPECT_EQ(policy(t), SCHED_IDLE);
  ASSERT_TRUE(set_threads_background(threads, false));
  for (auto& t : threads) EXPECT_EQ(policy(t), SCHED_OTHER);
  stop = true;
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace tern::vm
