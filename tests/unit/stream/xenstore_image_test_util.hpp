// Shared helpers of the xenstore image tests: a sample of every record type,
// field-by-field comparison of records, and whole-image reading.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/byte_sink.hpp"
#include "stream/xenstore/image_reader.hpp"
#include "stream/xenstore/image_writer.hpp"

namespace tern::stream::xenstore::testing {

inline bool same_bytes(Bytes a, Bytes b) { return std::ranges::equal(a, b); }

template <typename T>
bool same_span(std::span<const T> a, std::span<const T> b) {
  return std::ranges::equal(a, b);
}

inline bool same_quotas(std::span<const Quota> a, std::span<const Quota> b) {
  return std::ranges::equal(a, b, [](const Quota& x, const Quota& y) { return x.name == y.name && x.value == y.value; });
}

// Field-by-field equality of two records (views compared by content).
inline bool same(const RecordBody& a, const RecordBody& b) {
  if (a.index() != b.index()) return false;
  if (const auto* x = std::get_if<GlobalData>(&a)) {
    const auto& y = std::get<GlobalData>(b);
    return x->rw_socket_fd == y.rw_socket_fd && x->evtchn_fd == y.evtchn_fd;
  }
  if (const auto* x = std::get_if<ConnectionData>(&a)) {
    const auto& y = std::get<ConnectionData>(b);
    if (x->conn_id != y.conn_id || x->spec.index() != y.spec.index() || x->out_resp_len != y.out_resp_len) return false;
    if (const auto* r = std::get_if<RingSpec>(&x->spec)) {
      const auto& s = std::get<RingSpec>(y.spec);
      if (r->domid != s.domid || r->tdomid != s.tdomid || r->evtchn != s.evtchn) return false;
    } else if (std::get<SocketSpec>(x->spec).socket_fd != std::get<SocketSpec>(y.spec).socket_fd) {
      return false;
    }
    return same_bytes(x->in_data, y.in_data) && same_bytes(x->out_data, y.out_data);
  }
  if (const auto* x = std::get_if<WatchData>(&a)) {
    const auto& y = std::get<WatchData>(b);
    return x->conn_id == y.conn_id && x->path == y.path && x->token == y.token && x->depth == y.depth;
  }
  if (const auto* x = std::get_if<TransactionData>(&a)) {
    const auto& y = std::get<TransactionData>(b);
    return x->conn_id == y.conn_id && x->tx_id == y.tx_id;
  }
  if (const auto* x = std::get_if<NodeData>(&a)) {
    const auto& y = std::get<NodeData>(b);
    return x->conn_id == y.conn_id && x->tx_id == y.tx_id && x->access == y.access && x->path == y.path &&
           same_span(x->perms, y.perms) && same_bytes(x->value, y.value);
  }
  if (const auto* x = std::get_if<GlobalQuotaData>(&a)) {
    const auto& y = std::get<GlobalQuotaData>(b);
    return same_quotas(x->per_domain, y.per_domain) && same_quotas(x->global, y.global);
  }
  if (const auto* x = std::get_if<DomainData>(&a)) {
    const auto& y = std::get<DomainData>(b);
    return x->domid == y.domid && x->features == y.features && same_quotas(x->quotas, y.quotas);
  }
  return true;  // END
}

// Storage that the sample records point into.
struct Sample {
  std::string in = std::string("\x0b\0\0\0\x07\0\0\0\0\0\0\0\x14\0\0\0data/", 21);
  std::string out = std::string("\0\0\x17\0\0\0data/flood\0guest-token\0", 29) + std::string("queued-event", 12);
  std::string big_out = std::string(40000, 'Q');  // goes through the writer's no-copy path
  std::string bin_value = std::string("bi\0nary", 7);
  std::vector<Perm> owner_only = {{'n', 0, 0}};
  std::vector<Perm> mixed = {{'n', 0, 0}, {'r', 0, 1}, {'w', kPermFlagStale, 2}, {'b', kPermFlagStale, 3}};
  std::vector<Perm> guest = {{'b', 0, 5}};
  std::vector<Quota> dom_q = {{"nodes", 1000}, {"watches", 128}, {"transactions", 10}};
  std::vector<Quota> glob_q = {{"memory", 0}, {"implementation-specific", 7}};
  std::vector<Quota> one_q = {{"nodes", 2000}};

  // Every record type, in a valid order. v2 adds WATCH_DATA_EXTENDED and features.
  std::vector<RecordBody> records(std::uint32_t version, bool big_output = true) const {
    std::vector<RecordBody> r;
    r.push_back(GlobalData{3, 6});
    r.push_back(GlobalQuotaData{dom_q, glob_q});
    r.push_back(DomainData{0, 0, {}});
    r.push_back(DomainData{5, version >= 2 ? 0x1u : 0u, one_q});
    r.push_back(ConnectionData{1, RingSpec{5, kDomidInvalid, 17}, as_bytes(in), as_bytes(out), 29});
    r.push_back(ConnectionData{2, SocketSpec{9}, {}, {}, 0});
    r.push_back(ConnectionData{3, RingSpec{6, 5, 18}, {}, as_bytes(big_output ? std::string_view(big_out) : std::string_view("short")), 5});
    r.push_back(WatchData{1, "data", "guest-token", std::nullopt});
    r.push_back(WatchData{2, "@releaseDomain", "", std::nullopt});
    if (version >= 2) {
      r.push_back(WatchData{2, "/local/domain", "depth1", 1});
      r.push_back(WatchData{1, "/vm", "all", kWatchDepthUnlimited});
    }
    r.push_back(TransactionData{2, 1});
    r.push_back(TransactionData{1, 0x7fffffff});
    r.push_back(NodeData{0, 0, 0, owner_only, "/", {}});
    r.push_back(NodeData{0, 0, 0, owner_only, "@releaseDomain", {}});
    r.push_back(NodeData{0, 0, 0, mixed, "/vm", as_bytes(std::string_view("guest1"))});
    r.push_back(NodeData{0, 0, 0, owner_only, "/bin", as_bytes(bin_value)});
    r.push_back(NodeData{2, 1, kAccessRead | kAccessWritten, guest, "/vm/new", as_bytes(std::string_view("v"))});
    r.push_back(NodeData{2, 1, kAccessRead, owner_only, "/bin", as_bytes(bin_value)});
    r.push_back(NodeData{1, 0x7fffffff, 0, {}, "/vm/gone", {}});  // deleted in the transaction
    return r;
  }
};

inline std::vector<std::byte> write(std::span<const RecordBody> records, WriterOptions opts = {}) {
  VectorSink sink;
  auto r = write_image(sink, records, opts);
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  return sink.take();
}

inline std::vector<std::byte> load_vector(const std::string& name) {
  std::ifstream f(std::string(TERN_VECTORS_DIR) + "/xenstore/" + name, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(f)), {});
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

// Reads every record (END included) and hands each to fn while its views are valid.
template <typename Fn>
Expected<Header> read_each(Bytes image, Fn&& fn) {
  MemorySource src(image);
  ImageReader reader(src);
  TERN_TRY_ASSIGN(Header h, reader.read_header());
  for (;;) {
    TERN_TRY_ASSIGN(Record r, reader.next());
    fn(r);
    if (r.type == RecordType::end) break;
  }
  TERN_TRY(reader.finish());
  return h;
}

}  // namespace tern::stream::xenstore::testing
