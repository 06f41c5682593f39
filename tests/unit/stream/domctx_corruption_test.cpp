// Corruption suite: every kind of damage to a valid blob is an error that
// names the right byte offset, and never a crash (run under ASan/UBSan).
#include <gtest/gtest.h>

#include "domctx_test_util.hpp"
#include "stream/domctx/describe.hpp"
#include "stream/domctx/loader.hpp"
#include "stream/domctx/parser.hpp"
#include "stream/domctx/save.hpp"
#include "stream/domctx/standard.hpp"

namespace tern::stream::domctx {
namespace {

using testing::error_offset;

class DomctxCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    img_ = testing::full_image(42, 2);
    Registry reg;
    ASSERT_TRUE(register_state_image(reg, img_));
    auto b = save_blob(reg, img_.shape());
    ASSERT_TRUE(b);
    blob_ = std::move(*b);
    auto p = parse_blob(blob_, {});
    ASSERT_TRUE(p);
    offsets_.push_back(0);  // HEADER
    for (const auto& r : p->records) offsets_.push_back(r.offset);
    offsets_.push_back(p->end_offset);
  }

  // Loads into a fresh 2-vCPU image; returns the error (fails the test if
  // the load succeeds).
  Error load_error(Bytes blob) {
    StateImage out;
    out.vcpus.resize(2);
    Registry reg;
    EXPECT_TRUE(register_state_image(reg, out));
    auto r = load(reg, out.shape(), blob);
    EXPECT_FALSE(r) << "load accepted a corrupt blob";
    return r ? Error(Errc::internal, "accepted") : r.error();
  }
  Expected<LoadStats> try_load(Bytes blob) {
    StateImage out;
    out.vcpus.resize(2);
    Registry reg;
    EXPECT_TRUE(register_state_image(reg, out));
    return load(reg, out.shape(), blob);
  }
  // Every consumer rejects the blob at `offset`.
  void expect_rejected_at(const std::vector<std::byte>& b, std::uint64_t offset, std::string_view rule = {}) {
    Error e = load_error(b);
    EXPECT_EQ(error_offset(e.message()), offset) << e.message();
    if (!rule.empty()) {
      EXPECT_NE(e.message().find(rule), std::string::npos) << e.message();
    }
    auto v = verify(b);
    ASSERT_FALSE(v);
    EXPECT_EQ(error_offset(v.error().message()), offset) << v.error().message();
    EXPECT_FALSE(describe(b));
  }

  StateImage img_;
  std::vector<std::byte> blob_;
  std::vector<std::uint64_t> offsets_;  // descriptor offsets, HEADER..END
};

TEST_F(DomctxCorruption, BaselineIsValid) {
  EXPECT_TRUE(try_load(blob_));
  EXPECT_TRUE(verify(blob_));
  EXPECT_EQ(offsets_.size(), 2u + 12 * 2 + 7);
}

TEST_F(DomctxCorruption, TruncationAtEveryOffsetNamesTheCutRecord) {
  for (std::size_t cut = 0; cut < blob_.size(); ++cut) {
    std::vector<std::byte> b(blob_.begin(), blob_.begin() + cut);
    // The record containing the first missing byte.
    std::uint64_t want = *std::prev(std::upper_bound(offsets_.begin(), offsets_.end(), cut));
    auto v = verify(b);
    ASSERT_FALSE(v) << "cut " << cut;
    EXPECT_EQ(v.error().code(), Errc::truncated) << v.error().message();
    ASSERT_EQ(error_offset(v.error().message()), want) << "cut " << cut << ": " << v.error().message();
    Error e = load_error(b);
    ASSERT_EQ(error_offset(e.message()), want) << e.message();
  }
}

TEST_F(DomctxCorruption, MagicAndVersion) {
  auto b = blob_;
  b[kDescriptorSize] ^= std::byte{0x01};
  expect_rejected_at(b, 0, "magic");
  b = blob_;
  store_le<std::uint32_t>(b.data() + kDescriptorSize + 4, 2);
  expect_rejected_at(b, 0, "format version 2 is not supported");
  EXPECT_EQ(verify(b).error().code(), Errc::unsupported);
  b = blob_;  // producer version is informational only
  store_le<std::uint32_t>(b.data() + kDescriptorSize + 8, 999);
  EXPECT_TRUE(try_load(b));
}

TEST_F(DomctxCorruption, EveryDescriptorFieldOfEveryRecord) {
  for (std::size_t i = 0; i < offsets_.size(); ++i) {
    const std::uint64_t at = offsets_[i];
    const Descriptor d = decode_descriptor(blob_.data() + at);
    const bool framing = i == 0 || i + 1 == offsets_.size();  // HEADER or END
    SCOPED_TRACE(::testing::Message() << "record #" << i << " typecode " << d.typecode);
    auto with = [&](Descriptor nd) {
      auto b = blob_;
      encode_descriptor(nd, b.data() + at);
      return b;
    };
    // typecode: an unassigned code, and HEADER where it does not belong.
    Descriptor nd = d;
    nd.typecode = 60;
    expect_rejected_at(with(nd), at);
    if (i != 0) {
      nd.typecode = code(TypeCode::header);
      expect_rejected_at(with(nd), at);
    }
    // instance: global records and framing records must be 0; per-vCPU ones
    // below the domain's vCPU count (only a loader knows the count).
    nd = d;
    nd.instance = static_cast<std::uint16_t>(d.instance + 2);
    const TypeRules* rules = standard_rules(d.typecode);
    if (rules && rules->scope == Scope::per_vcpu) {
      Error e = load_error(with(nd));
      EXPECT_EQ(error_offset(e.message()), at) << e.message();
      EXPECT_NE(e.message().find("not below the domain's vCPU count 2"), std::string::npos) << e.message();
    } else {
      expect_rejected_at(with(nd), at);
    }
    // flags: unknown bits everywhere; IGNORE only invalid on HEADER/END.
    for (std::uint32_t bit = 1; bit < 32; ++bit) {
      nd = d;
      nd.flags = 1u << bit;
      expect_rejected_at(with(nd), at, "unknown flag bits");
    }
    nd = d;
    nd.flags = kFlagIgnore;
    if (framing) {
      expect_rejected_at(with(nd), at, "IGNORE flag is invalid");
    } else {
      auto st = try_load(with(nd));
      ASSERT_TRUE(st) << st.error().message();
      EXPECT_EQ(st->ignored, 1u);
    }
    // length: one more/less by a padding unit, by one byte, and huge.
    std::vector<std::uint64_t> lengths{d.length + 8, d.length + 1, std::uint64_t{1} << 63, ~std::uint64_t{0}};
    if (d.length >= 8) lengths.push_back(d.length - 8);
    if (d.length >= 1) lengths.push_back(d.length - 1);
    for (std::uint64_t len : lengths) {
      nd = d;
      nd.length = len;
      const bool size_allowed = rules && len >= rules->size.min && len <= rules->size.max;
      if (!size_allowed) {
        expect_rejected_at(with(nd), at);
      } else {
        // A length the type accepts (variable-size or zero-extended bodies)
        // cannot be told wrong at this record; the misframing is caught at
        // or after it, never before and never silently.
        auto b = with(nd);
        Error e = load_error(b);
        EXPECT_GE(error_offset(e.message()).value_or(0), at) << e.message();
        EXPECT_FALSE(verify(b));
      }
    }
  }
}

TEST_F(DomctxCorruption, UnknownTypecodeNeedsIgnore) {
  auto add_unknown = [&](std::uint32_t flags) {
    std::vector<std::byte> b(blob_.begin(), blob_.end() - kDescriptorSize);  // drop END
    BlobWriter w(b);
    std::array<std::byte, 12> body{};
    body[3] = std::byte{7};
    EXPECT_TRUE(w.write_record(61, 5, flags, body));
    EXPECT_TRUE(w.write_end());
    return b;
  };
  const std::uint64_t at = blob_.size() - kDescriptorSize;
  expect_rejected_at(add_unknown(0), at, "unknown typecode 61");
  auto ok = add_unknown(kFlagIgnore);
  auto st = try_load(ok);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->ignored, 1u);
  auto v = verify(ok);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->ignored, 1u);
  auto d = describe(ok);
  ASSERT_TRUE(d);
  EXPECT_TRUE((*d)["records"][offsets_.size() - 1]["ignore"].get<bool>());
}

TEST_F(DomctxCorruption, OversizeAndUndersizeBodies) {
  auto blob_with = [&](std::uint16_t tc, std::uint16_t inst, std::size_t len) {
    std::vector<std::byte> b;
    BlobWriter w(b);
    EXPECT_TRUE(w.write_header(0, 1));
    std::vector<std::byte> body(len);
    EXPECT_TRUE(w.write_record(tc, inst, 0, body));
    EXPECT_TRUE(w.write_end());
    return b;
  };
  expect_rejected_at(blob_with(code(TypeCode::vcpu_regs), 0, 152), 32, "exceeds the maximum of 144");
  expect_rejected_at(blob_with(code(TypeCode::vcpu_regs), 0, 136), 32, "below the minimum of 144");
  expect_rejected_at(blob_with(code(TypeCode::vcpu_xsave), 1, 4092), 32, "below the minimum of 4096");
  expect_rejected_at(blob_with(code(TypeCode::vcpu_xsave), 1, 4098), 32, "not a multiple of 4");
  expect_rejected_at(blob_with(code(TypeCode::vcpu_xsave), 1, kXsaveMax + 4), 32, "exceeds the maximum");
  expect_rejected_at(blob_with(code(TypeCode::kvm_clock), 0, 8), 32, "below the minimum of 16");
  expect_rejected_at(blob_with(code(TypeCode::kvm_clock), 0, 56), 32, "exceeds the maximum of 48");
  EXPECT_TRUE(try_load(blob_with(code(TypeCode::kvm_clock), 0, 24)));  // zero-extended
  // Variable bodies: counts must match lengths.
  auto msrs = blob_with(code(TypeCode::vcpu_msrs), 0, 8 + 16);
  store_le<std::uint32_t>(msrs.data() + 32 + kDescriptorSize, 2);
  expect_rejected_at(msrs, 32, "2 entries need a body of 40 bytes, found 24");
  auto si = blob_with(code(TypeCode::shared_info), 0, 8 + 4);
  store_le<std::uint32_t>(si.data() + 32 + kDescriptorSize + 4, 3);
  expect_rejected_at(si, 32, "buffer_size 3 needs a body of 11 bytes");
  auto mp = blob_with(code(TypeCode::vcpu_mp_state), 0, 4);
  store_le<std::uint32_t>(mp.data() + 32 + kDescriptorSize, 99);
  expect_rejected_at(mp, 32, "mp_state 99");
}

TEST_F(DomctxCorruption, NonzeroPadding) {
  // shared_info has a 13-byte buffer: body 21 bytes, 3 bytes of padding.
  auto p = parse_blob(blob_, {});
  ASSERT_TRUE(p);
  for (const auto& r : p->records) {
    std::uint64_t pad = padding_for(r.desc.length);
    for (std::uint64_t k = 0; k < pad; ++k) {
      auto b = blob_;
      std::uint64_t byte = r.offset + kDescriptorSize + r.desc.length + k;
      b[byte] = std::byte{0x80};
      expect_rejected_at(b, r.offset, fmt::format("padding byte at offset {} is 0x80", byte));
    }
  }
}

TEST_F(DomctxCorruption, MissingEndAndDataAfterEnd) {
  std::vector<std::byte> no_end(blob_.begin(), blob_.end() - kDescriptorSize);
  expect_rejected_at(no_end, no_end.size(), "without an END record");
  auto extra = blob_;
  extra.resize(extra.size() + 8);
  expect_rejected_at(extra, blob_.size(), "8 bytes of data after the END record");
  auto twice = blob_;
  twice.insert(twice.end(), blob_.end() - kDescriptorSize, blob_.end());
  expect_rejected_at(twice, blob_.size(), "after the END record");
  expect_rejected_at({}, 0, "empty input");
}

TEST_F(DomctxCorruption, DuplicateRecordIsRejected) {
  // Replace END with a copy of the last state record, then END.
  auto p = parse_blob(blob_, {});
  ASSERT_TRUE(p);
  const auto& last = p->records.back();
  std::vector<std::byte> b(blob_.begin(), blob_.end() - kDescriptorSize);
  b.insert(b.end(), blob_.begin() + last.offset, blob_.begin() + p->end_offset);
  b.insert(b.end(), blob_.end() - kDescriptorSize, blob_.end());
  expect_rejected_at(b, p->end_offset, "appeared earlier");
}

TEST_F(DomctxCorruption, EverySingleByteFlipIsHandled) {
  // No crash and no out-of-bounds read for a single-byte change: every byte
  // of every descriptor (the framing a parser trusts), and body bytes at a
  // prime stride (state bytes may legitimately still load; the byte-exact
  // field checks are the tests above). Sampling keeps the ASan run short.
  std::vector<std::size_t> positions;
  for (std::uint64_t off : offsets_)
    for (std::size_t k = 0; k < kDescriptorSize && off + k < blob_.size(); ++k) positions.push_back(off + k);
  for (std::size_t i = 0; i < blob_.size(); i += 37) positions.push_back(i);
  std::size_t rejected = 0;
  for (std::size_t i : positions) {
    auto b = blob_;
    b[i] ^= std::byte{0xff};
    rejected += !try_load(b);
    (void)describe(b);
  }
  EXPECT_GT(rejected, offsets_.size());
}

}  // namespace
}  // namespace tern::stream::domctx
