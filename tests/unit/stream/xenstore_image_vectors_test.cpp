// Images written by Xen 4.17's real C xenstored on live update
// (tests/vectors/xenstore/README.md says how they were made).
#include <gtest/gtest.h>

#include <map>

#include "stream/xenstore/describe.hpp"
#include "unit/stream/xenstore_image_test_util.hpp"

namespace tern::stream::xenstore {
namespace {

struct OwnedNode {
  std::vector<Perm> perms;
  std::string value;
};

struct Decoded {
  Header header;
  std::vector<RecordType> types;
  std::map<std::string, OwnedNode> nodes;
  std::map<std::uint32_t, ConnectionData> conns;  // views into the image
  std::vector<std::tuple<std::uint32_t, std::string, std::string>> watches;
  std::uint64_t padded_len = 0;
  GlobalData global;
};

Decoded decode(Bytes image) {
  Decoded d;
  auto h = testing::read_each(image, [&](const Record& r) {
    d.types.push_back(r.type);
    if (r.padding_in_length) ++d.padded_len;
    if (const auto* n = std::get_if<NodeData>(&r.body)) {
      EXPECT_FALSE(n->pending());
      d.nodes[std::string(n->path)] = {{n->perms.begin(), n->perms.end()}, std::string(as_chars(n->value))};
    } else if (const auto* c = std::get_if<ConnectionData>(&r.body)) {
      d.conns[c->conn_id] = *c;  // in/out data point into `image`
    } else if (const auto* w = std::get_if<WatchData>(&r.body)) {
      d.watches.emplace_back(w->conn_id, w->path, w->token);
    } else if (const auto* g = std::get_if<GlobalData>(&r.body)) {
      d.global = *g;
    }
  });
  EXPECT_TRUE(h) << (h ? "" : h.error().message());
  if (h) d.header = *h;
  return d;
}

TEST(XenstoreImageCVectors, EmptyDaemon) {
  auto image = testing::load_vector("c-xenstored-4.17-empty.bin");
  ASSERT_EQ(image.size(), 344u);
  EXPECT_TRUE(looks_like_xenstore_image(image));
  Decoded d = decode(image);
  EXPECT_EQ(d.header.version, 1u);
  EXPECT_FALSE(d.header.big_endian);
  EXPECT_EQ(d.global.rw_socket_fd, 3);
  EXPECT_EQ(d.global.evtchn_fd, 6);
  ASSERT_EQ(d.conns.size(), 2u);
  // dom0's ring connection, then xenstore-control's socket holding the reply to live-update.
  const auto& dom0 = std::get<RingSpec>(d.conns.at(1).spec);
  EXPECT_EQ(dom0.domid, 0);
  EXPECT_EQ(dom0.tdomid, kDomidInvalid);
  const auto& ctl = d.conns.at(2);
  EXPECT_EQ(std::get<SocketSpec>(ctl.spec).socket_fd, 7);
  ASSERT_EQ(ctl.out_data.size(), 19u);
  EXPECT_EQ(as_chars(ctl.out_data.subspan(16)), std::string_view("OK\0", 3));
  EXPECT_EQ(d.nodes.size(), 5u);
  EXPECT_TRUE(d.nodes.contains("@releaseDomain"));
  EXPECT_TRUE(d.nodes.contains("@introduceDomain"));
  EXPECT_TRUE(d.nodes.contains("/tool/xenstored"));
  EXPECT_EQ(d.types.back(), RecordType::end);
  EXPECT_GT(d.padded_len, 0u);  // C xenstored counts padding in len
}

TEST(XenstoreImageCVectors, PopulatedDaemon) {
  auto image = testing::load_vector("c-xenstored-4.17-full.bin");
  ASSERT_EQ(image.size(), 1464u);
  Decoded d = decode(image);
  EXPECT_EQ(d.header.version, 1u);

  // Nodes, permissions and their flags.
  ASSERT_EQ(d.nodes.size(), 20u);
  EXPECT_EQ(d.nodes.at("/local/domain/0/name").value, "Domain-0");
  EXPECT_EQ(d.nodes.at("/local/domain/0/name").perms, (std::vector<Perm>{{'r', 0, 0}}));
  EXPECT_EQ(d.nodes.at("/vm/abc").perms,
            (std::vector<Perm>{{'n', 0, 0}, {'r', 0, 1}, {'w', 0, 2}, {'b', kPermFlagStale, 3}}));
  EXPECT_EQ(d.nodes.at("/bin").value, std::string("bi\0nary", 7));
  EXPECT_EQ(d.nodes.at("/local/domain/1/data/hello").value, "from-guest");
  EXPECT_EQ(d.nodes.at("/local/domain/1/data/hello").perms, (std::vector<Perm>{{'n', 0, 1}, {'r', 0, 0}}));
  EXPECT_EQ(d.nodes.at("/tx/gone").value, "x");  // the transaction's rm was never committed
  EXPECT_FALSE(d.nodes.contains("/tx/pending"));
  // Xen 4.17 saves no transactions.
  EXPECT_EQ(std::ranges::count(d.types, RecordType::transaction_data), 0);

  // Connections: dom0 ring, xenstore-watch, the driver's socket, dom1, dom2 (target dom1),
  // the second socket, xenstore-control.
  ASSERT_EQ(d.conns.size(), 7u);
  const auto& dom1 = d.conns.at(4);
  EXPECT_EQ(std::get<RingSpec>(dom1.spec).domid, 1);
  // Pending input: a WRITE (type 11) header announcing 20 octets, then 5 of them.
  ASSERT_EQ(dom1.in_data.size(), 21u);
  EXPECT_EQ(load_le<std::uint32_t>(dom1.in_data.data()), 11u);
  EXPECT_EQ(as_chars(dom1.in_data.subspan(16)), "data/");
  // Pending output: the rest of a watch event the guest has not consumed.
  EXPECT_EQ(dom1.out_resp_len, 29);
  EXPECT_EQ(as_chars(dom1.out_data.subspan(6)), std::string_view("data/flood\0guest-token\0", 23));
  const auto& dom2 = std::get<RingSpec>(d.conns.at(5).spec);
  EXPECT_EQ(dom2.domid, 2);
  EXPECT_EQ(dom2.tdomid, 1);
  EXPECT_EQ(as_chars(d.conns.at(6).in_data.subspan(16)), "/too");
  EXPECT_EQ(std::get<SocketSpec>(d.conns.at(2).spec).socket_fd, 7);

  // Watches, in the order registered, guest watches relative as given.
  using W = std::tuple<std::uint32_t, std::string, std::string>;
  EXPECT_EQ(d.watches, (std::vector<W>{{2, "/vm", "/vm"},
                                       {4, "data", "guest-token"},
                                       {4, "@releaseDomain", "rel"},
                                       {6, "/tool", "tooltok"}}));
}

TEST(XenstoreImageCVectors, VerifyAndDescribe) {
  auto image = testing::load_vector("c-xenstored-4.17-full.bin");
  auto s = verify(image);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->records, 33u);
  EXPECT_EQ(s->count(RecordType::node_data), 20u);
  EXPECT_EQ(s->count(RecordType::connection_data), 7u);
  EXPECT_EQ(s->count(RecordType::watch_data), 4u);
  auto j = describe(image);
  ASSERT_TRUE(j) << j.error().message();
  EXPECT_EQ((*j)["record_list"][26]["fields"]["path"], "/vm/abc");
  EXPECT_EQ((*j)["record_list"][26]["fields"]["perms"], nlohmann::json({"n0", "r1", "w2", "b3!"}));
}

// tern rewrites what the C daemon saved (spec form: len = body only) and reads it back the same.
TEST(XenstoreImageCVectors, RewriteInSpecFormKeepsEveryRecord) {
  auto image = testing::load_vector("c-xenstored-4.17-full.bin");
  VectorSink sink;
  ImageWriter w(sink, {.version = 1});
  ASSERT_TRUE(w.write_header());
  auto h = testing::read_each(image, [&](const Record& r) {
    if (r.type != RecordType::end) {
      auto ok = w.write(r.body);
      EXPECT_TRUE(ok) << ok.error().message();
    }
  });
  ASSERT_TRUE(h);
  ASSERT_TRUE(w.finish());
  // Same size (padding moves out of len), same content.
  EXPECT_EQ(sink.data().size(), image.size());
  auto again = verify(sink.data());
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->padding_in_length, 0u);
  // Rewriting with the C daemon's convention gives back its exact bytes.
  VectorSink c_sink;
  ImageWriter cw(c_sink, {.version = 1, .padding_in_length = true});
  ASSERT_TRUE(cw.write_header());
  ASSERT_TRUE(testing::read_each(image, [&](const Record& r) {
    if (r.type != RecordType::end) {
      ASSERT_TRUE(cw.write(r.body));
    }
  }));
  ASSERT_TRUE(cw.finish());
  EXPECT_TRUE(std::ranges::equal(c_sink.data(), image));
}

}  // namespace
}  // namespace tern::stream::xenstore
