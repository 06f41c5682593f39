// Writer -> reader round trips: synthetic PV and HVM streams, v2 and v3,
// checkpointed, every record's typed view, and the payloads byte for byte.
#include <gtest/gtest.h>

#include <map>

#include "libxc_test_util.hpp"
#include "stream/libxc/writer.hpp"

namespace tern::stream::libxc {
namespace {
using namespace testing;

struct Case {
  DomainType d;
  std::uint32_t version;
  std::uint32_t checkpoints;
  bool errata;
  bool xen_order;
};

class RoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(RoundTrip, ReadsBackWhatWasWritten) {
  const Case c = GetParam();
  SyntheticOptions o = opts(c.d, c.version, 600, 100);
  o.checkpoints = c.checkpoints;
  o.errata = c.errata;
  o.xen_order = c.xen_order;
  auto data = synth(o);
  for (bool skip : {false, true}) {
    MemorySource src(data);
    Reader r(src, ReaderOptions{skip});
    auto h = r.read_header();
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h->version, c.version);
    EXPECT_EQ(h->domain_type, c.d);
    EXPECT_EQ(h->xen_major, 4u);
    EXPECT_EQ(h->xen_minor, 17u);
    std::map<std::uint64_t, int> seen_pages;
    int checkpoints = 0, inferred = 0, sde = 0;
    std::vector<std::byte> expect(kX86PageSize);
    while (!r.ended()) {
      auto e = r.next();
      ASSERT_TRUE(e) << e.error().message();
      if (e->kind == EventKind::inferred_static_data_end) {
        ++inferred;
        continue;
      }
      const Record& rec = e->record;
      if (rec.is(RecordType::static_data_end)) ++sde;
      if (rec.is(RecordType::checkpoint)) {
        ++checkpoints;
        EXPECT_TRUE(r.checkpointed());
      }
      if (const auto* pd = std::get_if<PageData>(&rec.typed)) {
        EXPECT_EQ(pd->payload_skipped, skip);
        std::size_t d = 0;
        for (std::size_t i = 0; i < pd->count; ++i) {
          std::uint64_t pfn = pd->pfn(i);
          EXPECT_EQ(pd->type(i), static_cast<unsigned>(synthetic_page_type(c.d, pfn)));
          ++seen_pages[pfn];
          if (!page_type_has_data(pd->type(i))) continue;
          if (!skip) {
            synthetic_page(pfn, expect);
            ASSERT_EQ(0, std::memcmp(pd->pages.data() + d * kX86PageSize, expect.data(), kX86PageSize)) << "pfn " << pfn;
          }
          ++d;
        }
        EXPECT_EQ(d, pd->data_pages);
        if (!skip) {
          EXPECT_EQ(pd->pages.size(), d * kX86PageSize);
        }
      }
      if (const auto* hp = std::get_if<HvmParams>(&rec.typed); hp && hp->count > 0) {
        EXPECT_EQ(hp->param(0).index, 1u);
        EXPECT_EQ(hp->param(0).value, 0xFEFFFu);
      }
      if (const auto* t = std::get_if<TscInfo>(&rec.typed)) {
        EXPECT_EQ(t->khz, 2'000'000u);
      }
      if (const auto* pv = std::get_if<PvInfo>(&rec.typed)) {
        EXPECT_EQ(pv->guest_width, 8);
        EXPECT_EQ(pv->pt_levels, 4);
      }
      if (const auto* cp = std::get_if<CpuidPolicy>(&rec.typed)) {
        ASSERT_EQ(cp->size(), 3u);
        EXPECT_EQ(cp->leaf(1).leaf, 1u);
        EXPECT_EQ(cp->leaf(0).b, 0x756E6547u);
      }
      if (const auto* mp = std::get_if<MsrPolicy>(&rec.typed)) {
        ASSERT_EQ(mp->size(), 2u);
        EXPECT_EQ(mp->entry(0).idx, 0xCEu);
        EXPECT_EQ(mp->entry(0).val, 0x80000000u);
      }
    }
    ASSERT_TRUE(r.expect_end_of_input());
    EXPECT_EQ(checkpoints, static_cast<int>(c.checkpoints));
    EXPECT_EQ(inferred, c.version == 2 ? 1 : 0);
    EXPECT_EQ(sde, c.version == 3 ? 1 : 0);
    EXPECT_EQ(seen_pages.size(), 600u);
  }
}

INSTANTIATE_TEST_SUITE_P(All, RoundTrip,
                         ::testing::Values(Case{DomainType::x86_pv, 3, 0, false, false}, Case{DomainType::x86_pv, 2, 0, false, false},
                                           Case{DomainType::x86_hvm, 3, 0, false, false}, Case{DomainType::x86_hvm, 2, 0, false, false},
                                           Case{DomainType::x86_hvm, 3, 0, false, true}, Case{DomainType::x86_hvm, 2, 2, false, true},
                                           Case{DomainType::x86_pv, 3, 3, false, false}, Case{DomainType::x86_hvm, 3, 3, true, false},
                                           Case{DomainType::x86_pv, 3, 1, true, false}, Case{DomainType::x86_pv, 2, 2, true, false}));

TEST(LibxcSummary, CountsRecordsPagesAndFlags) {
  SyntheticOptions o = opts(DomainType::x86_pv, 2, 3000, 1000);
  o.checkpoints = 2;
  auto data = synth(o);
  MemorySource src(data);
  auto s = summarize(src, ReaderOptions{true});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->header.version, 2u);
  EXPECT_EQ(s->header.domain_type, DomainType::x86_pv);
  EXPECT_TRUE(s->static_data_end_inferred);
  EXPECT_EQ(s->static_data_end_index, 1u);  // before record #1 (X86_PV_P2M_FRAMES)
  EXPECT_EQ(s->checkpoints, 2u);
  EXPECT_TRUE(s->ended);
  EXPECT_EQ(s->pfn_min, 0u);
  EXPECT_EQ(s->pfn_max, 2999u);
  EXPECT_EQ(s->by_type[code(RecordType::page_data)].count, 3u + 2u);  // 3 batches + 1 per checkpoint
  EXPECT_EQ(s->by_type[code(RecordType::x86_pv_vcpu_basic)].count, 2u * 3u);
  EXPECT_EQ(s->pages_by_type[static_cast<unsigned>(PageType::l4tab_pin)], 1u);
  EXPECT_EQ(s->pages_by_type[static_cast<unsigned>(PageType::xtab)], 5u);  // pfn 508, 1017, ... of 3000 (+ re-sent)
  EXPECT_EQ(s->end_offset, data.size());
  std::uint64_t total = 40;
  for (const auto& st : s->by_type) total += st.bytes;
  EXPECT_EQ(total, data.size());
  EXPECT_EQ(s->data_pages, s->pfn_entries - s->pages_by_type[13] - s->pages_by_type[14] - s->pages_by_type[15]);
}

TEST(LibxcWriter, AlignedBatchesPutEveryFullBatchsPagesOn4KiB) {
  SyntheticOptions o = opts(DomainType::x86_hvm, 3, 5000, 1024);
  o.align_pages = true;
  auto data = synth(o);
  MemorySource src(data);
  Reader r(src);
  ASSERT_TRUE(r.read_header());
  int aligned = 0, batches = 0;
  while (!r.ended()) {
    auto e = r.next();
    ASSERT_TRUE(e) << e.error().message();
    if (const auto* pd = std::get_if<PageData>(&e->record.typed)) {
      ++batches;
      auto off = static_cast<std::uint64_t>(pd->pages.data() - data.data());
      if (off % 4096 == 0) ++aligned;
    }
  }
  EXPECT_GE(batches, 5);
  EXPECT_GE(aligned, batches - 1);  // only the short last batch may be unaligned
}

TEST(LibxcWriter, AlignedBatchCount) {
  for (std::uint64_t off : {40ull, 48ull, 4096ull - 16, 4096ull, 123456ull * 8}) {
    for (std::uint32_t max : {512u, 1024u, 4096u}) {
      std::uint32_t c = aligned_batch_count(off, max);
      ASSERT_GE(c, 1u);
      ASSERT_LE(c, max);
      EXPECT_EQ((off + 16 + 8ull * c) % 4096, 0u) << off << " " << max;
      EXPECT_GT(c + 512, max) << "largest solution";
    }
  }
  EXPECT_EQ(aligned_batch_count(40, 10), 10u);  // no solution <= 10: max_batch
}

TEST(LibxcWriter, RefusesRecordsTheRulesForbid) {
  VectorSink sink;
  Writer w(sink);
  StreamHeader h;
  h.domain_type = DomainType::x86_hvm;
  ASSERT_TRUE(w.write_header(h));
  std::uint64_t e[] = {make_pfn_entry(1, PageType::xtab)};
  auto r = w.write_page_data(e, Bytes{});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("before STATIC_DATA_END"), std::string::npos) << r.error().message();
  ASSERT_TRUE(w.write_static_data_end());
  ASSERT_TRUE(w.write_page_data(e, Bytes{}));
  auto pv = w.write_pv_info(PvInfo{8, 4});
  ASSERT_FALSE(pv);
  std::uint64_t bad[] = {make_pfn_entry(1, PageType::notab)};
  EXPECT_FALSE(w.write_page_data(bad, Bytes{}));  // a NOTAB page needs 4096 bytes
  ASSERT_TRUE(w.write_end());
  EXPECT_FALSE(w.write_end());
  EXPECT_EQ(read_all(sink.data()), "");
}

}  // namespace
}  // namespace tern::stream::libxc
