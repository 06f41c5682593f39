// The strict reader on broken images: every rule broken gives an error that
// names the offset, record and rule; truncation at any offset and any single
// corrupted byte give an error or a valid image, never a crash.
#include <gtest/gtest.h>

#include "stream/xenstore/describe.hpp"
#include "unit/stream/xenstore_image_test_util.hpp"

namespace tern::stream::xenstore {
namespace {

using Image = std::vector<std::byte>;

struct Where {
  std::uint64_t offset;
  RecordType type;
};

std::vector<Where> layout(const Image& image) {
  std::vector<Where> w;
  auto h = testing::read_each(image, [&](const Record& r) { w.push_back({r.offset, r.type}); });
  EXPECT_TRUE(h) << (h ? "" : h.error().message());
  return w;
}

// The n-th record (0-based) of a type.
std::uint64_t find(const Image& image, RecordType t, int nth = 0) {
  for (const Where& w : layout(image))
    if (w.type == t && nth-- == 0) return w.offset;
  ADD_FAILURE() << "no such record";
  return 0;
}

void put32(Image& im, std::uint64_t at, std::uint32_t v) { store_le<std::uint32_t>(im.data() + at, v); }
void put16(Image& im, std::uint64_t at, std::uint16_t v) { store_le<std::uint16_t>(im.data() + at, v); }

void expect_error(const Image& image, Errc code, std::initializer_list<std::string_view> parts) {
  auto r = verify(image);
  ASSERT_FALSE(r) << "image was accepted";
  EXPECT_EQ(r.error().code(), code) << r.error().message();
  for (std::string_view p : parts)
    EXPECT_NE(r.error().message().find(p), std::string::npos) << "missing \"" << p << "\" in: " << r.error().message();
  auto d = describe(image);
  EXPECT_FALSE(d);
}

// Every record type, small enough to corrupt octet by octet.
Image good(std::uint32_t version = 2) {
  static testing::Sample s;
  return testing::write(s.records(version, false), {.version = version});
}

// A little-endian image assembled by hand from (type, body) pairs, spec framing.
Image raw(std::uint32_t version, std::initializer_list<std::pair<std::uint32_t, Image>> recs) {
  Image im(16);
  std::memcpy(im.data(), "xenstore", 8);
  store_be<std::uint32_t>(im.data() + 8, version);
  for (const auto& [type, body] : recs) {
    std::size_t at = im.size();
    im.resize(at + 8);
    put32(im, at, type);
    put32(im, at + 4, static_cast<std::uint32_t>(body.size()));
    im.insert(im.end(), body.begin(), body.end());
    im.resize(align_up(im.size(), 8));
  }
  im.resize(im.size() + 8);  // END
  return im;
}

Image bytes(std::string_view s) {
  Image b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

Image socket_conn(std::uint32_t id) {
  Image b(24);
  put32(b, 0, id);
  put16(b, 4, 1);
  put32(b, 8, 5);
  return b;
}

TEST(XenstoreImageCorruption, GoodImagesAreAccepted) {
  EXPECT_TRUE(verify(good(2)));
  EXPECT_TRUE(verify(good(1)));
  EXPECT_TRUE(verify(raw(1, {})));
}

TEST(XenstoreImageCorruption, HeaderFields) {
  Image im = good();
  im[3] = std::byte{'X'};
  expect_error(im, Errc::invalid, {"offset 0:", "ident"});
  im = good();
  put32(im, 8, 0);
  expect_error(im, Errc::invalid, {"offset 8:", "version is 0"});
  im = good();
  store_be<std::uint32_t>(im.data() + 8, 3);
  expect_error(im, Errc::unsupported, {"offset 8:", "version 3"});
  im = good();
  store_be<std::uint32_t>(im.data() + 12, 0x2);
  expect_error(im, Errc::invalid, {"offset 12:", "reserved"});
  // The endianness flag of a little-endian image flipped: record fields then decode as garbage.
  im = good();
  store_be<std::uint32_t>(im.data() + 12, 0x1);
  EXPECT_FALSE(verify(im));
  expect_error(Image(bytes("xenstor")), Errc::truncated, {"offset 7:", "header"});
  expect_error(Image(bytes("notxenstore")), Errc::invalid, {"offset 0:", "ident"});
}

TEST(XenstoreImageCorruption, UnknownRecordType) {
  Image im = good();
  auto at = layout(im)[4].offset;
  put32(im, at, 42);
  expect_error(im, Errc::invalid, {fmt::format("offset {}:", at), "record #4", "unknown record type 0x0000002a"});
}

TEST(XenstoreImageCorruption, BadLengths) {
  Image base = good();
  std::uint64_t node = find(base, RecordType::node_data, 2);  // /vm, 4 perms + value
  Image im = base;
  put32(im, node + 4, load_le<std::uint32_t>(im.data() + node + 4) - 1);
  expect_error(im, Errc::invalid, {"NODE_DATA", "padding octet"});  // the value's last octet is now padding
  im = base;
  put32(im, node + 4, load_le<std::uint32_t>(im.data() + node + 4) + 8);
  expect_error(im, Errc::invalid, {"NODE_DATA"});
  im = base;  // perm-count says one more than present
  put16(im, node + 8 + 14, 5);
  expect_error(im, Errc::invalid, {"NODE_DATA", "shorter than"});
  im = base;  // perm-count says one fewer: body longer than declared
  put16(im, node + 8 + 14, 3);
  expect_error(im, Errc::invalid, {"NODE_DATA"});
  im = base;  // value-len too big
  put16(im, node + 8 + 10, 200);
  expect_error(im, Errc::invalid, {"NODE_DATA", "shorter than"});
  im = base;  // path-len 0
  put16(im, node + 8 + 8, 0);
  expect_error(im, Errc::invalid, {"NODE_DATA"});
  // Connection with in-data-len beyond the body.
  im = base;
  std::uint64_t conn = find(base, RecordType::connection_data, 0);
  put16(im, conn + 8 + 16, 1000);
  expect_error(im, Errc::invalid, {"CONNECTION_DATA", "shorter than"});
  // Fixed part missing.
  expect_error(raw(2, {{1, Image(4)}}), Errc::invalid, {"GLOBAL_DATA", "fixed part"});
  expect_error(raw(2, {{4, Image(12)}}), Errc::invalid, {"TRANSACTION_DATA", "longer than"});
  expect_error(raw(2, {{0, Image(8)}}), Errc::invalid, {"END", "longer than"});
  // Absurd len.
  im = base;
  put32(im, conn + 4, 0x7fffffff);
  expect_error(im, Errc::invalid, {fmt::format("offset {}:", conn + 4), "limit"});
}

TEST(XenstoreImageCorruption, Padding) {
  Image base = good();
  // WATCH_DATA "data"/"guest-token": 25-octet body, 7 octets of padding.
  std::uint64_t w = find(base, RecordType::watch_data, 0);
  Image im = base;
  im[w + 8 + 25 + 6] = std::byte{1};
  expect_error(im, Errc::invalid, {fmt::format("offset {}:", w + 8 + 25 + 6), "padding octet"});
  // Padding counted in len (Xen C style) must be zero too.
  testing::Sample s;
  Image c = testing::write(s.records(2), {.padding_in_length = true});
  w = find(c, RecordType::watch_data, 0);
  c[w + 8 + 26] = std::byte{0x55};
  expect_error(c, Errc::invalid, {fmt::format("offset {}:", w + 8 + 26), "padding counted in len"});
  // In-record pad fields.
  im = base;
  std::uint64_t conn = find(base, RecordType::connection_data, 0);
  im[conn + 8 + 6] = std::byte{1};
  expect_error(im, Errc::invalid, {fmt::format("offset {}:", conn + 8 + 6), "pad after conn-type"});
  im = base;
  std::uint64_t sock = find(base, RecordType::connection_data, 1);
  im[sock + 8 + 13] = std::byte{1};
  expect_error(im, Errc::invalid, {"pad after socket-fd"});
  im = base;
  std::uint64_t ext = find(base, RecordType::watch_data_extended, 0);
  im[ext + 8 + 10] = std::byte{1};
  expect_error(im, Errc::invalid, {"pad after depth"});
}

TEST(XenstoreImageCorruption, MissingEndAndDataAfterEnd) {
  Image base = good();
  Image im(base.begin(), base.end() - 8);
  expect_error(im, Errc::truncated, {fmt::format("offset {}:", im.size()), "before any END"});
  im = base;
  im.resize(im.size() + 8);
  expect_error(im, Errc::invalid, {fmt::format("offset {}:", base.size()), "8 octets of data after the END"});
  im = base;
  im.push_back(std::byte{0});
  expect_error(im, Errc::invalid, {"after the END"});
}

TEST(XenstoreImageCorruption, Version2RecordsInVersion1Image) {
  Image ext_watch(12 + 3 + 2);
  put32(ext_watch, 0, 1);
  put16(ext_watch, 4, 3);
  put16(ext_watch, 6, 2);
  std::memcpy(ext_watch.data() + 12, "/a\0t\0", 5);
  Image ok = raw(2, {{2, socket_conn(1)}, {8, ext_watch}});
  EXPECT_TRUE(verify(ok)) << verify(ok).error().message();
  Image v1 = raw(1, {{2, socket_conn(1)}, {8, ext_watch}});
  expect_error(v1, Errc::invalid, {"record #1 (WATCH_DATA_EXTENDED)", "only valid in version 2", "version 1"});
  // DOMAIN_DATA's features field is version 2 only.
  Image dom(8);
  put32(dom, 4, 1);
  EXPECT_TRUE(verify(raw(2, {{7, dom}})));
  expect_error(raw(1, {{7, dom}}), Errc::invalid, {"DOMAIN_DATA", "features", "version 2"});
  // A whole v2 image relabelled version 1.
  Image im = good(2);
  store_be<std::uint32_t>(im.data() + 8, 1);
  expect_error(im, Errc::invalid, {"version 2"});
}

TEST(XenstoreImageCorruption, CrossRecordRules) {
  Image base = good();
  Image im = base;
  std::uint64_t w = find(base, RecordType::watch_data, 0);
  put32(im, w + 8, 99);
  expect_error(im, Errc::invalid, {"WATCH_DATA", "conn-id 99 has no earlier CONNECTION_DATA"});
  im = base;
  std::uint64_t c2 = find(base, RecordType::connection_data, 1);
  put32(im, c2 + 8, 1);
  expect_error(im, Errc::invalid, {"conn-id 1 is used by an earlier CONNECTION_DATA"});
  im = base;
  put32(im, c2 + 8, 0);
  expect_error(im, Errc::invalid, {"conn-id is 0"});
  im = base;
  std::uint64_t pending = find(base, RecordType::node_data, 4);  // /vm/new in tx 1 of conn 2
  put32(im, pending + 8 + 4, 77);
  expect_error(im, Errc::invalid, {"transaction 77 of conn-id 2", "no earlier TRANSACTION_DATA"});
  im = base;
  std::uint64_t tx = find(base, RecordType::transaction_data, 0);
  put32(im, tx + 8, 55);
  expect_error(im, Errc::invalid, {"TRANSACTION_DATA", "conn-id 55"});
  im = base;
  put32(im, tx + 8 + 4, 0);
  expect_error(im, Errc::invalid, {"tx-id is 0"});
  // Duplicates of once-only records.
  expect_error(raw(2, {{1, Image(8)}, {1, Image(8)}}), Errc::invalid, {"record #1 (GLOBAL_DATA)", "second GLOBAL_DATA"});
  expect_error(raw(2, {{6, Image(4)}, {6, Image(4)}}), Errc::invalid, {"second GLOBAL_QUOTA_DATA"});
  expect_error(raw(2, {{7, Image(8)}, {7, Image(8)}}), Errc::invalid, {"second DOMAIN_DATA record for domain 0"});
}

TEST(XenstoreImageCorruption, FieldValues) {
  Image base = good();
  std::uint64_t conn = find(base, RecordType::connection_data, 0);
  Image im = base;
  put16(im, conn + 8 + 4, 2);
  expect_error(im, Errc::invalid, {fmt::format("offset {}:", conn + 12), "conn-type 0x0002 is reserved"});
  im = base;
  put16(im, conn + 8 + 18, 1000);  // out-resp-len > out-data-len (41)
  expect_error(im, Errc::invalid, {fmt::format("offset {}:", conn + 26), "out-resp-len 1000 exceeds out-data-len"});
  std::uint64_t node = find(base, RecordType::node_data, 2);  // /vm: perms n0 r1 w2! b3!
  im = base;
  im[node + 8 + 16 + 4] = std::byte{'x'};
  expect_error(im, Errc::invalid, {fmt::format("offset {}:", node + 28), "permission #1 has perm 0x78"});
  im = base;
  im[node + 8 + 16 + 5] = std::byte{0x80};
  expect_error(im, Errc::invalid, {fmt::format("offset {}:", node + 29), "undefined flag bits 0x80"});
  std::uint64_t path = node + 8 + 16 + 16;  // "/vm\0"
  im = base;
  im[path + 1] = std::byte{0};
  expect_error(im, Errc::invalid, {fmt::format("offset {}:", path + 1), "path contains a NUL before"});
  im = base;
  im[path + 3] = std::byte{'x'};
  expect_error(im, Errc::invalid, {fmt::format("offset {}:", path + 3), "path is not NUL-terminated"});
  im = base;
  im[path] = std::byte{'v'};
  expect_error(im, Errc::invalid, {"not absolute"});
  // Committed node without permissions, deleted node with a value.
  Image n(16 + 3);
  put16(n, 8, 3);
  std::memcpy(n.data() + 16, "/a\0", 3);
  expect_error(raw(2, {{5, n}}), Errc::invalid, {"committed node /a has no permissions"});
  Image t(8);
  put32(t, 0, 1);
  put32(t, 4, 1);
  Image del(16 + 3 + 1);
  put32(del, 0, 1);
  put32(del, 4, 1);
  put16(del, 8, 3);
  put16(del, 10, 1);
  std::memcpy(del.data() + 16, "/a\0v", 4);
  expect_error(raw(2, {{2, socket_conn(1)}, {4, t}, {5, del}}), Errc::invalid, {"deleted in its transaction"});
  // Quota names.
  Image q(4 + 4 + 3);
  put16(q, 0, 1);
  std::memcpy(q.data() + 8, "abc", 3);  // no NUL
  expect_error(raw(2, {{6, q}}), Errc::invalid, {"quota name #0 is not NUL-terminated"});
  Image q2(4 + 8 + 2);
  put16(q2, 2, 2);
  std::memcpy(q2.data() + 12, "a\0", 2);  // second name missing
  expect_error(raw(2, {{6, q2}}), Errc::invalid, {"quota name #1 is missing"});
  Image q3(4 + 4 + 1);
  put16(q3, 0, 1);  // empty name
  expect_error(raw(2, {{6, q3}}), Errc::invalid, {"quota name #0 is empty"});
  Image q4(4 + 4 + 4);
  put16(q4, 0, 1);
  std::memcpy(q4.data() + 8, "a\0b\0", 4);  // one name too many
  expect_error(raw(2, {{6, q4}}), Errc::invalid, {"longer than"});
}

// Every prefix of a valid image is an error naming the offset where the input ended.
void truncate_everywhere(const Image& image) {
  for (std::size_t n = 0; n < image.size(); ++n) {
    auto r = verify(Bytes(image).first(n));
    ASSERT_FALSE(r) << "prefix of " << n << " octets accepted";
    EXPECT_EQ(r.error().code(), Errc::truncated) << r.error().message();
    EXPECT_NE(r.error().message().find(fmt::format("offset {}:", n)), std::string::npos)
        << "n=" << n << ": " << r.error().message();
  }
}

TEST(XenstoreImageCorruption, TruncationAtEveryOffset) {
  truncate_everywhere(good(2));
  truncate_everywhere(good(1));
  truncate_everywhere(testing::load_vector("c-xenstored-4.17-full.bin"));
}

// Any single corrupted octet: a value or an error, never a crash (ASan build checks).
TEST(XenstoreImageCorruption, EverySingleByteCorruption) {
  for (const Image& base : {good(2), testing::load_vector("c-xenstored-4.17-full.bin")}) {
    std::size_t errors = 0;
    for (std::size_t i = 0; i < base.size(); ++i) {
      for (unsigned x : {0x01u, 0x80u, 0xffu}) {
        Image im = base;
        im[i] ^= static_cast<std::byte>(x);
        auto r = verify(im);
        if (!r) {
          ++errors;
          EXPECT_NE(r.error().message().find("offset "), std::string::npos) << r.error().message();
        }
        (void)describe(im);
      }
    }
    EXPECT_GT(errors, base.size() * 3 / 2);  // most corruptions are caught
  }
}

}  // namespace
}  // namespace tern::stream::xenstore
