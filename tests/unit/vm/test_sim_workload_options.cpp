#include <gtest/gtest.h>

#include "vm/sim/workload_options.hpp"

using tern::vm::sim::parse_workload_options;

TEST(SimWorkloadOptions, DefaultsMatchTheGuest) {
  auto o = parse_workload_options("");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->passes, 3U);
  EXPECT_EQ(o->mib, 8U);
  EXPECT_EQ(o->ws, 8U);
  EXPECT_EQ(o->base, 0x200000U);
  EXPECT_EQ(o->pause_us, 0U);
  EXPECT_EQ(o->balloon_pages, 0U);
}

TEST(SimWorkloadOptions, ParsesEveryKeyAndSkipsTheKernelPath) {
  auto o = parse_workload_options(
      "/boot/tern-guest.elf passes=0 mib=0x10 ws=4 base=0x400000 pause=250 inject=2 io=direct "
      "fault=none balloon=128,16 bbase=0x40000000000");
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->passes, 0U);
  EXPECT_EQ(o->mib, 16U);
  EXPECT_EQ(o->ws, 4U);
  EXPECT_EQ(o->base, 0x400000U);
  EXPECT_EQ(o->pause_us, 250U);
  EXPECT_EQ(o->inject, 2U);
  EXPECT_EQ(o->balloon_pages, 128U);
  EXPECT_EQ(o->balloon_period, 16U);
  EXPECT_EQ(o->balloon_base, 0x40000000000U);
}

TEST(SimWorkloadOptions, BalloonDefaultsToRightAfterTheRegion) {
  auto o = parse_workload_options("mib=4 balloon=8");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->balloon_base, 0x200000U + (4U << 20));
  EXPECT_EQ(o->balloon_period, 64U);
}

TEST(SimWorkloadOptions, RefusesLikeTheGuest) {
  struct Case {
    const char* cmdline;
    const char* message;
  } cases[] = {
      {"passes=1 oops", "'oops' is not key=value"},
      {"colour=red", "unknown option 'colour=red'"},
      {"mib=0", "mib=0 out of range 1..16384"},
      {"mib=16385", "mib=16385 out of range 1..16384"},
      {"mib=4 ws=5", "ws=5 out of range 1..mib (4)"},
      {"base=0x1001", "base=0x1001 is not 4 KiB aligned"},
      {"pause=1000000001", "pause=1000000001 above 1000000000 us"},
      {"passes=12x", "bad value in 'passes=12x'"},
      {"passes=99999999999999999999", "bad value in 'passes=99999999999999999999'"},
      {"io=fast", "bad value in 'io=fast'"},
      {"balloon=65537", "balloon=65537 out of range 0..65536"},
      {"balloon=4,0", "bad value in 'balloon=4,0'"},
  };
  for (const auto& c : cases) {
    auto o = parse_workload_options(c.cmdline);
    ASSERT_FALSE(o) << c.cmdline;
    EXPECT_EQ(o.error().message(), c.message) << c.cmdline;
  }
}
