// Corrupt, truncated and unrestorable images are refused cleanly: an error
// naming the offset and record, no domain handed out, and nothing created at
// all when the problem is found before STATIC_DATA_END.
#include <gtest/gtest.h>

#include "migrate_test_util.hpp"
#include "stream/libxl/stream_reader.hpp"
#include "stream/xl/xl_header.hpp"

namespace tern::migrate {
namespace {

using namespace testing;
namespace libxc = stream::libxc;

struct RecordAt {
  std::uint64_t offset;
  std::uint32_t type;
  std::uint32_t length;
};

class BadImages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto cfg = sim_config("passes=20 mib=2", 2, 8ULL << 20);
    auto d = make_sim(cfg);
    ASSERT_TRUE(d->start());
    pause_mid_pass(*d, 2);
    image_ = new std::vector<std::byte>(save_to_memory(*d, cfg).bytes);
    d->shutdown();
    // Where the libxc records are.
    records_ = new std::vector<RecordAt>();
    MemorySource src(*image_);
    ASSERT_TRUE(stream::xl::read_header(src));
    stream::libxl::StreamReader r(src);
    ASSERT_TRUE(r.read_header());
    while (!r.done()) {
      auto ev = r.next();
      ASSERT_TRUE(ev) << ev.error().message();
      if (ev->kind == stream::libxl::StreamEvent::Kind::libxc_event && ev->libxc.is_record())
        records_->push_back(
            {ev->libxc.record.offset, ev->libxc.record.type, ev->libxc.record.length});
    }
  }
  static void TearDownTestSuite() {
    delete image_;
    delete records_;
  }
  static const RecordAt& first(libxc::RecordType t) {
    for (const auto& r : *records_)
      if (r.type == libxc::code(t)) return r;
    throw std::runtime_error("record type not in the image");
  }
  // Receives `bytes`; expects a refusal and returns its message.
  static std::string refused(std::span<const std::byte> bytes, int* created = nullptr) {
    CountingFactory f;
    auto r = receive_bytes(bytes, f.get());
    EXPECT_FALSE(r) << "accepted a bad image";
    if (created) *created = *f.created;
    return r ? std::string() : r.error().message();
  }

  static std::vector<std::byte>* image_;
  static std::vector<RecordAt>* records_;
};
std::vector<std::byte>* BadImages::image_ = nullptr;
std::vector<RecordAt>* BadImages::records_ = nullptr;

TEST_F(BadImages, TheImageItselfIsAccepted) {
  auto r = receive_bytes(*image_, CountingFactory{}.get());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->domain);
}

TEST_F(BadImages, TruncationAnywhereIsRefused) {
  std::vector<std::size_t> cuts = {0, 1, 31, 47, 52, 100};
  for (const auto& rec : *records_) {
    cuts.push_back(rec.offset);                       // at a record boundary
    cuts.push_back(rec.offset + 4);                   // inside its header
    cuts.push_back(rec.offset + 8 + rec.length / 2);  // inside its body
  }
  for (std::size_t c = 0; c < image_->size(); c += image_->size() / 61) cuts.push_back(c);
  cuts.push_back(image_->size() - 8);  // the libxl END
  cuts.push_back(image_->size() - 1);
  for (std::size_t cut : cuts) {
    if (cut >= image_->size()) continue;
    const std::string msg = refused(Bytes(*image_).first(cut));
    EXPECT_NE(msg.find("offset"), std::string::npos) << "cut at " << cut << ": " << msg;
    // The validate-only pass refuses it as well.
    MemorySource src(Bytes(*image_).first(cut));
    EXPECT_FALSE(receive_stream(src, ReceiverOptions{})) << "cut at " << cut;
  }
}

TEST_F(BadImages, TrailingBytesAreRefused) {
  auto bytes = *image_;
  bytes.resize(bytes.size() + 8);
  EXPECT_FALSE(refused(bytes).empty());
}

TEST_F(BadImages, CorruptStructureIsRefusedWithOffsetAndRecord) {
  const auto& page = first(libxc::RecordType::page_data);
  const auto& tsc = first(libxc::RecordType::x86_tsc_info);
  const auto& ctx = first(libxc::RecordType::hvm_context);
  struct Case {
    const char* what;
    std::size_t offset;
    std::byte mask;
    const char* expect;  // in the message
  } cases[] = {
      {"xl magic", 3, std::byte{0x01}, "offset 0"},
      {"PAGE_DATA pfn reserved bits", page.offset + 16 + 6, std::byte{0x10}, "PAGE_DATA"},
      {"PAGE_DATA type to unknown mandatory", page.offset, std::byte{0x40}, "offset"},
      {"X86_TSC_INFO becomes an unknown mandatory record", tsc.offset, std::byte{0x1b}, "offset"},
      {"HVM_CONTEXT blob header", ctx.offset + 8, std::byte{0xff}, "HVM_CONTEXT"},
      {"libxl END type", image_->size() - 8, std::byte{0x07}, "offset"},
  };
  for (const auto& c : cases) {
    auto bytes = *image_;
    bytes[c.offset] ^= c.mask;
    const std::string msg = refused(bytes);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": " << msg;
  }
}

TEST_F(BadImages, MissingCpuFeatureIsRefusedBeforeAnyDomainExists) {
  const auto& cpuid = first(libxc::RecordType::x86_cpuid_policy);
  auto bytes = *image_;
  // Set every feature bit of CPUID leaf 7.0 EBX in the policy.
  bool patched = false;
  for (std::uint32_t i = 0; i < cpuid.length / 24; ++i) {
    std::byte* leaf = bytes.data() + cpuid.offset + 8 + 24 * i;
    if (load_le<std::uint32_t>(leaf) == 7 && load_le<std::uint32_t>(leaf + 4) == 0) {
      store_le<std::uint32_t>(leaf + 12, 0xffffffff);
      patched = true;
    }
  }
  ASSERT_TRUE(patched);
  int created = -1;
  const std::string msg = refused(bytes, &created);
  if (msg.empty()) GTEST_SKIP() << "this host has every CPUID 7.0 EBX feature";
  EXPECT_NE(msg.find("X86_CPUID_POLICY"), std::string::npos) << msg;
  EXPECT_NE(msg.find("this host's CPU lacks"), std::string::npos) << msg;
  EXPECT_EQ(created, 0);
}

TEST_F(BadImages, ForeignConfigIsRefusedBeforeAnyDomainExists) {
  // The same image with an xl config that has no "tern" object (as Xen
  // writes it) cannot be restored.
  MemorySource src(*image_);
  auto xl = stream::xl::read_header(src);
  ASSERT_TRUE(xl);
  VectorSink sink;
  ASSERT_TRUE(stream::xl::write_header(sink, R"({"c_info":{"type":"hvm","name":"x"}})"));
  auto bytes = sink.take();
  bytes.insert(bytes.end(), image_->begin() + static_cast<std::ptrdiff_t>(xl->payload_offset),
               image_->end());
  int created = -1;
  const std::string msg = refused(bytes, &created);
  EXPECT_NE(msg.find("not saved by tern"), std::string::npos) << msg;
  EXPECT_EQ(created, 0);
}

}  // namespace
}  // namespace tern::migrate
