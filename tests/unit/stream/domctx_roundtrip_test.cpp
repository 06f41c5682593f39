#include <gtest/gtest.h>

#include <algorithm>

#include "domctx_test_util.hpp"
#include "stream/domctx/describe.hpp"
#include "stream/domctx/loader.hpp"
#include "stream/domctx/parser.hpp"
#include "stream/domctx/save.hpp"

namespace tern::stream::domctx {
namespace {

using testing::full_image;
using testing::random_image;

Expected<std::vector<std::byte>> save_image(StateImage& img) {
  Registry reg;
  TERN_TRY(register_state_image(reg, img));
  return save_blob(reg, img.shape());
}

// Loads into an image with `vcpus` empty vCPUs.
Expected<StateImage> load_image(Bytes blob, std::uint32_t vcpus, const LoadOptions& opt = {},
                                LoadStats* stats = nullptr) {
  StateImage out;
  out.vcpus.resize(vcpus);
  Registry reg;
  TERN_TRY(register_state_image(reg, out));
  TERN_TRY_ASSIGN(LoadStats st, load(reg, out.shape(), blob, opt));
  if (stats) *stats = st;
  return out;
}

TEST(DomctxRoundTrip, RandomStatesSurviveSaveAndLoad) {
  for (std::uint64_t seed = 1; seed <= 150; ++seed) {
    std::mt19937_64 rng(seed);
    StateImage img = random_image(rng, static_cast<std::uint32_t>(rng() % 9));
    auto blob = save_image(img);
    ASSERT_TRUE(blob) << blob.error().message();
    auto back = load_image(*blob, img.shape().vcpu_count);
    ASSERT_TRUE(back) << "seed " << seed << ": " << back.error().message();
    EXPECT_TRUE(*back == img) << "seed " << seed;
    auto v = verify(*blob);
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ(v->size, blob->size());
    auto d = describe(*blob);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ((*d)["records"].size(), v->records + 2);
  }
}

TEST(DomctxRoundTrip, DifferingStateIsDetected) {
  // The equality the property test relies on must be able to fail.
  StateImage a = full_image(3, 2);
  StateImage b = a;
  EXPECT_TRUE(a == b);
  b.vcpus[1].lapic->regs[100] ^= 1;
  EXPECT_FALSE(a == b);
  b = a;
  b.vm.shared_info = SharedInfo{!a.vm.shared_info->is_32bit, a.vm.shared_info->buffer};
  EXPECT_FALSE(a == b);
}

TEST(DomctxRoundTrip, DryRunSizeEqualsRealSize) {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    std::mt19937_64 rng(seed * 7919);
    StateImage img = random_image(rng, static_cast<std::uint32_t>(rng() % 5));
    Registry reg;
    ASSERT_TRUE(register_state_image(reg, img));
    auto size = save_size(reg, img.shape());
    auto blob = save_blob(reg, img.shape());
    ASSERT_TRUE(size && blob);
    EXPECT_EQ(*size, blob->size()) << "seed " << seed;
    EXPECT_EQ(blob->size() % 8, 0u);
    std::vector<std::byte> reused(100000, std::byte{0xee});  // stale contents are replaced
    ASSERT_TRUE(save_into(reg, img.shape(), reused));
    EXPECT_EQ(reused, *blob);
  }
}

TEST(DomctxRoundTrip, HeaderCarriesFormatAndProducerVersion) {
  StateImage img = full_image(1, 1);
  Registry reg;
  ASSERT_TRUE(register_state_image(reg, img));
  auto blob = save_blob(reg, img.shape(), ProducerVersion{4, 17});
  ASSERT_TRUE(blob);
  auto v = verify(*blob);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->header.magic, kMagic);
  EXPECT_EQ(v->header.version, 1u);
  EXPECT_EQ(v->header.producer_major, 4u);
  EXPECT_EQ(v->header.producer_minor, 17u);
  auto def = save_blob(reg, img.shape());
  ASSERT_TRUE(def);
  EXPECT_EQ(verify(*def)->header.producer_major, static_cast<std::uint32_t>(TERN_VERSION_MAJOR));
  EXPECT_EQ(verify(*def)->header.producer_minor, static_cast<std::uint32_t>(TERN_VERSION_MINOR));
}

TEST(DomctxRoundTrip, LoadOnlySelectedTypecodes) {
  StateImage img = full_image(5, 3);
  auto blob = save_image(img);
  ASSERT_TRUE(blob);
  LoadOptions opt;
  opt.only = {code(TypeCode::shared_info), code(TypeCode::vcpu_regs)};
  LoadStats st;
  auto back = load_image(*blob, 3, opt, &st);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(st.applied, 4u);  // shared_info + 3 x regs
  EXPECT_EQ(st.skipped, st.records - 4);
  EXPECT_TRUE(back->vm.shared_info == img.vm.shared_info);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(same_bytes(*back->vcpus[i].regs, *img.vcpus[i].regs));
    EXPECT_FALSE(back->vcpus[i].sregs.has_value());
  }
  EXPECT_FALSE(back->vm.pit.has_value());
}

// Seed 000's use of IGNORE: save a blob, change the shared_info record, mark
// everything else IGNORE, and load: only shared_info changes.
TEST(DomctxRoundTrip, UpdateSharedInfoThroughIgnoreFlags) {
  StateImage img = full_image(9, 2);
  auto blob = save_image(img);
  ASSERT_TRUE(blob);
  std::array keep{code(TypeCode::shared_info)};
  auto kept = ignore_all_except(*blob, keep);
  ASSERT_TRUE(kept) << kept.error().message();
  EXPECT_EQ(*kept, 1u);
  // Flip the 32-bit flag inside the shared_info body.
  auto parsed = parse_blob(*blob, {});
  ASSERT_TRUE(parsed);
  auto it = std::find_if(parsed->records.begin(), parsed->records.end(),
                         [](const ParsedRecord& r) { return r.desc.typecode == code(TypeCode::shared_info); });
  ASSERT_NE(it, parsed->records.end());
  (*blob)[it->offset + kDescriptorSize] ^= std::byte{1};

  StateImage target = full_image(77, 2);  // the "running" domain, different state
  StateImage before = target;
  Registry reg;
  ASSERT_TRUE(register_state_image(reg, target));
  auto st = load(reg, target.shape(), *blob);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->applied, 1u);
  EXPECT_EQ(st->ignored, st->records - 1);
  EXPECT_EQ(target.vm.shared_info->is_32bit, !img.vm.shared_info->is_32bit);
  EXPECT_EQ(target.vm.shared_info->buffer, img.vm.shared_info->buffer);
  target.vm.shared_info = before.vm.shared_info;
  EXPECT_TRUE(target == before);  // nothing else was touched
}

TEST(DomctxRoundTrip, RecordsAppearInTypecodeThenInstanceOrder) {
  StateImage img = full_image(2, 3);
  auto blob = save_image(img);
  ASSERT_TRUE(blob);
  auto parsed = parse_blob(*blob, {});
  ASSERT_TRUE(parsed);
  std::vector<std::pair<std::uint16_t, std::uint16_t>> order;
  for (const auto& r : parsed->records) order.emplace_back(r.desc.typecode, r.desc.instance);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  EXPECT_EQ(order.size(), 12u * 3 + 7);  // every vCPU type x 3 + every VM type
}

TEST(DomctxRoundTrip, ZeroExtendsAnOlderShorterClockBody) {
  // A producer that only knew clock + flags (16 bytes).
  std::vector<std::byte> blob;
  BlobWriter w(blob);
  ASSERT_TRUE(w.write_header(0, 1));
  std::array<std::byte, 16> old{};
  store_le<std::uint64_t>(old.data(), 123456789);
  store_le<std::uint32_t>(old.data() + 8, 2);
  ASSERT_TRUE(w.write_record(code(TypeCode::kvm_clock), 0, 0, old));
  ASSERT_TRUE(w.write_end());
  StateImage out;
  std::mt19937_64 rng(1);
  out.vm.clock = testing::random_pod<kvm_clock_data>(rng);  // overwritten by the load
  Registry reg;
  ASSERT_TRUE(register_state_image(reg, out));
  auto st = load(reg, out.shape(), blob);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(out.vm.clock->clock, 123456789u);
  EXPECT_EQ(out.vm.clock->flags, 2u);
  EXPECT_EQ(out.vm.clock->realtime, 0u);
  EXPECT_EQ(out.vm.clock->host_tsc, 0u);
  // The same shorter body is refused for a type that does not zero-extend.
  std::vector<std::byte> bad;
  BlobWriter w2(bad);
  ASSERT_TRUE(w2.write_header(0, 1));
  ASSERT_TRUE(w2.write_record(code(TypeCode::pit), 0, 0, old));
  ASSERT_TRUE(w2.write_end());
  auto r = load(reg, out.shape(), bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("below the minimum of 112"), std::string::npos) << r.error().message();
}

TEST(DomctxWriter, ReserveCommitWritesInPlace) {
  std::vector<std::byte> blob;
  BlobWriter w(blob);
  ASSERT_TRUE(w.write_header(0, 1));
  ASSERT_TRUE(w.begin(code(TypeCode::vcpu_xsave), 0));
  MutableBytes area = w.reserve(8192);
  ASSERT_EQ(area.size(), 8192u);
  std::fill(area.begin(), area.begin() + 4100, std::byte{0x5a});
  w.commit(4100);
  ASSERT_TRUE(w.end());
  ASSERT_TRUE(w.write_end());
  EXPECT_EQ(w.size(), blob.size());
  EXPECT_EQ(blob.size(), 32u + 16 + 4104 + 16);
  auto d = describe(blob);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ((*d)["records"][1]["length"], 4100);
  EXPECT_EQ((*d)["records"][1]["fields"]["size"], 4100);
  // Same calls on a dry-run writer count the same bytes.
  BlobWriter dry = BlobWriter::dry_run();
  ASSERT_TRUE(dry.write_header(0, 1));
  ASSERT_TRUE(dry.begin(code(TypeCode::vcpu_xsave), 0));
  EXPECT_EQ(dry.reserve(8192).size(), 8192u);
  dry.commit(4100);
  ASSERT_TRUE(dry.end());
  ASSERT_TRUE(dry.write_end());
  EXPECT_EQ(dry.size(), blob.size());
}

TEST(DomctxWriter, MisuseIsReportedNotCrashed) {
  std::vector<std::byte> blob;
  BlobWriter w(blob);
  w.append(Bytes{});  // no open record
  auto r = w.begin(5, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::internal);

  BlobWriter w2(blob);
  ASSERT_TRUE(w2.begin(5, 0));
  EXPECT_FALSE(w2.begin(6, 0));  // nested begin
  (void)w2.reserve(4);
  w2.commit(8);  // more than reserved
  EXPECT_FALSE(w2.end());

  BlobWriter w3(blob);
  EXPECT_FALSE(w3.end());  // nothing open
}

TEST(DomctxSave, HandlerMistakesAreErrorsNamingTypeAndInstance) {
  auto noop_load = [](Bytes, std::uint16_t) -> Expected<void> { return {}; };
  {
    Registry reg;
    ASSERT_TRUE(reg.add({20, {"LEFT_OPEN", Scope::per_vcpu, BodySize::between(0, 64), {}},
                         [](RecordWriter& w) -> Expected<void> {
                           if (w.instance() == 1) return w.begin();
                           return {};
                         },
                         noop_load}));
    auto r = save_blob(reg, {2});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("LEFT_OPEN instance 1 returned with its record open"), std::string::npos)
        << r.error().message();
    EXPECT_FALSE(save_size(reg, {2}));
  }
  {
    Registry reg;
    ASSERT_TRUE(reg.add({21, {"TWICE", Scope::global, BodySize::between(0, 64), {}},
                         [](RecordWriter& w) -> Expected<void> {
                           TERN_TRY(w.begin());
                           TERN_TRY(w.end());
                           TERN_TRY(w.begin());
                           return w.end();
                         },
                         noop_load}));
    auto r = save_blob(reg, {1});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("began a second record"), std::string::npos) << r.error().message();
  }
  {
    Registry reg;
    ASSERT_TRUE(reg.add({22, {"FAILS", Scope::global, BodySize::between(0, 64), {}},
                         [](RecordWriter&) -> Expected<void> { return make_error(Errc::io, "device gone"); },
                         noop_load}));
    auto r = save_blob(reg, {1});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Errc::io);
    EXPECT_NE(r.error().message().find("saving FAILS instance 0: device gone"), std::string::npos);
  }
}

TEST(DomctxLoad, HandlerErrorsCarryRecordContextAndBlobIsCheckedFirst) {
  std::vector<std::uint16_t> applied;
  Registry reg;
  ASSERT_TRUE(reg.add({30, {"A", Scope::global, BodySize::exactly(8), {}},
                       [](RecordWriter& w) -> Expected<void> {
                         TERN_TRY(w.begin());
                         w.append_le<std::uint64_t>(1);
                         return w.end();
                       },
                       [&](Bytes, std::uint16_t) -> Expected<void> {
                         applied.push_back(30);
                         return make_error(Errc::invalid, "value rejected");
                       }}));
  auto blob = save_blob(reg, {1});
  ASSERT_TRUE(blob);
  auto r = load(reg, {1}, *blob);
  ASSERT_FALSE(r);
  EXPECT_EQ(testing::error_offset(r.error().message()), 32u);
  EXPECT_NE(r.error().message().find("record #1 (A instance 0): load handler failed: value rejected"),
            std::string::npos)
      << r.error().message();
  // A corrupt blob applies nothing, even records before the corruption.
  applied.clear();
  (*blob)[blob->size() - 1] = std::byte{1};  // END length
  EXPECT_FALSE(load(reg, {1}, *blob));
  EXPECT_TRUE(applied.empty());
}

}  // namespace
}  // namespace tern::stream::domctx
