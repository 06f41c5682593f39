// Version 1 images: hand-assembled per the spec (here big-endian, as a
// big-endian host would write them), read through a buffered source whose
// views die at the next read.
#include <gtest/gtest.h>

#include "stream/xenstore/describe.hpp"
#include "unit/stream/xenstore_image_test_util.hpp"

namespace tern::stream::xenstore {
namespace {

std::vector<std::byte> hex(std::string_view h) {
  std::vector<std::byte> out;
  std::string digits;
  for (char c : h)
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2)
    out.push_back(static_cast<std::byte>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  return out;
}

// Copies every read into one reused buffer, like a socket or pipe source:
// a view is valid only until the next read.
class BufferedSource final : public ByteSource {
 public:
  explicit BufferedSource(Bytes data) : data_(data) {}
  Expected<Bytes> read(std::size_t n) override {
    std::size_t take = std::min(n, data_.size() - pos_);
    buf_.assign(data_.begin() + static_cast<std::ptrdiff_t>(pos_),
                data_.begin() + static_cast<std::ptrdiff_t>(pos_ + take));
    pos_ += take;
    return Bytes(buf_);
  }
  Expected<std::uint64_t> skip(std::uint64_t n) override {
    std::uint64_t take = std::min<std::uint64_t>(n, data_.size() - pos_);
    pos_ += take;
    return take;
  }
  [[nodiscard]] std::uint64_t offset() const override { return pos_; }

 private:
  Bytes data_;
  std::size_t pos_ = 0;
  std::vector<std::byte> buf_;
};

// Big-endian version 1: GLOBAL_DATA, a ring connection with pending input,
// a watch, a transaction, a committed and a pending node, quotas, a domain.
const auto kV1BigEndian = hex(R"(
  78656e73746f7265 00000001 00000001
  00000001 00000008  ffffffff 00000004
  00000002 0000001b  00000007 0000 0000  0003 0001 0000002a  0003 0000 00000000  616263 0000000000
  00000003 00000015  00000007 0007 0006  2f6c6f63616c00 746f6b656e00 000000
  00000004 00000008  00000007 00000002
  00000005 00000019  00000000 00000000 0003 0002 0000 0001  62000003  2f7800 6869 00000000000000
  00000005 00000019  00000007 00000002 0005 0000 0003 0001  6e000003  2f782f7900 00000000000000
  00000006 00000019  0001 0001 00000064 00000000 6e6f64657300 6d656d6f727900 00000000000000
  00000007 00000012  0003 0001 00000000 00000010 6e6f64657300 000000000000
  00000000 00000000)");

TEST(XenstoreImageV1, HandAssembledBigEndian) {
  BufferedSource src(kV1BigEndian);
  ImageReader reader(src);
  auto h = reader.read_header();
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->version, 1u);
  EXPECT_TRUE(h->big_endian);
  std::vector<RecordType> types;
  for (;;) {
    auto r = reader.next();
    ASSERT_TRUE(r) << r.error().message();
    types.push_back(r->type);
    EXPECT_FALSE(r->padding_in_length);
    if (const auto* g = std::get_if<GlobalData>(&r->body)) {
      EXPECT_EQ(g->rw_socket_fd, -1);
      EXPECT_EQ(g->evtchn_fd, 4);
    } else if (const auto* c = std::get_if<ConnectionData>(&r->body)) {
      EXPECT_EQ(c->conn_id, 7u);
      const auto& ring = std::get<RingSpec>(c->spec);
      EXPECT_EQ(ring.domid, 3);
      EXPECT_EQ(ring.tdomid, 1);
      EXPECT_EQ(ring.evtchn, 42u);
      EXPECT_EQ(as_chars(c->in_data), "abc");
      EXPECT_TRUE(c->out_data.empty());
    } else if (const auto* w = std::get_if<WatchData>(&r->body)) {
      EXPECT_EQ(w->path, "/local");
      EXPECT_EQ(w->token, "token");
      EXPECT_FALSE(w->depth);
    } else if (const auto* n = std::get_if<NodeData>(&r->body)) {
      if (!n->pending()) {
        EXPECT_EQ(n->path, "/x");
        EXPECT_EQ(as_chars(n->value), "hi");
        ASSERT_EQ(n->perms.size(), 1u);
        EXPECT_EQ(n->perms[0], (Perm{'b', 0, 3}));
      } else {
        EXPECT_EQ(n->path, "/x/y");
        EXPECT_EQ(n->tx_id, 2u);
        EXPECT_EQ(n->access, kAccessRead | kAccessWritten);
        EXPECT_EQ(n->perms[0], (Perm{'n', 0, 3}));
      }
    } else if (const auto* q = std::get_if<GlobalQuotaData>(&r->body)) {
      ASSERT_EQ(q->per_domain.size(), 1u);
      ASSERT_EQ(q->global.size(), 1u);
      EXPECT_EQ(q->per_domain[0].name, "nodes");
      EXPECT_EQ(q->per_domain[0].value, 100u);
      EXPECT_EQ(q->global[0].name, "memory");
      EXPECT_EQ(q->global[0].value, 0u);
    } else if (const auto* d = std::get_if<DomainData>(&r->body)) {
      EXPECT_EQ(d->domid, 3);
      EXPECT_EQ(d->features, 0u);
      ASSERT_EQ(d->quotas.size(), 1u);
      EXPECT_EQ(d->quotas[0].value, 16u);
    }
    if (r->type == RecordType::end) break;
  }
  EXPECT_TRUE(reader.finish());
  EXPECT_EQ(types.size(), 9u);
  // tern writes the same bytes for the same records.
  std::vector<Perm> pb = {{'b', 0, 3}}, pn = {{'n', 0, 3}};
  std::vector<Quota> dq = {{"nodes", 100}}, gq = {{"memory", 0}}, domq = {{"nodes", 16}};
  std::vector<RecordBody> recs = {
      GlobalData{-1, 4},
      ConnectionData{7, RingSpec{3, 1, 42}, as_bytes(std::string_view("abc")), {}, 0},
      WatchData{7, "/local", "token", std::nullopt},
      TransactionData{7, 2},
      NodeData{0, 0, 0, pb, "/x", as_bytes(std::string_view("hi"))},
      NodeData{7, 2, 3, pn, "/x/y", {}},
      GlobalQuotaData{dq, gq},
      DomainData{3, 0, domq},
  };
  EXPECT_EQ(testing::write(recs, {.version = 1, .big_endian = true}), kV1BigEndian);
}

TEST(XenstoreImageV1, CVectorThroughBufferedSource) {
  auto image = testing::load_vector("c-xenstored-4.17-full.bin");
  BufferedSource src(image);
  std::size_t nodes = 0;
  auto h = read_image(src, [&](const Record& r) -> Expected<void> {
    if (const auto* n = std::get_if<NodeData>(&r.body)) {
      ++nodes;
      if (n->path == "/vm/abc/name") {
        EXPECT_EQ(as_chars(n->value), "guest1");
      }
    }
    return {};
  });
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(nodes, 20u);
}

TEST(XenstoreImageV1, CallbackErrorStopsTheRead) {
  auto image = testing::load_vector("c-xenstored-4.17-empty.bin");
  MemorySource src(image);
  int seen = 0;
  auto h = read_image(src, [&](const Record&) -> Expected<void> {
    if (++seen == 3) return make_error(Errc::invalid, "stop here");
    return {};
  });
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().message(), "stop here");
  EXPECT_EQ(seen, 3);
}

}  // namespace
}  // namespace tern::stream::xenstore
