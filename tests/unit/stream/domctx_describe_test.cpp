#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "domctx_test_util.hpp"
#include "stream/domctx/describe.hpp"
#include "stream/domctx/save.hpp"

namespace tern::stream::domctx {
namespace {

std::vector<std::byte> blob_of(StateImage& img) {
  Registry reg;
  EXPECT_TRUE(register_state_image(reg, img));
  auto b = save_blob(reg, img.shape(), ProducerVersion{0, 1});
  EXPECT_TRUE(b);
  return b ? *b : std::vector<std::byte>{};
}

TEST(DomctxDescribe, DecodesFieldsOfEveryRecord) {
  StateImage img = testing::full_image(11, 2);
  img.vcpus[1].regs->rip = 0xfff0;
  img.vcpus[0].msrs = MsrList{{{0x10, 12345}, {0xc0000080, 0x500}}};
  img.vm.tsc_info = TscInfo{2, 2000000, 77, 3};
  auto blob = blob_of(img);
  auto d = describe(blob);
  ASSERT_TRUE(d) << d.error().message();
  const auto& recs = (*d)["records"];
  ASSERT_EQ(recs.size(), 2u + 12 * 2 + 7);
  EXPECT_EQ(recs.front()["name"], "HEADER");
  EXPECT_EQ(recs.front()["fields"]["magic"], kMagic);
  EXPECT_EQ(recs.back()["name"], "END");
  EXPECT_EQ(recs.back()["offset"], blob.size() - kDescriptorSize);
  bool saw_rip = false, saw_msr = false, saw_tsc = false;
  for (const auto& r : recs) {
    ASSERT_TRUE(r.contains("fields")) << r.dump();
    EXPECT_FALSE(r["fields"].is_null()) << r.dump();
    if (r["name"] == "VCPU_REGS" && r["instance"] == 1) saw_rip = r["fields"]["rip"] == 0xfff0;
    if (r["name"] == "VCPU_MSRS" && r["instance"] == 0)
      saw_msr = r["fields"]["msrs"][1]["index"] == 0xc0000080u && r["fields"]["msrs"][1]["value"] == 0x500;
    if (r["name"] == "TSC_INFO") saw_tsc = r["fields"]["khz"] == 2000000 && r["fields"]["mode"] == 2;
  }
  EXPECT_TRUE(saw_rip && saw_msr && saw_tsc);
}

TEST(DomctxDescribe, VerifySummarisesAndRejects) {
  StateImage img = testing::full_image(12, 3);
  auto blob = blob_of(img);
  auto v = verify(blob);
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(v->vcpus, 3u);
  EXPECT_EQ(v->records, 12u * 3 + 7);
  EXPECT_EQ(v->per_type.at("VCPU_XSAVE"), 3u);
  EXPECT_EQ(v->per_type.at("IOAPIC"), 1u);
  auto j = to_json(*v);
  EXPECT_EQ(j["producer"], "0.1");
  EXPECT_EQ(j["size"], blob.size());
  blob[blob.size() - kDescriptorSize + 2] = std::byte{1};  // END instance
  auto bad = verify(blob);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("(END instance 1): instance is 1, must be 0"), std::string::npos)
      << bad.error().message();
}

TEST(DomctxDescribe, DetectsTheFormatFromAPrefix) {
  StateImage img = testing::full_image(13, 1);
  auto blob = blob_of(img);
  EXPECT_TRUE(looks_like_domctx(blob));
  EXPECT_TRUE(looks_like_domctx(Bytes(blob).first(kDetectBytes)));
  EXPECT_FALSE(looks_like_domctx(Bytes(blob).first(kDetectBytes - 1)));
  auto other = blob;
  other[kDescriptorSize + 3] = std::byte{0};  // magic
  EXPECT_FALSE(looks_like_domctx(other));
  other = blob;
  other[kDescFlagsOff] = std::byte{1};
  EXPECT_FALSE(looks_like_domctx(other));
  const char xl[] = "Xen saved domain, xl format\n \0 \r";
  EXPECT_FALSE(looks_like_domctx(as_bytes(std::string_view(xl, sizeof xl))));
}

// Writes the fuzzer's seed corpus when TERN_DOMCTX_CORPUS_DIR is set
// (fuzz/corpus/fuzz_domctx/ holds the committed output).
TEST(DomctxDescribe, WriteFuzzCorpusWhenAsked) {
  const char* dir = std::getenv("TERN_DOMCTX_CORPUS_DIR");
  if (!dir) GTEST_SKIP() << "TERN_DOMCTX_CORPUS_DIR not set";
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, Bytes b) {
    ASSERT_LT(b.size(), 20000u);
    std::ofstream(std::filesystem::path(dir) / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  };
  StateImage one = testing::full_image(1, 1);
  one.vcpus[0].xsave.reset();
  write("one_vcpu_all_types", blob_of(one));
  StateImage two = testing::full_image(2, 2);
  two.vcpus[0].xsave.reset();
  two.vcpus[1].xsave.reset();
  two.vm.shared_info->buffer.clear();
  write("two_vcpus", blob_of(two));
  StateImage xs;
  xs.vcpus.resize(1);
  xs.vcpus[0].xsave = XsaveArea{std::vector<std::byte>(4096)};
  write("xsave_only", blob_of(xs));
  StateImage empty;
  write("empty", blob_of(empty));
  std::vector<std::byte> ign = blob_of(empty);
  ign.resize(ign.size() - kDescriptorSize);
  BlobWriter w(ign);
  std::array<std::byte, 5> body{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}};
  ASSERT_TRUE(w.write_record(50, 0, kFlagIgnore, body));
  ASSERT_TRUE(w.write_end());
  write("unknown_ignored", ign);
}

}  // namespace
}  // namespace tern::stream::domctx
