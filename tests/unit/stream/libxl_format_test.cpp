#include "stream/libxl/libxl_format.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace tern::stream::libxl {
namespace {

std::vector<std::byte> bytes_of(std::string_view s) {
  auto b = as_bytes(s);
  return {b.begin(), b.end()};
}

TEST(LibxlFormat, HeaderRoundTripsAndIsBigEndian) {
  std::byte buf[kHeaderSize];
  encode_header(Header{.version = kVersion, .options = kOptLegacy}, buf);
  EXPECT_EQ(as_chars(Bytes(buf, 8)), "LibxlFmt");
  EXPECT_EQ(buf[11], std::byte{2});   // version, big-endian
  EXPECT_EQ(buf[15], std::byte{2});   // legacy bit, big-endian
  auto h = decode_header(Bytes(buf, kHeaderSize));
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_TRUE(h->legacy());
  EXPECT_FALSE(h->big_endian());
}

TEST(LibxlFormat, HeaderRejectsBadFields) {
  std::byte buf[kHeaderSize];
  encode_header(Header{}, buf);
  auto with = [&](std::size_t off, std::byte v) {
    std::byte copy[kHeaderSize];
    std::memcpy(copy, buf, kHeaderSize);
    copy[off] = v;
    return decode_header(Bytes(copy, kHeaderSize));
  };
  auto ident = with(0, std::byte{'l'});
  ASSERT_FALSE(ident);
  EXPECT_NE(ident.error().message().find("ident"), std::string::npos);
  auto version = with(11, std::byte{3});
  ASSERT_FALSE(version);
  EXPECT_NE(version.error().message().find("offset 8: version is 3"), std::string::npos);
  auto be = with(15, std::byte{1});
  ASSERT_FALSE(be);
  EXPECT_NE(be.error().message().find("big-endian"), std::string::npos);
  auto reserved = with(12, std::byte{0x80});  // bit 31: beyond the 16 bits Xen's verifier checks
  ASSERT_FALSE(reserved);
  EXPECT_NE(reserved.error().message().find("reserved option bits"), std::string::npos);
  auto short_hdr = decode_header(Bytes(buf, 10));
  ASSERT_FALSE(short_hdr);
  EXPECT_EQ(short_hdr.error().code(), Errc::truncated);
}

TEST(LibxlFormat, XenstoreDataRoundTrips) {
  XenstoreData d{.emu = {kEmulatorQemuUpstream, 3}, .entries = {{"physmap/1/start_addr", "f0000000"}, {"k", ""}}};
  auto body = encode_xenstore_data(d);
  ASSERT_TRUE(body);
  auto back = decode_xenstore_data(*body);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->emu.index, 3u);
  EXPECT_EQ(back->entries, d.entries);
}

TEST(LibxlFormat, XenstoreDataRules) {
  std::vector<std::byte> hdr = encode_emulator_header({kEmulatorQemuUpstream, 0});
  auto with_data = [&](std::string_view data) {
    auto body = hdr;
    auto extra = bytes_of(data);
    body.insert(body.end(), extra.begin(), extra.end());
    return decode_xenstore_data(body);
  };
  EXPECT_TRUE(with_data(""));
  EXPECT_FALSE(with_data(std::string_view("key\0value", 9)));        // not NUL-terminated
  EXPECT_FALSE(with_data(std::string_view("key\0", 4)));             // odd number of strings
  EXPECT_FALSE(with_data(std::string_view("bad key\0v\0", 10)));     // space in key
  EXPECT_FALSE(with_data(std::string_view("\0v\0", 3)));             // empty key
  EXPECT_FALSE(with_data(std::string_view("k\0\x01\0", 4)));         // control char in value
  EXPECT_FALSE(decode_xenstore_data(Bytes(hdr).first(7)));           // short emulator header
  auto bad_emu = encode_emulator_header({7, 0});
  auto r = decode_xenstore_data(bad_emu);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("emulator_id 0x7"), std::string::npos);
}

TEST(LibxlFormat, EncoderRefusesBadKeys) {
  XenstoreData d{.emu = {}, .entries = {{"a b", "v"}}};
  EXPECT_FALSE(encode_xenstore_data(d));
}

TEST(LibxlFormat, CheckpointStateRules) {
  auto four = encode_checkpoint_state({kCheckpointSvmReady});
  auto s = decode_checkpoint_state(four);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->control, kCheckpointSvmReady);
  auto eight = four;
  eight.resize(8);
  EXPECT_TRUE(decode_checkpoint_state(eight));
  eight[5] = std::byte{1};
  EXPECT_FALSE(decode_checkpoint_state(eight));
  EXPECT_FALSE(decode_checkpoint_state(Bytes{}));
  auto reserved = encode_checkpoint_state({4});
  EXPECT_FALSE(decode_checkpoint_state(reserved));
}

TEST(LibxlFormat, TypeNames) {
  EXPECT_EQ(type_name(kLibxcContext), "LIBXC_CONTEXT");
  EXPECT_EQ(type_name(0x80000001), "optional record 0x80000001");
  EXPECT_EQ(type_name(0x6), "unknown mandatory record 0x00000006");
}

}  // namespace
}  // namespace tern::stream::libxl
