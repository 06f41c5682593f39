// The libxl layer together with the real libxc reader/writer: synthetic
// streams read back through StreamReader, checkpoint interleaving, the
// splicer, and v2 -> v3 conversion of libxl streams and xl images.
#include <gtest/gtest.h>

#include <algorithm>

#include "stream/libxc/reader.hpp"
#include "stream/libxl/checkpoint_splicer.hpp"
#include "stream/libxl/convert.hpp"
#include "stream/libxl/libxl_writer.hpp"
#include "stream/libxl/stream_reader.hpp"
#include "stream/libxl/synthetic.hpp"
#include "stream/xl/convert.hpp"
#include "stream/xl/synthetic.hpp"
#include "stream/xl/xl_header.hpp"

namespace tern::stream {
namespace {

std::vector<std::byte> synth_libxl(libxc::DomainType t, std::uint32_t version, std::uint32_t checkpoints,
                                   bool xs = false) {
  libxl::SyntheticOptions o;
  o.libxc.domain_type = t;
  o.libxc.version = version;
  o.libxc.pages = 300;
  o.libxc.batch = 100;
  o.libxc.checkpoints = checkpoints;
  o.xenstore_data = xs;
  VectorSink sink;
  auto ok = libxl::write_synthetic(sink, o);
  EXPECT_TRUE(ok) << (ok ? "" : ok.error().message());
  return sink.take();
}

// Reads a whole libxl stream; returns the sequence of "layer:type" names.
Expected<std::vector<std::string>> read_all(Bytes b) {
  MemorySource src(b);
  libxl::StreamReader r(src);
  TERN_TRY(r.read_header());
  std::vector<std::string> seq;
  while (!r.done()) {
    TERN_TRY_ASSIGN(auto ev, r.next());
    switch (ev.kind) {
      case libxl::StreamEvent::Kind::libxl_record: seq.push_back("libxl:" + libxl::type_name(ev.libxl.raw.type)); break;
      case libxl::StreamEvent::Kind::libxc_header: seq.push_back("libxc:HEADER"); break;
      case libxl::StreamEvent::Kind::libxc_event:
        seq.push_back(std::string(ev.libxc.is_record() ? "libxc:" : "libxc:inferred ") +
                      libxc::record_type_name(ev.libxc.record.type));
        break;
    }
  }
  TERN_TRY(r.expect_end_of_input());
  return seq;
}

std::size_t count(const std::vector<std::string>& v, std::string_view s) {
  return static_cast<std::size_t>(std::count(v.begin(), v.end(), s));
}

TEST(LibxlStream, SyntheticHvmReadsBackInLayerOrder) {
  auto b = synth_libxl(libxc::DomainType::x86_hvm, 3, 0, /*xs=*/true);
  auto seq = read_all(b);
  ASSERT_TRUE(seq) << seq.error().message();
  ASSERT_GE(seq->size(), 6u);
  EXPECT_EQ((*seq)[0], "libxl:LIBXC_CONTEXT");
  EXPECT_EQ((*seq)[1], "libxc:HEADER");
  EXPECT_EQ(seq->back(), "libxl:END");
  EXPECT_EQ(count(*seq, "libxl:EMULATOR_XENSTORE_DATA"), 1u);
  EXPECT_EQ(count(*seq, "libxl:EMULATOR_CONTEXT"), 1u);
  auto libxc_end = std::find(seq->begin(), seq->end(), "libxc:END");
  ASSERT_NE(libxc_end, seq->end());
  EXPECT_LT(libxc_end, std::find(seq->begin(), seq->end(), "libxl:EMULATOR_CONTEXT"));
}

TEST(LibxlStream, CheckpointsInterleaveLayers) {
  for (auto t : {libxc::DomainType::x86_hvm, libxc::DomainType::x86_pv}) {
    auto b = synth_libxl(t, 2, 3);
    auto seq = read_all(b);
    ASSERT_TRUE(seq) << seq.error().message();
    EXPECT_EQ(count(*seq, "libxc:CHECKPOINT"), 3u);
    EXPECT_EQ(count(*seq, "libxl:CHECKPOINT_END"), 3u);
    EXPECT_EQ(count(*seq, "libxc:inferred STATIC_DATA_END"), 1u);
    // Every libxc CHECKPOINT is followed (after libxl records) by CHECKPOINT_END
    // before any further libxc record.
    for (std::size_t i = 0; i < seq->size(); ++i) {
      if ((*seq)[i] != "libxc:CHECKPOINT") continue;
      std::size_t j = i + 1;
      while (j < seq->size() && (*seq)[j].starts_with("libxl:") && (*seq)[j] != "libxl:CHECKPOINT_END") ++j;
      ASSERT_LT(j, seq->size());
      EXPECT_EQ((*seq)[j], "libxl:CHECKPOINT_END");
    }
  }
}

TEST(LibxlStream, PvStreamsCarryNoEmulatorRecords) {
  auto b = synth_libxl(libxc::DomainType::x86_pv, 3, 1);
  auto seq = read_all(b);
  ASSERT_TRUE(seq) << seq.error().message();
  EXPECT_EQ(count(*seq, "libxl:EMULATOR_CONTEXT"), 0u);
}

TEST(LibxlStream, EmulatorRecordInPvStreamIsRejected) {
  // PV stream, then an EMULATOR_CONTEXT inserted before the libxl END.
  auto b = synth_libxl(libxc::DomainType::x86_pv, 3, 0);
  VectorSink extra;
  libxl::Writer w(extra);
  ASSERT_TRUE(w.write_header());
  ASSERT_TRUE(w.emulator_context({}, as_bytes("x")));
  std::vector<std::byte> rec(extra.data().begin() + libxl::kHeaderSize, extra.data().end());
  b.insert(b.end() - 8, rec.begin(), rec.end());
  auto seq = read_all(b);
  ASSERT_FALSE(seq);
  EXPECT_NE(seq.error().message().find("HVM guests"), std::string::npos) << seq.error().message();
}

TEST(LibxlStream, SplicerForwardsBytesUnchangedAndCallsHookAtCheckpoints) {
  libxc::SyntheticOptions o;
  o.pages = 200;
  o.batch = 64;
  o.checkpoints = 2;
  VectorSink plain;
  ASSERT_TRUE(libxc::write_synthetic(plain, o));
  VectorSink spliced;
  std::vector<std::uint64_t> at;
  libxl::CheckpointSplicer s(spliced, [&](ByteSink& t) -> Expected<void> {
    at.push_back(t.bytes_written());
    return {};
  });
  ASSERT_TRUE(libxc::write_synthetic(s, o));
  EXPECT_EQ(spliced.data(), plain.data());
  ASSERT_EQ(at.size(), 2u);
  // Each hook ran right after an 8-byte CHECKPOINT record.
  for (auto off : at) EXPECT_EQ(load_le<std::uint32_t>(plain.data().data() + off - 8), 0x0Eu);
}

TEST(LibxlStream, ConvertUpgradesLibxcPartOnly) {
  auto v2 = synth_libxl(libxc::DomainType::x86_hvm, 2, 2);
  MemorySource in(v2);
  VectorSink out;
  auto ok = libxl::convert_to_v3(in, out);
  ASSERT_TRUE(ok) << ok.error().message();
  auto seq = read_all(out.data());
  ASSERT_TRUE(seq) << seq.error().message();
  EXPECT_EQ(count(*seq, "libxc:STATIC_DATA_END"), 1u);
  EXPECT_EQ(count(*seq, "libxc:inferred STATIC_DATA_END"), 0u);
  EXPECT_EQ(count(*seq, "libxl:CHECKPOINT_END"), 2u);
  // Converting the result again changes nothing.
  MemorySource in2(out.data());
  VectorSink out2;
  ASSERT_TRUE(libxl::convert_to_v3(in2, out2));
  EXPECT_EQ(out2.data(), out.data());
}

TEST(XlStream, SyntheticImageAndConversionKeepTheHeader) {
  libxl::SyntheticOptions o;
  o.libxc.version = 2;
  o.libxc.pages = 100;
  VectorSink img;
  ASSERT_TRUE(xl::write_synthetic(img, o));
  MemorySource src(img.data());
  auto h = xl::read_header(src);
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_TRUE(h->json());
  EXPECT_NE(h->config.find("\"hvm\""), std::string::npos);
  auto rest = read_all(Bytes(img.data()).subspan(h->payload_offset));
  ASSERT_TRUE(rest) << rest.error().message();

  MemorySource in(img.data());
  VectorSink out;
  ASSERT_TRUE(xl::convert_to_v3(in, out));
  ASSERT_GE(out.data().size(), h->raw.size());
  EXPECT_TRUE(std::equal(h->raw.begin(), h->raw.end(), out.data().begin()));
  auto conv = read_all(Bytes(out.data()).subspan(h->payload_offset));
  ASSERT_TRUE(conv) << conv.error().message();
  EXPECT_EQ(count(*conv, "libxc:STATIC_DATA_END"), 1u);
}

TEST(LibxlStream, TruncatedConversionFails) {
  auto v2 = synth_libxl(libxc::DomainType::x86_pv, 2, 1);
  for (std::size_t cut : {std::size_t{20}, v2.size() / 2, v2.size() - 8, v2.size() - 1}) {
    MemorySource in(Bytes(v2).first(cut));
    VectorSink out;
    EXPECT_FALSE(libxl::convert_to_v3(in, out)) << "cut at " << cut;
  }
}

}  // namespace
}  // namespace tern::stream
