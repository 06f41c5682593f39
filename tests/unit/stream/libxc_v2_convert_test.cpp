// v2 streams: the STATIC_DATA_END inference point, and v2 -> v3 conversion.
#include <gtest/gtest.h>

#include <cstring>

#include "libxc_test_util.hpp"
#include "stream/libxc/convert.hpp"

namespace tern::stream::libxc {
namespace {
using namespace testing;

// A source that copies every read into one reused buffer, as a buffered fd
// source may: views die at the next read, so lifetime bugs show up.
class ReusingSource final : public ByteSource {
 public:
  explicit ReusingSource(Bytes d) : inner_(d) {}
  Expected<Bytes> read(std::size_t n) override {
    TERN_TRY_ASSIGN(Bytes b, inner_.read(n));
    buf_.assign(buf_.size(), std::byte{0xEE});  // scribble over the previous view
    buf_.assign(b.begin(), b.end());
    return Bytes(buf_);
  }
  Expected<std::uint64_t> skip(std::uint64_t n) override {
    buf_.assign(buf_.size(), std::byte{0xEE});
    return inner_.skip(n);
  }
  [[nodiscard]] std::uint64_t offset() const override { return inner_.offset(); }

 private:
  MemorySource inner_;
  std::vector<std::byte> buf_;
};

// Event list: record type names, with "INFERRED" where the reader infers.
std::vector<std::string> events(Bytes data, ReaderOptions ro = {}) {
  MemorySource src(data);
  Reader r(src, ro);
  EXPECT_TRUE(r.read_header());
  std::vector<std::string> out;
  while (!r.ended()) {
    auto e = r.next();
    if (!e) {
      ADD_FAILURE() << e.error().message();
      break;
    }
    out.push_back(e->kind == EventKind::inferred_static_data_end ? "INFERRED" : record_type_name(e->record.type));
  }
  return out;
}

TEST(LibxcV2, PvInfersBeforeFirstP2mFramesOnce) {
  auto recs = pv_records(2);
  recs.insert(recs.begin() + 1, rec(RecordType::x86_tsc_info, std::vector<std::byte>(24)));
  recs.insert(recs.end() - 1, p2m());  // a second P2M_FRAMES: no second inference
  auto ev = events(build(DomainType::x86_pv, 2, recs));
  std::vector<std::string> want{"X86_PV_INFO", "X86_TSC_INFO", "INFERRED", "X86_PV_P2M_FRAMES", "PAGE_DATA",
                                "X86_PV_VCPU_BASIC", "X86_PV_P2M_FRAMES", "END"};
  EXPECT_EQ(ev, want);
}

TEST(LibxcV2, HvmInfersBeforeFirstPageDataOnce) {
  auto recs = hvm_records(2);
  recs.insert(recs.begin(), hvm_params(1));
  recs.insert(recs.end() - 1, page_data({make_pfn_entry(9, PageType::notab)}));
  auto ev = events(build(DomainType::x86_hvm, 2, recs));
  std::vector<std::string> want{"HVM_PARAMS", "INFERRED", "PAGE_DATA", "HVM_PARAMS", "HVM_CONTEXT", "PAGE_DATA", "END"};
  EXPECT_EQ(ev, want);
}

TEST(LibxcV2, InferredEventCarriesThePositionOfTheNextRecord) {
  auto data = synth(opts(DomainType::x86_hvm, 2));
  MemorySource src(data);
  Reader r(src);
  ASSERT_TRUE(r.read_header());
  auto e = r.next();
  ASSERT_TRUE(e);
  ASSERT_EQ(e->kind, EventKind::inferred_static_data_end);
  EXPECT_TRUE(e->record.is(RecordType::static_data_end));
  EXPECT_EQ(e->record.offset, 40u);
  EXPECT_EQ(e->record.index, 0u);
  EXPECT_TRUE(r.rules().static_data_end_inferred());
  auto p = r.next();
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->record.is(RecordType::page_data));
  EXPECT_EQ(p->record.offset, 40u);
}

TEST(LibxcV2, V3OnlyRecordsAndStaticAfterInferenceRejected) {
  auto recs = hvm_records(2);
  recs.insert(recs.begin(), rec(RecordType::x86_cpuid_policy));
  expect_rejected(build(DomainType::x86_hvm, 2, recs), "X86_CPUID_POLICY is a v3 record, not valid in a v2 stream");
  auto pv = pv_records(2);
  pv.insert(pv.begin() + 3, pv_info());
  expect_rejected(build(DomainType::x86_pv, 2, pv),
                  "record #3 (X86_PV_INFO): static data record X86_PV_INFO after STATIC_DATA_END (inferred for this v2 stream)");
}

void expect_converted(const std::vector<std::byte>& v2, std::uint32_t expected_sde_index) {
  VectorSink out;
  MemorySource in(v2);
  auto c = convert_to_v3(in, out);
  ASSERT_TRUE(c) << c.error().message();
  const auto& v3 = out.data();
  EXPECT_EQ(load_be<std::uint32_t>(v3.data() + 12), 3u);
  EXPECT_EQ(0, std::memcmp(v3.data() + 16, v2.data() + 16, 24));  // everything else in the headers unchanged
  MemorySource src(v3);
  auto s = summarize(src);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->header.version, 3u);
  EXPECT_FALSE(s->static_data_end_inferred);
  EXPECT_EQ(s->by_type[code(RecordType::static_data_end)].count, 1u);
  EXPECT_EQ(s->static_data_end_index, expected_sde_index);
  EXPECT_EQ(v3.size(), v2.size() + 8);
  // Records other than the inserted one are byte-identical.
  std::size_t sde_at = 40;
  for (const auto& p : record_positions(v3))
    if (p.type == code(RecordType::static_data_end)) sde_at = p.offset;
  EXPECT_EQ(0, std::memcmp(v3.data() + 40, v2.data() + 40, sde_at - 40));
  EXPECT_EQ(0, std::memcmp(v3.data() + sde_at + 8, v2.data() + sde_at, v2.size() - sde_at));
}

TEST(LibxcConvert, V2ToV3PutsStaticDataEndAtTheInferredPoint) {
  SyntheticOptions o = opts(DomainType::x86_pv, 2, 700, 128);
  o.checkpoints = 2;
  o.errata = true;
  expect_converted(synth(o), 1);  // X86_PV_INFO, [SDE], P2M_FRAMES
  o = opts(DomainType::x86_hvm, 2, 700, 128);
  o.checkpoints = 2;
  o.xen_order = true;
  expect_converted(synth(o), 0);  // [SDE], PAGE_DATA
}

TEST(LibxcConvert, OddV2StreamsGetStaticDataEndBeforeTheirFirstDynamicRecord) {
  auto recs = hvm_records(2);
  recs.insert(recs.begin(), hvm_params(1));  // before the inference point
  expect_converted(build(DomainType::x86_hvm, 2, recs), 0);
  expect_converted(build(DomainType::x86_hvm, 2, {rec(RecordType::end)}), 0);  // no pages at all
}

TEST(LibxcConvert, RecordByRecordAcrossCheckpoints) {
  SyntheticOptions o = opts(DomainType::x86_hvm, 2, 100, 32);
  o.checkpoints = 2;
  auto v2 = synth(o);
  MemorySource in(v2);
  Reader r(in);
  auto h = r.read_header();
  ASSERT_TRUE(h);
  VectorSink out;
  Writer w(out);
  ASSERT_TRUE(w.write_header(v3_header_for(*h)));
  std::vector<RecordType> stops;
  while (!r.ended()) {
    auto t = convert_records(r, w);
    ASSERT_TRUE(t) << t.error().message();
    stops.push_back(*t);
  }
  EXPECT_EQ(stops, (std::vector<RecordType>{RecordType::checkpoint, RecordType::checkpoint, RecordType::end}));
  EXPECT_EQ(read_all(out.data()), "");
  // Skipping payloads makes conversion impossible: refused, not silently lossy.
  MemorySource in2(v2);
  Reader r2(in2, ReaderOptions{true});
  ASSERT_TRUE(r2.read_header());
  VectorSink out2;
  Writer w2(out2);
  ASSERT_TRUE(w2.write_header(v3_header_for(r2.header())));
  EXPECT_FALSE(convert_records(r2, w2));
}

TEST(LibxcConvert, InvalidV2InputIsReported) {
  auto v2 = synth(opts(DomainType::x86_hvm, 2));
  v2.resize(v2.size() - 8);  // no END
  VectorSink out;
  MemorySource in(v2);
  auto c = convert_to_v3(in, out);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("input ends where a record header was expected"), std::string::npos);
}

TEST(LibxcReader, BufferedSourceWithShortLivedViews) {
  SyntheticOptions o = opts(DomainType::x86_pv, 2, 300, 64);
  o.checkpoints = 1;
  auto data = synth(o);
  for (bool skip : {false, true}) {
    ReusingSource src(data);
    auto s = summarize(src, ReaderOptions{skip});
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->pfn_max, 299u);
    EXPECT_EQ(s->pages_by_type[static_cast<unsigned>(PageType::l4tab_pin)], 1u);
  }
  // Conversion reads page payloads through short-lived views too.
  ReusingSource src(data);
  VectorSink out;
  ASSERT_TRUE(convert_to_v3(src, out));
  EXPECT_EQ(read_all(out.data()), "");
}

}  // namespace
}  // namespace tern::stream::libxc
