// Helpers shared by the libxc stream tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/byte_sink.hpp"
#include "core/byte_source.hpp"
#include "stream/libxc/reader.hpp"
#include "stream/libxc/summary.hpp"
#include "stream/libxc/synthetic.hpp"

namespace tern::stream::libxc::testing {

inline std::vector<std::byte> synth(const SyntheticOptions& o) {
  VectorSink sink;
  auto r = write_synthetic(sink, o);
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  return sink.take();
}

inline SyntheticOptions opts(DomainType d, std::uint32_t version, std::uint64_t pages = 64, std::uint32_t batch = 16) {
  SyntheticOptions o;
  o.domain_type = d;
  o.version = version;
  o.pages = pages;
  o.batch = batch;
  return o;
}

// Reads a whole bare stream; returns the error message, or "" if valid.
inline std::string read_all(Bytes data, ReaderOptions ro = {}) {
  MemorySource src(data);
  auto s = summarize(src, ro);
  return s ? std::string() : s.error().message();
}

// Every record: offset and type, walking the framing (for corruption tests).
struct RecPos {
  std::uint64_t offset;
  std::uint32_t type;
  std::uint32_t length;
};
inline std::vector<RecPos> record_positions(const std::vector<std::byte>& s) {
  std::vector<RecPos> out;
  std::size_t off = 40;
  while (off + 8 <= s.size()) {
    std::uint32_t t = load_le<std::uint32_t>(s.data() + off);
    std::uint32_t l = load_le<std::uint32_t>(s.data() + off + 4);
    out.push_back({off, t, l});
    off += 8 + align_up(l, 8);
  }
  return out;
}

inline void put32(std::vector<std::byte>& s, std::size_t off, std::uint32_t v) { store_le<std::uint32_t>(s.data() + off, v); }
inline void put64(std::vector<std::byte>& s, std::size_t off, std::uint64_t v) { store_le<std::uint64_t>(s.data() + off, v); }

}  // namespace tern::stream::libxc::testing

namespace tern::stream::libxc::testing {

// Hand-built streams that bypass the writer's rules (to build invalid ones).
struct Raw {
  std::uint32_t type;
  std::vector<std::byte> body;
};
inline void app32(std::vector<std::byte>& b, std::uint32_t v) {
  b.resize(b.size() + 4);
  store_le<std::uint32_t>(b.data() + b.size() - 4, v);
}
inline void app64(std::vector<std::byte>& b, std::uint64_t v) {
  b.resize(b.size() + 8);
  store_le<std::uint64_t>(b.data() + b.size() - 8, v);
}
inline Raw rec(RecordType t, std::vector<std::byte> body = {}) { return {code(t), std::move(body)}; }
inline Raw page_data(std::vector<std::uint64_t> entries) {
  std::vector<std::byte> b;
  app32(b, static_cast<std::uint32_t>(entries.size()));
  app32(b, 0);
  std::size_t data = 0;
  for (auto e : entries) {
    app64(b, e);
    data += page_type_has_data(pfn_entry_type(e)) ? 1 : 0;
  }
  b.resize(b.size() + data * kX86PageSize, std::byte{0x5A});
  return {code(RecordType::page_data), b};
}
inline Raw pv_info() { return rec(RecordType::x86_pv_info, {std::byte{8}, std::byte{4}, {}, {}, {}, {}, {}, {}}); }
inline Raw p2m(std::uint32_t end_pfn = 10) {
  std::vector<std::byte> b;
  app32(b, 0);
  app32(b, end_pfn);
  for (std::uint32_t i = 0; i <= end_pfn / 512; ++i) app64(b, 1000 + i);
  return {code(RecordType::x86_pv_p2m_frames), b};
}
inline Raw vcpu(RecordType t, std::size_t ctx_len = 16) {
  std::vector<std::byte> b;
  app32(b, 0);
  app32(b, 0);
  b.resize(b.size() + ctx_len, std::byte{1});
  return {code(t), b};
}
inline Raw hvm_params(std::uint32_t count) {
  std::vector<std::byte> b;
  app32(b, count);
  app32(b, 0);
  for (std::uint32_t i = 0; i < count; ++i) app64(b, i), app64(b, i * 3);
  return {code(RecordType::hvm_params), b};
}
inline Raw hvm_context() { return rec(RecordType::hvm_context, std::vector<std::byte>(40, std::byte{7})); }

inline std::vector<std::byte> build(DomainType d, std::uint32_t version, const std::vector<Raw>& recs) {
  StreamHeader h;
  h.domain_type = d;
  h.version = version;
  std::vector<std::byte> out(kHeadersSize);
  encode_headers(h, std::span<std::byte, kHeadersSize>(out.data(), kHeadersSize));
  VectorSink sink;
  RecordWriter w(sink);
  for (const Raw& r : recs) EXPECT_TRUE(w.write(r.type, r.body));
  out.insert(out.end(), sink.data().begin(), sink.data().end());
  return out;
}

// A minimal valid stream of each kind, built by hand.
inline std::vector<Raw> pv_records(std::uint32_t version) {
  std::vector<Raw> r{pv_info()};
  if (version >= 3) r.push_back(rec(RecordType::static_data_end));
  r.push_back(p2m());
  r.push_back(page_data({make_pfn_entry(1, PageType::notab), make_pfn_entry(2, PageType::xtab)}));
  r.push_back(vcpu(RecordType::x86_pv_vcpu_basic));
  r.push_back(rec(RecordType::end));
  return r;
}
inline std::vector<Raw> hvm_records(std::uint32_t version) {
  std::vector<Raw> r;
  if (version >= 3) r.push_back(rec(RecordType::static_data_end));
  r.push_back(page_data({make_pfn_entry(1, PageType::notab)}));
  r.push_back(hvm_params(2));
  r.push_back(hvm_context());
  r.push_back(rec(RecordType::end));
  return r;
}

// Expects the stream to be rejected with a message naming offset and
// record, and containing `what`.
inline void expect_rejected(const std::vector<std::byte>& s, const std::string& what, ReaderOptions ro = {}) {
  std::string msg = read_all(s, ro);
  ASSERT_FALSE(msg.empty()) << "accepted, expected: " << what;
  EXPECT_NE(msg.find("libxc stream: offset "), std::string::npos) << msg;
  EXPECT_NE(msg.find(what), std::string::npos) << "message: " << msg << "\nexpected to contain: " << what;
}

}  // namespace tern::stream::libxc::testing
