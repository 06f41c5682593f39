// StreamSender's rounds: the classification of frames (data, zero, XTAB)
// must not depend on whether the backend's never-written hint is asked
// (round 0 and pre-copy rounds ask it; the final round, with the guest
// paused, reads the frames instead).
#include <gtest/gtest.h>

#include <cstring>

#include "migrate/stream_sender.hpp"
#include "migrate_test_util.hpp"

namespace tern::migrate {
namespace {

using namespace testing;

RoundStats send_round(vm::Domain& d, const vm::DomainConfig& cfg, const vm::DirtyBitmap& set,
                      bool zero_hint) {
  VectorSink sink;
  StreamSender s(d, sink);
  EXPECT_TRUE(s.begin(ImageConfig::from(cfg, vm::Backend::sim)));
  auto r = s.send(set, zero_hint);
  EXPECT_TRUE(r) << r.error().message();
  return r ? *r : RoundStats{};
}

TEST(StreamSender, FinalRoundWithoutTheZeroHintClassifiesTheSameFrames) {
  const auto cfg = sim_config("", 1, 16ULL << 20);
  auto d = make_sim(cfg);
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->populate(10, 4));  // (a sim domain's RAM is populated when it boots)
  // Frame 10 holds data, frame 11 was written with zeros, frame 12 was
  // never written, frame 13 is removed from the map (XTAB).
  std::memset(d->page(10), 0x5a, vm::kPageSize);
  std::memset(d->page(11), 0, vm::kPageSize);
  ASSERT_TRUE(d->depopulate(13, 1));
  vm::DirtyBitmap set;
  set.set_range(10, 4);
  for (const bool hint : {true, false}) {
    SCOPED_TRACE(hint ? "with the zero hint" : "without the zero hint");
    const RoundStats st = send_round(*d, cfg, set, hint);
    EXPECT_EQ(st.planned, 4U);
    EXPECT_EQ(st.data_pages, 1U);
    EXPECT_EQ(st.zero_pages, 2U);
    EXPECT_EQ(st.xtab_pages, 1U);
  }
}

}  // namespace
}  // namespace tern::migrate
