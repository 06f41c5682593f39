#include "core/trace.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

namespace tern {
namespace {

std::vector<trace::Span> named(std::string_view name) {
  std::vector<trace::Span> out;
  for (const trace::Span& s : trace::spans())
    if (s.name == name) out.push_back(s);
  return out;
}

TEST(Trace, ScopesAndInstantsAreRecordedInOrderWithTheirThreads) {
  trace::clear();
  {
    trace::Scope outer("test.outer");
    trace::instant("test.instant");
    std::thread([] { trace::Scope s("test.other_thread"); }).join();
    trace::Scope ended("test.ended_early");
    ended.done();
    ended.done();  // once only
  }
  const auto all = trace::spans();
  ASSERT_EQ(all.size(), 4U);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(),
                             [](const auto& a, const auto& b) { return a.begin < b.begin; }));
  const auto outer = named("test.outer"), inst = named("test.instant"),
             other = named("test.other_thread"), early = named("test.ended_early");
  ASSERT_EQ(outer.size(), 1U);
  ASSERT_EQ(inst.size(), 1U);
  ASSERT_EQ(other.size(), 1U);
  ASSERT_EQ(early.size(), 1U);
  EXPECT_EQ(inst[0].begin, inst[0].end);
  EXPECT_LE(outer[0].begin, inst[0].begin);
  EXPECT_GE(outer[0].end, early[0].end);  // the outer scope ended last
  EXPECT_EQ(outer[0].thread, inst[0].thread);
  EXPECT_NE(outer[0].thread, other[0].thread);
  EXPECT_GE(trace::ms_since_origin(outer[0].begin), 0.0);
  const std::string timeline = trace::format_timeline();
  EXPECT_NE(timeline.find("test.other_thread"), std::string::npos) << timeline;
  EXPECT_NE(timeline.find("[t"), std::string::npos) << timeline;
}

TEST(Trace, AFullTableDropsAndCountsInsteadOfGrowing) {
  trace::clear();
  for (int i = 0; i < 2000; ++i) trace::instant("test.many");
  EXPECT_LT(trace::spans().size(), 2000U);
  EXPECT_EQ(trace::spans().size() + trace::dropped(), 2000U);
  EXPECT_NE(trace::format_timeline().find("dropped"), std::string::npos);
  trace::clear();
  EXPECT_TRUE(trace::spans().empty());
  EXPECT_EQ(trace::dropped(), 0U);
}

TEST(Trace, TheOriginIsNoLaterThanStaticInitialisation) {
  EXPECT_LE(trace::origin(), trace::process_start());
  EXPECT_LE(trace::process_start(), trace::Clock::now());
  if (!trace::origin_from_environment()) {
    EXPECT_EQ(trace::origin(), trace::process_start());
  }
}

}  // namespace
}  // namespace tern
