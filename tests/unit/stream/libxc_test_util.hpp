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
