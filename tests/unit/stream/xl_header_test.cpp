#include "stream/xl/xl_header.hpp"

#include <gtest/gtest.h>

namespace tern::stream::xl {
namespace {

std::vector<std::byte> written(std::string_view config) {
  VectorSink sink;
  auto ok = write_header(sink, config);
  EXPECT_TRUE(ok) << (ok ? "" : ok.error().message());
  return sink.take();
}

Expected<Header> read_all(const std::vector<std::byte>& b) {
  MemorySource src(b);
  return read_header(src);
}

TEST(XlHeader, LayoutMatchesXl) {
  auto b = written(R"({"c_info":{"name":"g"}})");
  ASSERT_GE(b.size(), kFixedSize);
  EXPECT_EQ(as_chars(Bytes(b).first(32)), kMagic);
  EXPECT_EQ(load_le<std::uint32_t>(b.data() + 32), 0x01020304u);
  EXPECT_EQ(load_le<std::uint32_t>(b.data() + 36), kMandatoryJson | kMandatoryStreamV2);
  EXPECT_EQ(load_le<std::uint32_t>(b.data() + 40), 0u);
  std::uint32_t optlen = load_le<std::uint32_t>(b.data() + 44);
  EXPECT_EQ(optlen, b.size() - kFixedSize);
  // config_len counts the NUL that xl stores after the JSON text.
  EXPECT_EQ(load_le<std::uint32_t>(b.data() + 48), optlen - 4);
  EXPECT_EQ(b.back(), std::byte{0});
}

TEST(XlHeader, RoundTrips) {
  auto b = written(R"({"a":1})");
  b.push_back(std::byte{0x42});  // first byte of the payload
  MemorySource src(b);
  auto h = read_header(src);
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_TRUE(h->json());
  EXPECT_TRUE(h->stream_v2());
  EXPECT_EQ(h->config, R"({"a":1})");
  EXPECT_TRUE(h->config_nul_terminated);
  EXPECT_EQ(h->payload_offset, b.size() - 1);
  EXPECT_EQ(src.offset(), b.size() - 1);
}

TEST(XlHeader, NoConfigMeansNoJsonFlag) {
  auto b = written("");
  EXPECT_EQ(b.size(), kFixedSize);
  auto h = read_all(b);
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->json());
  EXPECT_FALSE(h->has_config);
}

TEST(XlHeader, WriterRefusesNonJson) {
  VectorSink sink;
  EXPECT_FALSE(write_header(sink, "not json"));
}

TEST(XlHeader, RejectsCorruptions) {
  auto good = written(R"({"a":1})");
  auto expect_error = [&](std::vector<std::byte> b, std::string_view needle) {
    auto h = read_all(b);
    ASSERT_FALSE(h) << "accepted corruption: " << needle;
    EXPECT_NE(h.error().message().find(needle), std::string::npos) << h.error().message();
  };
  auto b = good; b[0] = std::byte{'x'}; expect_error(b, "magic");
  b = good; store_be<std::uint32_t>(b.data() + 32, 0x01020304); expect_error(b, "big-endian");
  b = good; store_le<std::uint32_t>(b.data() + 32, 7); expect_error(b, "byteorder");
  b = good; store_le<std::uint32_t>(b.data() + 36, 0x7); expect_error(b, "unknown mandatory flags 0x4");
  b = good; store_le<std::uint32_t>(b.data() + 44, 2); b.resize(kFixedSize + 2); expect_error(b, "4-byte");
  b = good; store_le<std::uint32_t>(b.data() + 48, 1000); expect_error(b, "overruns");
  b = good; b[49 + 4] = std::byte{'!'}; expect_error(b, "not valid JSON");
  b = good; b[4 + kFixedSize + 2] = std::byte{0}; expect_error(b, "NUL byte");
  b = good; store_le<std::uint32_t>(b.data() + 44, 0); b.resize(kFixedSize); expect_error(b, "no config");
  for (std::size_t cut : {std::size_t{0}, std::size_t{10}, std::size_t{40}, kFixedSize + 3, good.size() - 1}) {
    b = good;
    b.resize(cut);
    auto h = read_all(b);
    ASSERT_FALSE(h) << "accepted truncation at " << cut;
  }
}

TEST(XlHeader, OptionalFlagsAndExtraDataAreIgnored) {
  auto b = written(R"({"a":1})");
  store_le<std::uint32_t>(b.data() + 40, 0xffffffff);
  store_le<std::uint32_t>(b.data() + 44, load_le<std::uint32_t>(b.data() + 44) + 3);
  b.insert(b.end(), {std::byte{1}, std::byte{2}, std::byte{3}});
  auto h = read_all(b);
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->extra_optional_bytes, 3u);
  EXPECT_EQ(h->optional_flags, 0xffffffffu);
}

TEST(XlHeader, LegacyTextConfigWithoutJsonFlag) {
  auto b = written("");
  std::string cfg = "name = \"g\"\n";
  store_le<std::uint32_t>(b.data() + 44, static_cast<std::uint32_t>(4 + cfg.size()));
  std::byte len[4];
  store_le<std::uint32_t>(len, static_cast<std::uint32_t>(cfg.size()));
  b.insert(b.end(), len, len + 4);
  auto cb = as_bytes(cfg);
  b.insert(b.end(), cb.begin(), cb.end());
  auto h = read_all(b);
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->config, cfg);
  EXPECT_FALSE(h->json());
}

}  // namespace
}  // namespace tern::stream::xl
