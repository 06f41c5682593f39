#include <gtest/gtest.h>

#include <thread>

#include "sim_test_util.hpp"
#include "vm/sim/host_check.hpp"
#include "vm/sim/pattern.hpp"

namespace tern::vm {
namespace {

using namespace std::chrono_literals;
using testing::console_from;
using testing::copy_memory;
using testing::make_sim;
using testing::run_to_exit;
using testing::same_memory;
using testing::sim_config;

TEST(SimDomain, WritesTheGuestPatternAndEndsClean) {
  auto d = make_sim(sim_config("passes=3 mib=2"));
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->start());
  EXPECT_EQ(run_to_exit(*d), 0);
  const std::string out = d->console_text();
  EXPECT_NE(out.find("tern-guest: start passes=3 mib=2 ws=2 base=0x200000"), std::string::npos)
      << out;
  EXPECT_NE(out.find("pass 1: wrote 2 MiB, verified 0 MiB, 0 errors\n"), std::string::npos) << out;
  EXPECT_NE(out.find("pass 3: wrote 2 MiB, verified 2 MiB, 0 errors\n"), std::string::npos) << out;
  EXPECT_NE(out.find("final: verified 2 MiB, 0 errors\ntern-guest: done, passes=3 errors=0\n"),
            std::string::npos)
      << out;
  // Every word of the region holds the guest's pattern for pass 3.
  for (std::uint64_t addr = 0x200000; addr < 0x400000; addr += 8 * 61) {
    std::uint64_t w;
    std::memcpy(&w, d->page(addr >> kPageShift) + (addr & 0xfff), 8);
    ASSERT_EQ(w, sim::pattern_word(3, addr)) << std::hex << addr;
  }
  auto st = d->save_state();
  ASSERT_TRUE(st) << st.error().message();
  auto hc = sim::host_check(*d, *st);
  ASSERT_TRUE(hc) << hc.error().message();
  EXPECT_TRUE(hc->clean());
  EXPECT_EQ(hc->checked_pages, 512U);
}

TEST(SimDomain, RotatingWindowWithFourVcpus) {
  auto d = make_sim(sim_config("passes=5 mib=8 ws=3", 4));
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->start());
  EXPECT_EQ(run_to_exit(*d), 0);
  const std::string out = d->console_text();
  EXPECT_NE(out.find("pass 2: wrote 3 MiB, verified 3 MiB, 0 errors\n"), std::string::npos) << out;
  EXPECT_NE(out.find("pass 3: wrote 3 MiB, verified 6 MiB, 0 errors\n"), std::string::npos) << out;
  EXPECT_NE(out.find("pass 5: wrote 3 MiB, verified 8 MiB, 0 errors\n"), std::string::npos) << out;
  EXPECT_NE(out.find("tern-guest: done, passes=5 errors=0"), std::string::npos) << out;
}

TEST(SimDomain, InjectedBitFlipIsFoundByTheGuest) {
  auto d = make_sim(sim_config("passes=3 mib=2 inject=2", 2));
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->start());
  EXPECT_EQ(run_to_exit(*d), 1);
  const std::string out = d->console_text();
  EXPECT_NE(out.find("tern-guest: injected a flipped bit at 0x280000 after pass 2"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("tern-guest: mismatch at 0x280000"), std::string::npos) << out;
  EXPECT_NE(out.find("pass 3: wrote 2 MiB, verified 2 MiB, 1 errors"), std::string::npos) << out;
}

TEST(SimDomain, BadCommandLineEndsTheGuestLikeTheRealOne) {
  auto d = make_sim(sim_config("mib=0"));
  ASSERT_TRUE(d->start());
  EXPECT_EQ(run_to_exit(*d), 0x40);
  EXPECT_NE(d->console_text().find("tern-guest: bad command line: mib=0 out of range"),
            std::string::npos);
  auto big = make_sim(sim_config("mib=64"));  // 32 MiB of RAM
  ASSERT_TRUE(big->start());
  EXPECT_EQ(run_to_exit(*big), 0x40);
  EXPECT_NE(big->console_text().find("is not inside one available RAM range"), std::string::npos);
  auto fault = make_sim(sim_config("fault=ud"));
  ASSERT_TRUE(fault->start());
  EXPECT_EQ(run_to_exit(*fault), 0x41);
}

TEST(SimDomain, PauseFreezesMemoryAndStateUntilResume) {
  auto d = make_sim(sim_config("passes=0 mib=4", 2));
  ASSERT_TRUE(d->start());
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(d->pause());
  EXPECT_EQ(d->state(), RunState::paused);
  auto a = d->save_state();
  ASSERT_TRUE(a) << a.error().message();
  std::vector<std::byte> before(d->page(0x200), d->page(0x200) + (4 << 20));
  std::this_thread::sleep_for(20ms);
  auto b = d->save_state();
  ASSERT_TRUE(b);
  EXPECT_TRUE(*a == *b);
  EXPECT_EQ(std::memcmp(before.data(), d->page(0x200), before.size()), 0);
  auto hc = sim::host_check(*d, *a);
  ASSERT_TRUE(hc) << hc.error().message();
  EXPECT_TRUE(hc->clean()) << hc->mismatched_words;
  ASSERT_TRUE(d->resume());
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(d->pause());
  auto c = d->save_state();
  ASSERT_TRUE(c);
  EXPECT_FALSE(*a == *c);  // it moved on
  d->shutdown();
}

// Saves a running guest mid-pass, builds a second domain from its memory and
// state, and runs both to the end: the copy must print exactly what the
// original prints after the pause and end clean.
void round_trip_mid_pass(std::uint32_t vcpus) {
  const std::string cmdline = "passes=40 mib=8 ws=5";
  auto a = make_sim(sim_config(cmdline, vcpus));
  ASSERT_TRUE(a->start());
  std::this_thread::sleep_for(10ms);
  // Pause until vCPU 0 is inside a pass (not at a phase boundary).
  Expected<stream::domctx::StateImage> st = make_error(Errc::internal, "not paused");
  for (int tries = 0; tries < 1000; ++tries) {
    ASSERT_TRUE(a->pause());
    st = a->save_state();
    ASSERT_TRUE(st) << st.error().message();
    const kvm_regs& r = *st->vcpus[0].regs;
    const auto phase = static_cast<sim::Phase>(r.rip);
    if ((phase == sim::Phase::write || phase == sim::Phase::verify) && r.rbx > 0 && r.rdx == 0)
      break;
    ASSERT_TRUE(a->resume());
    std::this_thread::sleep_for(100us);
  }
  ASSERT_GT(st->vcpus[0].regs->rbx, 0U) << "never paused mid-pass";
  ASSERT_LT(st->vcpus[0].regs->rax, 40U);
  const std::size_t printed = a->console_text().size();

  DomainConfig target = sim_config(cmdline, vcpus);
  target.boot = false;
  auto b = make_sim(target);
  ASSERT_TRUE(b->start());
  copy_memory(*a, *b);
  std::string why;
  ASSERT_TRUE(same_memory(*a, *b, &why)) << why;
  ASSERT_TRUE(b->check_state(*st));
  ASSERT_TRUE(b->load_state(*st));
  auto hc = sim::host_check(*b, *st);
  ASSERT_TRUE(hc) << hc.error().message();
  EXPECT_TRUE(hc->clean());

  ASSERT_TRUE(b->resume());
  ASSERT_TRUE(a->resume());
  EXPECT_EQ(run_to_exit(*b), 0);
  EXPECT_EQ(run_to_exit(*a), 0);
  EXPECT_EQ(b->console_text(), a->console_text().substr(printed));
  EXPECT_NE(b->console_text().find("tern-guest: done, passes=40 errors=0"), std::string::npos)
      << b->console_text();
  EXPECT_TRUE(same_memory(*a, *b, &why)) << why;
}

TEST(SimDomain, StateRoundTripMidPassOneVcpu) { round_trip_mid_pass(1); }
TEST(SimDomain, StateRoundTripMidPassFourVcpus) { round_trip_mid_pass(4); }

TEST(SimDomain, CheckStateRefusesForeignState) {
  auto d = make_sim(sim_config("passes=0 mib=2", 2));
  ASSERT_TRUE(d->start());
  ASSERT_TRUE(d->pause());
  auto st = d->save_state();
  ASSERT_TRUE(st);
  d->shutdown();

  DomainConfig one = sim_config("", 1);
  one.boot = false;
  auto t1 = make_sim(one);
  auto r = t1->check_state(*st);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("2 vCPUs, this domain has 1"), std::string::npos);

  DomainConfig two = sim_config("", 2);
  two.boot = false;
  auto t2 = make_sim(two);
  auto kvm_like = *st;
  kvm_like.vcpus[1].regs->r15 = 0;
  r = t2->check_state(kvm_like);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("vCPU 1: vCPU registers were not saved by the sim backend"),
            std::string::npos)
      << r.error().message();

  auto future_cpu = *st;
  for (auto& e : future_cpu.vcpus[0].cpuid->entries)
    if (e.function == 7 && e.index == 0) e.ebx = 0xffffffff, e.ecx = 0xffffffef;
  r = t2->check_state(future_cpu);
  if (r) GTEST_SKIP() << "this host has every CPUID 7.0 feature bit";
  EXPECT_EQ(r.error().code(), Errc::unsupported);
  EXPECT_NE(r.error().message().find("this host's CPU lacks"), std::string::npos)
      << r.error().message();
  // Nothing was applied by the refused loads.
  EXPECT_FALSE(t2->load_state(future_cpu));
  EXPECT_FALSE(t2->resume());
}

TEST(SimDomain, DirtyLogReportsGuestWritesAndNothingWhilePaused) {
  auto d = make_sim(sim_config("passes=0 mib=4 ws=1"));
  ASSERT_TRUE(d->start());
  ASSERT_TRUE(d->start_dirty_log());
  std::this_thread::sleep_for(20ms);
  auto dirty = d->collect_dirty();
  ASSERT_TRUE(dirty);
  EXPECT_GT(dirty->count(), 0U);
  bool outside = false;
  dirty->for_each([&](std::uint64_t pfn) {
    const bool region = pfn >= 0x200 && pfn < 0x600;
    const bool tables = pfn >= 0x100 && pfn < 0x1a1;
    outside |= !region && !tables;
  });
  EXPECT_FALSE(outside);
  ASSERT_TRUE(d->pause());
  (void)d->collect_dirty();
  std::this_thread::sleep_for(10ms);
  auto quiet = d->collect_dirty();
  ASSERT_TRUE(quiet);
  EXPECT_EQ(quiet->count(), 0U);
  ASSERT_TRUE(d->depopulate(0x1000, 4));  // VMM map changes are reported too
  auto vmm = d->collect_dirty();
  ASSERT_TRUE(vmm);
  EXPECT_EQ(vmm->count(), 4U);
  EXPECT_TRUE(vmm->test(0x1003));
  ASSERT_TRUE(d->stop_dirty_log());
  d->shutdown();
}

TEST(SimDomain, BalloonChangesTheMapWhileTheGuestRuns) {
  auto d = make_sim(sim_config("passes=6 mib=4 balloon=256,8", 2));
  ASSERT_TRUE(d->start());
  const std::uint64_t g0 = d->map_generation();
  EXPECT_EQ(run_to_exit(*d), 0) << d->console_text();
  const std::uint64_t g1 = d->map_generation();
  EXPECT_GT(g1, g0 + 100);  // 6 passes x 1024 pages / 8 = 768 balloon steps
  auto st = d->save_state();
  ASSERT_TRUE(st);
  auto hc = sim::host_check(*d, *st);
  ASSERT_TRUE(hc);
  EXPECT_TRUE(hc->clean()) << hc->mismatched_words << " " << hc->map_mismatches;
  EXPECT_GT(hc->balloon_pages_present, 0U);
  EXPECT_LT(hc->balloon_pages_present, 256U);
  const MemoryMap m = d->memory_map();
  EXPECT_GT(m.extent_count(), 2U);
}

TEST(SimDomain, SparseFourTibAddressSpace) {
  // 8 MiB of RAM at 0, a balloon of 64 pages 4 MiB below the top of a 4 TiB
  // address space: pages appear and disappear there while the guest runs.
  DomainConfig c = sim_config("passes=4 mib=2 balloon=64,4 bbase=0x3ffffc00000", 1, 8ULL << 20);
  c.address_space_bytes = 4ULL << 40;
  auto d = make_sim(c);
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->start());
  EXPECT_EQ(run_to_exit(*d), 0) << d->console_text();
  const MemoryMap m = d->memory_map();
  EXPECT_GT(m.end_pfn(), 0x3ffffc00ULL);
  EXPECT_LE(m.populated_pages(), (8ULL << 20) / kPageSize + 64);
  EXPECT_NE(d->page((4ULL << 40) / kPageSize - 1), nullptr);
  EXPECT_EQ(d->page((4ULL << 40) / kPageSize), nullptr);
  auto st = d->save_state();
  ASSERT_TRUE(st);
  auto hc = sim::host_check(*d, *st);
  ASSERT_TRUE(hc);
  EXPECT_TRUE(hc->clean());
  EXPECT_GT(hc->balloon_pages_present, 0U);
  // Populating a far-away frame works and reads zero.
  ASSERT_TRUE(d->populate((3ULL << 40) / kPageSize, 1));
  EXPECT_EQ(d->page((3ULL << 40) / kPageSize)[100], std::byte{0});
}

TEST(SimDomain, FaultInjection) {
  auto d = make_sim(sim_config("passes=0 mib=2"));
  ASSERT_TRUE(d->start());
  ASSERT_TRUE(d->start_dirty_log());
  d->faults().fail_collect_dirty_at = 2;
  EXPECT_TRUE(d->collect_dirty());
  auto r = d->collect_dirty();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("collect_dirty call #2"), std::string::npos);
  EXPECT_TRUE(d->collect_dirty());
  ASSERT_TRUE(d->pause());
  d->faults().fail_save_state = true;
  EXPECT_FALSE(d->save_state());
  d->faults().fail_save_state = false;
  EXPECT_TRUE(d->save_state());
  d->shutdown();
}

TEST(SimDomain, ThrottleSlowsTheGuest) {
  auto fast = make_sim(sim_config("passes=0 mib=4"));
  auto slow = make_sim(sim_config("passes=0 mib=4"));
  slow->set_throttle(0.9);
  ASSERT_TRUE(fast->start());
  ASSERT_TRUE(slow->start());
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(fast->pause());
  ASSERT_TRUE(slow->pause());
  auto pf = fast->save_state(), ps = slow->save_state();
  ASSERT_TRUE(pf && ps);
  auto progress = [](const stream::domctx::StateImage& s) {
    return s.vcpus[0].regs->rax * 100000 + s.vcpus[0].regs->rbx;
  };
  EXPECT_LT(progress(*ps), progress(*pf));
}

}  // namespace
}  // namespace tern::vm
