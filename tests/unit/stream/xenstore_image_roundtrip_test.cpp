// Round trips of every record type through ImageWriter and ImageReader, in
// both byte orders and both len conventions, plus byte-exact layouts.
#include <gtest/gtest.h>

#include "stream/xenstore/describe.hpp"
#include "unit/stream/xenstore_image_test_util.hpp"

namespace tern::stream::xenstore {
namespace {

using testing::Sample;

std::vector<std::byte> hex(std::string_view h) {
  std::vector<std::byte> out;
  std::string digits;
  for (char c : h)
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2)
    out.push_back(static_cast<std::byte>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  return out;
}

void expect_round_trip(std::uint32_t version, WriterOptions opts) {
  Sample s;
  auto records = s.records(version);
  opts.version = version;
  auto image = testing::write(records, opts);
  std::size_t i = 0;
  auto h = testing::read_each(image, [&](const Record& r) {
    if (r.type == RecordType::end) {
      EXPECT_EQ(i, records.size());
      return;
    }
    ASSERT_LT(i, records.size());
    EXPECT_EQ(r.index, i);
    EXPECT_EQ(r.type, record_type_of(records[i])) << "record " << i;
    EXPECT_TRUE(testing::same(r.body, records[i])) << "record " << i << " (" << record_type_name(r.type) << ")";
    EXPECT_EQ(r.offset % 8, 0u);
    ++i;
  });
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->version, version);
  EXPECT_EQ(h->big_endian, opts.big_endian);
  EXPECT_EQ(i, records.size());
}

TEST(XenstoreImageRoundTrip, EveryRecordTypeV2LittleEndian) { expect_round_trip(2, {}); }
TEST(XenstoreImageRoundTrip, EveryRecordTypeV2BigEndian) { expect_round_trip(2, {.big_endian = true}); }
TEST(XenstoreImageRoundTrip, EveryRecordTypeV1) { expect_round_trip(1, {}); }
TEST(XenstoreImageRoundTrip, PaddingCountedInLenAsXenCDaemonWrites) {
  expect_round_trip(2, {.padding_in_length = true});
  Sample s;
  auto image = testing::write(s.records(2), {.padding_in_length = true});
  auto sum = verify(image);
  ASSERT_TRUE(sum) << sum.error().message();
  EXPECT_GT(sum->padding_in_length, 0u);
  // Same bytes as the spec form except the len fields.
  auto spec = testing::write(s.records(2));
  EXPECT_EQ(image.size(), spec.size());
}

TEST(XenstoreImageRoundTrip, SpecFormHasNoPaddingInLen) {
  Sample s;
  auto sum = verify(testing::write(s.records(2)));
  ASSERT_TRUE(sum) << sum.error().message();
  EXPECT_EQ(sum->padding_in_length, 0u);
  EXPECT_EQ(sum->count(RecordType::node_data), 7u);
  EXPECT_EQ(sum->count(RecordType::watch_data), 2u);
  EXPECT_EQ(sum->count(RecordType::watch_data_extended), 2u);
  EXPECT_EQ(sum->count(RecordType::connection_data), 3u);
  EXPECT_EQ(sum->count(RecordType::transaction_data), 2u);
  EXPECT_EQ(sum->count(RecordType::domain_data), 2u);
  EXPECT_EQ(sum->count(RecordType::global_quota_data), 1u);
  EXPECT_EQ(sum->count(RecordType::global_data), 1u);
  EXPECT_EQ(sum->count(RecordType::end), 1u);
  EXPECT_EQ(sum->pending_nodes, 3u);
  EXPECT_EQ(sum->version, 2u);
}

TEST(XenstoreImageRoundTrip, EmptyImageIsHeaderAndEnd) {
  auto image = testing::write({});
  EXPECT_EQ(image, hex("78656e73746f7265 00000002 00000000  00000000 00000000"));
  auto v1 = testing::write({}, {.version = 1, .big_endian = true});
  EXPECT_EQ(v1, hex("78656e73746f7265 00000001 00000001  00000000 00000000"));
}

TEST(XenstoreImageRoundTrip, ByteExactLayouts) {
  std::vector<Perm> perms = {{'n', 0, 1}, {'r', kPermFlagStale, 0x0203}};
  std::vector<Quota> q = {{"ab", 5}};
  std::string in = "IN", out = "OUT";
  std::vector<RecordBody> recs = {
      GlobalData{3, -1},
      ConnectionData{0x11, RingSpec{1, kDomidInvalid, 0x99}, as_bytes(in), as_bytes(out), 2},
      ConnectionData{0x12, SocketSpec{7}, {}, {}, 0},
      WatchData{0x11, "/a", "t", std::nullopt},
      WatchData{0x11, "/b", "", 3},
      TransactionData{0x12, 4},
      NodeData{0, 0, 0, perms, "/x", as_bytes(std::string_view("v"))},
      NodeData{0x12, 4, 0, {}, "/y", {}},
      GlobalQuotaData{q, {}},
      DomainData{1, 0x1, q},
  };
  auto image = testing::write(recs);
  auto expect = hex(R"(
    78656e73746f7265 00000002 00000000
    01000000 08000000  03000000 ffffffff
    02000000 1d000000  11000000 0000 0000  0100 f47f 99000000  0200 0200 03000000  494e 4f5554 000000
    02000000 18000000  12000000 0100 0000  07000000 00000000  0000 0000 00000000
    03000000 0d000000  11000000 0300 0200  2f6100 7400 000000
    08000000 10000000  11000000 0300 0100 0300 0000  2f6200 00
    04000000 08000000  12000000 04000000
    05000000 1c000000  00000000 00000000 0300 0100 0000 0200  6e000100 72010302  2f7800 76 00000000
    05000000 13000000  12000000 04000000 0300 0000 0000 0000  2f7900 0000000000
    06000000 0b000000  0100 0000 05000000 616200 0000000000
    07000000 0f000000  0100 0100 01000000 05000000 616200 00
    00000000 00000000)");
  EXPECT_EQ(image.size(), expect.size());
  for (std::size_t i = 0; i < std::min(image.size(), expect.size()); ++i)
    ASSERT_EQ(image[i], expect[i]) << "first difference at offset " << i;
  auto back = verify(image);
  ASSERT_TRUE(back) << back.error().message();
}

TEST(XenstoreImageRoundTrip, ReaderIsZeroCopyOverMemory) {
  Sample s;
  auto image = testing::write(s.records(2));
  const std::byte* lo = image.data();
  const std::byte* hi = image.data() + image.size();
  auto inside = [&](const void* p) { return p >= static_cast<const void*>(lo) && p < static_cast<const void*>(hi); };
  auto h = testing::read_each(image, [&](const Record& r) {
    if (const auto* n = std::get_if<NodeData>(&r.body)) {
      EXPECT_TRUE(inside(n->path.data()));
      if (!n->value.empty()) {
        EXPECT_TRUE(inside(n->value.data()));
      }
    }
    if (const auto* c = std::get_if<ConnectionData>(&r.body); c && !c->out_data.empty()) {
      EXPECT_TRUE(inside(c->out_data.data()));
    }
  });
  ASSERT_TRUE(h);
}

TEST(XenstoreImageRoundTrip, DescribeNamesEveryField) {
  Sample s;
  auto j = describe(testing::write(s.records(2)));
  ASSERT_TRUE(j) << j.error().message();
  const auto& list = (*j)["record_list"];
  ASSERT_EQ(list.size(), s.records(2).size() + 1);
  EXPECT_EQ((*j)["version"], 2);
  EXPECT_EQ(list[0]["type"], "GLOBAL_DATA");
  EXPECT_EQ(list[0]["offset"], 16);
  EXPECT_EQ(list[1]["fields"]["global"][1]["name"], "implementation-specific");
  EXPECT_EQ(list[4]["fields"]["conn_type"], "shared ring");
  EXPECT_EQ(list[4]["fields"]["out_resp_len"], 29);
  EXPECT_EQ(list[5]["fields"]["socket_fd"], 9);
  EXPECT_EQ(list[9]["type"], "WATCH_DATA_EXTENDED");
  EXPECT_EQ(list[9]["fields"]["depth"], 1);
  EXPECT_EQ(list[10]["fields"]["depth"], "unlimited");
  EXPECT_EQ(list[15]["fields"]["perms"], nlohmann::json({"n0", "r1", "w2!", "b3!"}));
  EXPECT_EQ(list[16]["fields"]["value"], "bi\\x00nary");
  EXPECT_EQ(list[19]["fields"]["deleted"], true);
  EXPECT_EQ(list.back()["type"], "END");
  EXPECT_NO_THROW((void)j->dump());
}

TEST(XenstoreImageRoundTrip, LooksLikeImage) {
  auto image = testing::write({});
  EXPECT_TRUE(looks_like_xenstore_image(image));
  EXPECT_TRUE(looks_like_xenstore_image(Bytes(image).first(8)));
  EXPECT_FALSE(looks_like_xenstore_image(Bytes(image).first(7)));
  auto bad = image;
  bad[11] = std::byte{3};  // version 3
  EXPECT_FALSE(looks_like_xenstore_image(bad));
  bad = image;
  bad[0] = std::byte{'X'};
  EXPECT_FALSE(looks_like_xenstore_image(bad));
  bad = image;
  bad[14] = std::byte{1};  // reserved flag
  EXPECT_FALSE(looks_like_xenstore_image(bad));
}

TEST(XenstoreImageWriter, RefusesWhatTheReaderWouldRefuse) {
  VectorSink sink;
  ImageWriter w(sink, {.version = 1});
  EXPECT_FALSE(w.write(GlobalData{}));  // before the header
  ASSERT_TRUE(w.write_header());
  EXPECT_FALSE(w.write(WatchData{1, "/a", "t", 3}));  // v2-only record in v1 (and no connection)
  ASSERT_TRUE(w.write(ConnectionData{1, SocketSpec{4}, {}, {}, 0}));
  auto ext = w.write(WatchData{1, "/a", "t", 3});
  ASSERT_FALSE(ext);
  EXPECT_NE(ext.error().message().find("only valid in version 2"), std::string::npos) << ext.error().message();
  EXPECT_FALSE(w.write(DomainData{1, 5, {}}));                      // features in v1
  EXPECT_FALSE(w.write(ConnectionData{1, SocketSpec{5}, {}, {}, 0}));  // duplicate conn-id
  EXPECT_FALSE(w.write(ConnectionData{0, SocketSpec{5}, {}, {}, 0}));  // conn-id 0
  EXPECT_FALSE(w.write(WatchData{2, "/a", "t", std::nullopt}));       // unknown connection
  EXPECT_FALSE(w.write(WatchData{1, std::string_view("/a\0b", 4), "t", std::nullopt}));
  std::vector<Perm> p = {{'n', 0, 0}};
  std::vector<Perm> badp = {{'x', 0, 0}};
  EXPECT_FALSE(w.write(NodeData{0, 0, 0, {}, "/a", {}}));          // committed without owner
  EXPECT_FALSE(w.write(NodeData{0, 0, 0, badp, "/a", {}}));        // bad perm
  EXPECT_FALSE(w.write(NodeData{0, 0, 0, p, "a", {}}));            // relative path
  EXPECT_FALSE(w.write(NodeData{0, 3, 0, p, "/a", {}}));           // committed with tx-id
  EXPECT_FALSE(w.write(NodeData{1, 3, 1, p, "/a", {}}));           // no such transaction
  EXPECT_FALSE(w.write(TransactionData{1, 0}));                    // tx-id 0
  ASSERT_TRUE(w.write(TransactionData{1, 3}));
  EXPECT_FALSE(w.write(NodeData{1, 3, 4, p, "/a", {}}));           // undefined access bit
  EXPECT_FALSE(w.write(NodeData{1, 3, 2, {}, "/a", as_bytes(std::string_view("v"))}));  // deleted with value
  ASSERT_TRUE(w.write(NodeData{1, 3, 0, {}, "/a", {}}));
  std::string out = "xy";
  EXPECT_FALSE(w.write(ConnectionData{2, SocketSpec{5}, {}, as_bytes(out), 3}));  // resp > out
  ASSERT_TRUE(w.finish());
  EXPECT_FALSE(w.write(GlobalData{}));  // after END
  auto sum = verify(sink.data());
  ASSERT_TRUE(sum) << sum.error().message();
  EXPECT_EQ(sum->records, 4u);
}

}  // namespace
}  // namespace tern::stream::xenstore
