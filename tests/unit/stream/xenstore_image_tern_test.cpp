// tern's TERN_DATA extension records: written, read back field by field and
// rewritten to the same bytes in both byte orders; every rule they add is
// enforced by the reader and the writer alike.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/byte_sink.hpp"
#include "core/byte_source.hpp"
#include "stream/xenstore/describe.hpp"
#include "stream/xenstore/image_reader.hpp"
#include "stream/xenstore/image_writer.hpp"

namespace tern::stream::xenstore {
namespace {

const std::vector<Perm> kPerms{{'b', 0, 5}, {'r', 0, 0}};
const std::vector<Perm> kOld{{'n', 0, 0}};
const std::vector<TernUsage> kUsage{{5, 2, 120}, {0, -1, -40}};
const std::string kNames = std::string("a\0bb\0", 5);

std::vector<TernEvent> events() {
  return {TernEvent{kTernEventExact, kPerms, {}, "/local/domain/5/x"},
          TernEvent{kTernEventHasOldPerms, kPerms, kOld, "/local/domain/5"}};
}

std::vector<RecordBody> sample(const std::vector<TernEvent>& evs,
                               const std::vector<TernChildren>& ch) {
  return {
      ConnectionData{7, SocketSpec{12}, {}, {}, 0},
      TernConnectionData{7, 5, kTernConnHasTarget | kTernConnLiveUpdateReply, 3, 9, 0},
      TransactionData{7, 4},
      TernTransactionData{7, 4, kTernTxConflicted, kUsage, evs, ch},
      TernDomainData{5, kTernDomIntroduced | kTernDomHasTarget, 3, 17, 0xfeedf00dULL},
      ConnectionData{8, RingSpec{5, kDomidInvalid, 21}, {}, {}, 0},
      TernConnectionData{8, 5, 0, 0, 1, 0},
      TernRingData{8, 0x1234567890ULL, 22, 23, 3},
  };
}

std::vector<std::byte> write(const std::vector<RecordBody>& recs, WriterOptions o = {}) {
  VectorSink sink;
  auto r = write_image(sink, recs, o);
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  return sink.take();
}

// Reads an image and writes every record again with the same options.
std::vector<std::byte> rewrite(Bytes image, WriterOptions o) {
  MemorySource src(image);
  ImageReader reader(src);
  VectorSink sink;
  ImageWriter w(sink, o);
  EXPECT_TRUE(reader.read_header());
  EXPECT_TRUE(w.write_header());
  for (;;) {
    auto r = reader.next();
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    if (!r || r->type == RecordType::end) break;
    EXPECT_TRUE(w.write(r->body));
  }
  EXPECT_TRUE(w.finish());
  return sink.take();
}

std::string read_error(Bytes image) {
  MemorySource src(image);
  auto r = read_image(src, [](const Record&) -> Expected<void> { return {}; });
  return r ? std::string() : r.error().message();
}

std::string write_error(const std::vector<RecordBody>& recs, WriterOptions o = {}) {
  VectorSink sink;
  auto r = write_image(sink, recs, o);
  return r ? std::string() : r.error().message();
}

TEST(XenstoreImageTern, RoundTripsInBothByteOrders) {
  auto evs = events();
  std::vector<TernChildren> ch{{"/local/domain/5", as_bytes(std::string_view(kNames))},
                               {"/empty", {}}};
  for (bool big : {false, true}) {
    WriterOptions o{.version = kVersion2, .big_endian = big, .padding_in_length = false};
    auto image = write(sample(evs, ch), o);
    EXPECT_EQ(rewrite(image, o), image);
    auto j = describe(image);
    ASSERT_TRUE(j) << j.error().message();
    EXPECT_EQ((*j)["records"]["TERN_DATA"], 5);
    const auto& recs = (*j)["record_list"];
    EXPECT_EQ(recs[1]["fields"]["kind"], "connection");
    EXPECT_EQ(recs[1]["fields"]["target"], 3);
    EXPECT_EQ(recs[1]["fields"]["next_tx_id"], 9);
    EXPECT_EQ(recs[1]["fields"]["privileged"], false);
    const auto& t = recs[3]["fields"];
    EXPECT_EQ(t["conflicted"], true);
    EXPECT_EQ(t["usage"][1]["nodes"], -1);
    EXPECT_EQ(t["usage"][1]["bytes"], -40);
    EXPECT_EQ(t["events"][0]["exact"], true);
    EXPECT_EQ(t["events"][0]["perms"][0], "b5");
    EXPECT_EQ(t["events"][1]["old_perms"][0], "n0");
    EXPECT_EQ(t["children"][0]["names"][1], "bb");
    EXPECT_EQ(t["children"][1]["names"].size(), 0u);
    EXPECT_EQ(recs[4]["fields"]["gfn"], 0xfeedf00dULL);
    EXPECT_EQ(recs[4]["fields"]["introduced"], true);
    const auto& ring = recs[7]["fields"];
    EXPECT_EQ(ring["kind"], "ring");
    EXPECT_EQ(ring["conn_id"], 8);
    EXPECT_EQ(ring["page_index"], 0x1234567890ULL);
    EXPECT_EQ(ring["memory_fd"], 22);
    EXPECT_EQ(ring["to_guest_fd"], 23);
    EXPECT_EQ(ring["features"], 3);
  }
}

TEST(XenstoreImageTern, RulesAreEnforcedByWriterAndReader) {
  auto evs = events();
  std::vector<TernChildren> ch;
  // Version 1 has no TERN_DATA.
  EXPECT_NE(write_error(sample(evs, ch), {.version = kVersion1}).find("only valid in version 2"),
            std::string::npos);
  // A connection record for an unknown connection; a transaction record
  // without its TRANSACTION_DATA; a second record for the same thing.
  EXPECT_NE(write_error({TernConnectionData{3, 0, 0, 0, 1, 0}}).find("no earlier CONNECTION_DATA"),
            std::string::npos);
  EXPECT_NE(write_error({ConnectionData{7, SocketSpec{1}, {}, {}, 0},
                         TernTransactionData{7, 4, 0, {}, {}, {}}})
                .find("no earlier TRANSACTION_DATA"),
            std::string::npos);
  EXPECT_NE(
      write_error({TernDomainData{1, 0, 0, 0, 0}, TernDomainData{1, 0, 0, 0, 0}}).find("second"),
      std::string::npos);
  // Flags, targets, permission-less events, relative paths, empty names.
  EXPECT_FALSE(write_error({TernDomainData{1, 0x80, 0, 0, 0}}).empty());
  EXPECT_FALSE(write_error({TernDomainData{1, 0, 4, 0, 0}}).empty());
  auto with_tx = [](TernTransactionData t) {
    return std::vector<RecordBody>{ConnectionData{7, SocketSpec{1}, {}, {}, 0},
                                   TransactionData{7, 4}, t};
  };
  std::vector<TernEvent> no_perms{TernEvent{0, {}, {}, "/x"}};
  EXPECT_NE(write_error(with_tx({7, 4, 0, {}, no_perms, {}})).find("no permissions"),
            std::string::npos);
  std::vector<TernEvent> relative{TernEvent{0, kPerms, {}, "x"}};
  EXPECT_NE(write_error(with_tx({7, 4, 0, {}, relative, {}})).find("not absolute"),
            std::string::npos);
  std::vector<TernEvent> old_without_flag{TernEvent{0, kPerms, kOld, "/x"}};
  EXPECT_FALSE(write_error(with_tx({7, 4, 0, {}, old_without_flag, {}})).empty());
  std::string bad_names("a\0\0", 3);
  std::vector<TernChildren> empty_name{{"/x", as_bytes(std::string_view(bad_names))}};
  EXPECT_NE(write_error(with_tx({7, 4, 0, {}, {}, empty_name})).find("empty child name"),
            std::string::npos);
  EXPECT_FALSE(write_error(with_tx({7, 4, 2, {}, {}, {}})).empty());
  // A ring record belongs to a shared-ring connection, once, after the
  // connection record that says (as the ring does) which domain it is, with
  // two distinct descriptors.
  RecordBody ring_conn = ConnectionData{8, RingSpec{5, kDomidInvalid, 21}, {}, {}, 0};
  RecordBody ring_who = TernConnectionData{8, 5, 0, 0, 1, 0};
  RecordBody sock_conn = ConnectionData{7, SocketSpec{1}, {}, {}, 0};
  RecordBody sock_who = TernConnectionData{7, 5, 0, 0, 1, 0};
  EXPECT_EQ(write_error({ring_conn, ring_who, TernRingData{8, 0, 22, 23, 0}}), "");
  EXPECT_NE(write_error({TernRingData{8, 0, 22, 23, 0}}).find("no earlier CONNECTION_DATA"),
            std::string::npos);
  EXPECT_NE(write_error({ring_conn, TernRingData{8, 0, 22, 23, 0}})
                .find("before its TERN_DATA connection record"),
            std::string::npos);
  EXPECT_NE(write_error({ring_conn, TernConnectionData{8, 6, 0, 0, 1, 0}})
                .find("acts as domain 6, but its shared ring is domain 5's"),
            std::string::npos);
  EXPECT_EQ(write_error({ring_conn, TernConnectionData{8, 5, kTernConnIgnored, 0, 1, 0}}), "");
  EXPECT_NE(write_error({sock_conn, TernConnectionData{7, 5, kTernConnIgnored, 0, 1, 0}})
                .find("on a socket connection"),
            std::string::npos);
  EXPECT_NE(
      write_error({sock_conn, sock_who, TernRingData{7, 0, 22, 23, 0}}).find("a socket connection"),
      std::string::npos);
  EXPECT_NE(write_error({ring_conn, ring_who, TernRingData{8, 0, 22, 22, 0}}).find("both 22"),
            std::string::npos);
  EXPECT_NE(write_error({ring_conn, ring_who, TernRingData{8, 0, -1, 23, 0}}).find("non-negative"),
            std::string::npos);
  EXPECT_NE(write_error(
                {ring_conn, ring_who, TernRingData{8, 0, 22, 23, 0}, TernRingData{8, 0, 22, 23, 0}})
                .find("second TERN_DATA ring"),
            std::string::npos);
}

TEST(XenstoreImageTern, CorruptOrTruncatedRecordsAreRefused) {
  auto evs = events();
  std::vector<TernChildren> ch{{"/local/domain/5", as_bytes(std::string_view(kNames))}};
  auto image = write(sample(evs, ch));
  ASSERT_EQ(read_error(image), "");
  for (std::size_t cut = 0; cut < image.size(); ++cut) {
    auto part = image;
    part.resize(cut);
    EXPECT_NE(read_error(part), "") << "cut at " << cut;
  }
  // Unknown kind: the first TERN_DATA body starts after the header (16) and
  // the CONNECTION_DATA record (8 + 24) and its own record header (8).
  auto bad = image;
  bad[16 + 32 + 8] = std::byte{9};
  EXPECT_NE(read_error(bad).find("kind 9 is not defined"), std::string::npos) << read_error(bad);
  // Non-zero pad after the kind.
  bad = image;
  bad[16 + 32 + 8 + 2] = std::byte{1};
  EXPECT_NE(read_error(bad).find("pad after kind"), std::string::npos);
  // A negative descriptor in the ring record (the image's last record before
  // END: 8-octet header, body at 8 + 16 = memory-fd).
  bad = image;
  std::size_t ring_body = image.size() - 8 - 32;
  bad[ring_body + 16 + 3] = std::byte{0x80};
  bad[ring_body + 16 + 0] = std::byte{0x80};
  EXPECT_NE(read_error(bad).find("memory-fd"), std::string::npos) << read_error(bad);
  // Every single-octet change is either still a valid image or a clean error.
  for (std::size_t i = 0; i < image.size(); ++i) {
    auto flipped = image;
    flipped[i] ^= std::byte{0x41};
    (void)read_error(flipped);
  }
}

}  // namespace
}  // namespace tern::stream::xenstore
