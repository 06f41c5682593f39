// The reader rejects every way a stream can be broken, and every message
// names the offset, the record and the rule.
#include <gtest/gtest.h>

#include "libxc_test_util.hpp"

namespace tern::stream::libxc {
namespace {
using namespace testing;

TEST(LibxcCorruption, HandBuiltBaselinesAreValid) {
  for (std::uint32_t v : {2u, 3u}) {
    EXPECT_EQ(read_all(build(DomainType::x86_pv, v, pv_records(v))), "");
    EXPECT_EQ(read_all(build(DomainType::x86_hvm, v, hvm_records(v))), "");
  }
}

TEST(LibxcCorruption, TruncationAtEveryRecordBoundaryAndManyMidRecordOffsets) {
  SyntheticOptions o = opts(DomainType::x86_pv, 3, 40, 16);
  o.checkpoints = 1;
  auto full = synth(o);
  std::vector<std::size_t> cuts;
  for (const auto& p : record_positions(full)) {
    for (std::size_t d : {0, 1, 4, 7, 8, 9, 15}) cuts.push_back(p.offset + d);
    cuts.push_back(p.offset + 8 + p.length / 2);
    cuts.push_back(p.offset + 8 + p.length);  // before padding (or next record)
  }
  for (std::size_t c = 0; c < full.size(); c += 97) cuts.push_back(c);
  for (std::size_t c = 0; c <= 40; ++c) cuts.push_back(c);
  for (bool skip : {false, true}) {
    for (std::size_t c : cuts) {
      if (c >= full.size()) continue;
      std::vector<std::byte> t(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(c));
      std::string msg = read_all(t, ReaderOptions{skip});
      ASSERT_FALSE(msg.empty()) << "truncated at " << c << " accepted";
      EXPECT_NE(msg.find("libxc stream: offset "), std::string::npos) << msg;
      if (c >= 40) {
        EXPECT_NE(msg.find("record #"), std::string::npos) << msg;
      }
    }
  }
}

TEST(LibxcCorruption, EveryHeaderField) {
  auto good = build(DomainType::x86_hvm, 3, hvm_records(3));
  struct Mut {
    std::size_t off;
    std::byte val;
    const char* what;
  };
  const Mut muts[] = {
      {0, std::byte{0x00}, "offset 0: image header: marker"},
      {7, std::byte{0xFE}, "offset 0: image header: marker"},
      {8, std::byte{0x59}, "offset 8: image header: id"},
      {15, std::byte{0x04}, "offset 12: image header: version 4"},
      {15, std::byte{0x01}, "offset 12: image header: version 1"},
      {17, std::byte{0x01}, "offset 16: image header: big-endian"},
      {17, std::byte{0x02}, "offset 16: image header: reserved option bits 0x0002"},
      {16, std::byte{0x80}, "offset 16: image header: reserved option bits 0x8000"},
      {18, std::byte{0x01}, "offset 18: image header: reserved bytes"},
      {23, std::byte{0x01}, "offset 18: image header: reserved bytes"},
      {24, std::byte{0x00}, "offset 24: domain header: domain type 0x0"},
      {24, std::byte{0x03}, "offset 24: domain header: domain type 0x3"},
      {27, std::byte{0x01}, "offset 24: domain header: domain type 0x1000002"},
      {28, std::byte{0x0D}, "offset 28: domain header: page_shift 13"},
      {30, std::byte{0x01}, "offset 30: domain header: reserved field"},
  };
  for (const Mut& m : muts) {
    auto s = good;
    s[m.off] = m.val;
    expect_rejected(s, m.what);
  }
  // The domain type changed to PV makes HVM records foreign.
  auto s = good;
  s[24] = std::byte{1};
  expect_rejected(s, "record #1 (PAGE_DATA): PAGE_DATA before X86_PV_P2M_FRAMES");
  // Version 3 -> 2: STATIC_DATA_END does not exist in v2.
  s = good;
  s[15] = std::byte{2};
  expect_rejected(s, "record #0 (STATIC_DATA_END): STATIC_DATA_END is a v3 record, not valid in a v2 stream");
}

TEST(LibxcCorruption, BadPadding) {
  auto recs = hvm_records(3);
  recs.insert(recs.begin() + 1, Raw{0x80000001u, std::vector<std::byte>(5, std::byte{1})});  // 3 bytes of padding
  auto s = build(DomainType::x86_hvm, 3, recs);
  EXPECT_EQ(read_all(s), "");
  auto pos = record_positions(s)[1];
  s[pos.offset + 8 + 5 + 2] = std::byte{1};
  expect_rejected(s, "record #1 (UNKNOWN_OPTIONAL(0x80000001)): padding bytes are not zero");
}

TEST(LibxcCorruption, PvOrderIsEnforced) {
  using R = RecordType;
  auto pd = page_data({make_pfn_entry(1, PageType::notab)});
  auto v = vcpu(R::x86_pv_vcpu_basic);
  expect_rejected(build(DomainType::x86_pv, 3, {rec(R::static_data_end), p2m()}),
                  "record #1 (X86_PV_P2M_FRAMES): X86_PV_P2M_FRAMES before X86_PV_INFO");
  expect_rejected(build(DomainType::x86_pv, 3, {pv_info(), rec(R::static_data_end), pd}),
                  "record #2 (PAGE_DATA): PAGE_DATA before X86_PV_P2M_FRAMES");
  expect_rejected(build(DomainType::x86_pv, 3, {pv_info(), rec(R::static_data_end), p2m(), v}),
                  "record #3 (X86_PV_VCPU_BASIC): X86_PV_VCPU_BASIC before any PAGE_DATA");
  expect_rejected(build(DomainType::x86_pv, 3, {pv_info(), rec(R::static_data_end), p2m(), pd, v, pd}),
                  "record #5 (PAGE_DATA): PAGE_DATA after vCPU records of the same checkpoint");
  // After a CHECKPOINT the next round sends pages again.
  EXPECT_EQ(read_all(build(DomainType::x86_pv, 3,
                           {pv_info(), rec(R::static_data_end), p2m(), pd, v, rec(R::checkpoint), pd, v, rec(R::end)})),
            "");
  expect_rejected(build(DomainType::x86_pv, 3, {pv_info(), rec(R::static_data_end), pv_info()}),
                  "record #2 (X86_PV_INFO): static data record X86_PV_INFO after STATIC_DATA_END");
  expect_rejected(build(DomainType::x86_pv, 3, {pv_info(), rec(R::static_data_end), rec(R::static_data_end)}),
                  "record #2 (STATIC_DATA_END): second STATIC_DATA_END");
}

TEST(LibxcCorruption, HvmAcceptsBothParamsContextOrders) {
  using R = RecordType;
  auto pd = page_data({make_pfn_entry(1, PageType::notab)});
  for (std::uint32_t v : {2u, 3u}) {
    std::vector<Raw> spec, xen;
    if (v == 3) spec.push_back(rec(R::static_data_end)), xen.push_back(rec(R::static_data_end));
    spec.insert(spec.end(), {pd, hvm_params(3), hvm_context(), rec(R::end)});
    xen.insert(xen.end(), {pd, hvm_context(), hvm_params(3), rec(R::end)});
    EXPECT_EQ(read_all(build(DomainType::x86_hvm, v, spec)), "");
    EXPECT_EQ(read_all(build(DomainType::x86_hvm, v, xen)), "");
  }
}

TEST(LibxcCorruption, V3WithoutStaticDataEndRejected) {
  auto recs = hvm_records(3);
  recs.erase(recs.begin());
  expect_rejected(build(DomainType::x86_hvm, 3, recs),
                  "offset 40: record #0 (PAGE_DATA): PAGE_DATA before STATIC_DATA_END (v3 requires it");
  auto pv = pv_records(3);
  pv.erase(pv.begin() + 1);
  expect_rejected(build(DomainType::x86_pv, 3, pv), "record #1 (X86_PV_P2M_FRAMES): X86_PV_P2M_FRAMES before STATIC_DATA_END");
  // Same thing cut from a synthetic stream.
  auto s = synth(opts(DomainType::x86_hvm, 3));
  for (const auto& p : record_positions(s)) {
    if (p.type != code(RecordType::static_data_end)) continue;
    s.erase(s.begin() + static_cast<std::ptrdiff_t>(p.offset), s.begin() + static_cast<std::ptrdiff_t>(p.offset + 8));
    break;
  }
  expect_rejected(s, "(PAGE_DATA): PAGE_DATA before STATIC_DATA_END");
}

TEST(LibxcCorruption, UnknownMandatoryRejectedUnknownOptionalAccepted) {
  auto recs = hvm_records(3);
  recs.insert(recs.begin() + 2, Raw{0x13, std::vector<std::byte>(8)});
  expect_rejected(build(DomainType::x86_hvm, 3, recs), "record #2 (UNKNOWN(0x13)): unknown mandatory record type 0x13");
  recs[2].type = 0x7FFFFFFF;
  expect_rejected(build(DomainType::x86_hvm, 3, recs), "unknown mandatory record type 0x7fffffff");
  recs[2].type = 0x80000013;
  auto s = build(DomainType::x86_hvm, 3, recs);
  MemorySource src(s);
  auto sum = summarize(src);
  ASSERT_TRUE(sum) << sum.error().message();
  ASSERT_EQ(sum->optional_unknown.count(0x80000013u), 1u);
  EXPECT_EQ(sum->optional_unknown.at(0x80000013u).count, 1u);
  EXPECT_EQ(sum->optional_unknown.at(0x80000013u).bytes, 16u);
}

TEST(LibxcCorruption, BadPfnTypesAndReservedBits) {
  using R = RecordType;
  for (std::uint64_t t = 5; t <= 8; ++t) {
    std::vector<Raw> r{rec(R::static_data_end),
                       page_data({make_pfn_entry(1, PageType::notab), make_pfn_entry(2, PageType::xtab), (t << 60) | 0x1234}),
                       rec(R::end)};
    expect_rejected(build(DomainType::x86_hvm, 3, r),
                    fmt::format("libxc stream: offset 48: record #1 (PAGE_DATA): pfn[2] 0x1234 has reserved page type {:#x}", t));
    expect_rejected(build(DomainType::x86_hvm, 3, r), "pfn[2] 0x1234 has reserved page type", ReaderOptions{true});
  }
  for (unsigned bit = 52; bit <= 59; ++bit) {
    std::vector<Raw> r{rec(R::static_data_end), page_data({make_pfn_entry(7, PageType::xtab) | (1ull << bit)}), rec(R::end)};
    expect_rejected(build(DomainType::x86_hvm, 3, r), "record #1 (PAGE_DATA): pfn[0] 0x7 has reserved bits 59-52 set");
  }
  // count 0, reserved field, payload size mismatches.
  std::vector<std::byte> zero(8);
  expect_rejected(build(DomainType::x86_hvm, 3, {rec(R::static_data_end), rec(R::page_data, zero)}), "count is 0");
  auto pd = page_data({make_pfn_entry(1, PageType::notab)});
  auto bad = pd;
  put32(bad.body, 4, 1);
  expect_rejected(build(DomainType::x86_hvm, 3, {rec(R::static_data_end), bad}), "(PAGE_DATA): reserved field is 0x1");
  bad = pd;
  bad.body.resize(bad.body.size() - 8);
  expect_rejected(build(DomainType::x86_hvm, 3, {rec(R::static_data_end), bad}), "expected 4112");
  expect_rejected(build(DomainType::x86_hvm, 3, {rec(R::static_data_end), bad}), "expected 4112", ReaderOptions{true});
  bad = page_data({make_pfn_entry(1, PageType::xtab)});
  bad.body.resize(bad.body.size() + 4096);  // XTAB carries no data
  expect_rejected(build(DomainType::x86_hvm, 3, {rec(R::static_data_end), bad}), "expected 16");
}

TEST(LibxcCorruption, EndMustBeLast) {
  auto s = build(DomainType::x86_hvm, 3, hvm_records(3));
  auto extra = s;
  extra.push_back(std::byte{0});
  expect_rejected(extra, "data after the END record");
  auto two = build(DomainType::x86_hvm, 3, [] {
    auto r = hvm_records(3);
    r.push_back(rec(RecordType::end));
    return r;
  }());
  expect_rejected(two, "data after the END record");
  // A caller that goes on reading (embedded mode) gets a usage error.
  MemorySource src(two);
  Reader r(src);
  ASSERT_TRUE(r.read_header());
  while (!r.ended()) ASSERT_TRUE(r.next());
  auto n = r.next();
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), Errc::usage);
}

TEST(LibxcCorruption, ErrataZeroContentRecordsAccepted) {
  using R = RecordType;
  // HVM_PARAMS: empty body and count 0.
  auto recs = hvm_records(3);
  recs.insert(recs.begin() + 2, {rec(R::hvm_params), hvm_params(0)});
  EXPECT_EQ(read_all(build(DomainType::x86_hvm, 3, recs)), "");
  auto pv = pv_records(3);
  for (R t : {R::x86_pv_vcpu_extended, R::x86_pv_vcpu_xsave, R::x86_pv_vcpu_msrs}) {
    pv.insert(pv.end() - 1, rec(t));
    pv.insert(pv.end() - 1, vcpu(t, 0));
  }
  EXPECT_EQ(read_all(build(DomainType::x86_pv, 3, pv)), "");
  // ... but not for BASIC, nor an empty HVM_CONTEXT.
  pv = pv_records(3);
  pv.insert(pv.end() - 1, vcpu(R::x86_pv_vcpu_basic, 0));
  expect_rejected(build(DomainType::x86_pv, 3, pv), "(X86_PV_VCPU_BASIC): vCPU 0 context is empty");
  recs = hvm_records(3);
  recs.insert(recs.end() - 1, rec(R::hvm_context));
  expect_rejected(build(DomainType::x86_hvm, 3, recs), "(HVM_CONTEXT): HVM context is empty");
}

TEST(LibxcCorruption, TypedBodyRules) {
  using R = RecordType;
  auto with = [](std::vector<Raw> pv, std::size_t at, Raw r) {
    pv.insert(pv.begin() + static_cast<std::ptrdiff_t>(at), std::move(r));
    return build(DomainType::x86_pv, 3, pv);
  };
  auto info = pv_info();
  info.body[0] = std::byte{5};
  auto recs = pv_records(3);
  recs[0] = info;
  expect_rejected(build(DomainType::x86_pv, 3, recs), "record #0 (X86_PV_INFO): guest width 5 is not 4 or 8");
  recs[0].body = pv_info().body;
  recs[0].body[1] = std::byte{2};
  expect_rejected(build(DomainType::x86_pv, 3, recs), "page-table levels 2");
  recs[0].body = pv_info().body;
  recs[0].body[7] = std::byte{1};
  expect_rejected(build(DomainType::x86_pv, 3, recs), "reserved bytes 2-7");
  recs = pv_records(3);
  recs[2] = p2m(600);
  recs[2].body.resize(recs[2].body.size() - 8);
  expect_rejected(build(DomainType::x86_pv, 3, recs), "(X86_PV_P2M_FRAMES): body is 16 bytes, expected 24 for 2 p2m frames");
  auto v = vcpu(R::x86_pv_vcpu_basic);
  put32(v.body, 4, 9);
  expect_rejected(with(pv_records(3), 4, v), "(X86_PV_VCPU_BASIC): reserved field is 0x9");
  expect_rejected(with(pv_records(3), 4, rec(R::shared_info, std::vector<std::byte>(4095))), "exactly one page");
  std::vector<std::byte> tsc(24);
  put32(tsc, 20, 1);
  expect_rejected(with(pv_records(3), 4, rec(R::x86_tsc_info, tsc)), "(X86_TSC_INFO): reserved field is 0x1");
  expect_rejected(with(pv_records(3), 4, rec(R::x86_tsc_info, std::vector<std::byte>(16))), "expected 24");
  expect_rejected(with(pv_records(3), 1, rec(R::x86_cpuid_policy, std::vector<std::byte>(25))), "24-byte xen_cpuid_leaf_t");
  expect_rejected(with(pv_records(3), 1, rec(R::x86_msr_policy, std::vector<std::byte>(17))), "16-byte xen_msr_entry_t");
  expect_rejected(with(pv_records(3), 4, rec(R::checkpoint_dirty_pfn_list, std::vector<std::byte>(12))), "8-byte pfns");
  expect_rejected(with(pv_records(3), 4, rec(R::verify, std::vector<std::byte>(8))), "(VERIFY): body length 8 exceeds the limit of 0");
  auto hp = hvm_params(2);
  hp.body.resize(hp.body.size() - 16);
  auto h = hvm_records(3);
  h[2] = hp;
  expect_rejected(build(DomainType::x86_hvm, 3, h), "(HVM_PARAMS): body is 24 bytes, expected 40 for count 2");
  expect_rejected(with(pv_records(3), 4, hvm_params(1)), "HVM_PARAMS is an x86 HVM record, not valid in an x86 PV stream");
  h = hvm_records(3);
  h.insert(h.begin(), pv_info());
  expect_rejected(build(DomainType::x86_hvm, 3, h), "record #0 (X86_PV_INFO): X86_PV_INFO is an x86 PV record");
  // Per-type body limit, before any allocation.
  std::vector<std::byte> big(kX86PageSize + 8);
  expect_rejected(with(pv_records(3), 4, rec(R::shared_info, big)), "body length 4104 exceeds the limit of 4096 bytes");
}

}  // namespace
}  // namespace tern::stream::libxc
