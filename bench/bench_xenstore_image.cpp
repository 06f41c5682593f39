// Xenstore live-update image: write and read an image with 100k nodes
// (32-octet values) and 1000 connections (each with a watch), the size of a
// busy host's xenstored. Reports bytes/s (MB/s) and time per image.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/byte_sink.hpp"
#include "stream/xenstore/image_reader.hpp"
#include "stream/xenstore/image_writer.hpp"

namespace {

using namespace tern;
using namespace tern::stream::xenstore;

constexpr int kNodes = 100'000;
constexpr int kConnections = 1000;

struct State {
  std::vector<std::string> paths;
  std::vector<std::string> watch_paths;
  std::string value = std::string(32, 'v');
  std::string pending_out = std::string(64, 'o');
  std::vector<Perm> perms = {{'n', 0, 0}, {'r', 0, 1}};

  State() {
    paths.reserve(kNodes);
    // 1000 domains x 100 keys: /local/domain/<d>/data/key<k>
    for (int i = 0; i < kNodes; ++i)
      paths.push_back("/local/domain/" + std::to_string(i / 100) + "/data/key" + std::to_string(i % 100));
    for (int c = 0; c < kConnections; ++c) watch_paths.push_back("/local/domain/" + std::to_string(c));
  }

  Expected<void> write(ByteSink& sink) const {
    ImageWriter w(sink);
    TERN_TRY(w.write_header());
    TERN_TRY(w.write(GlobalData{3, 6}));
    for (int c = 0; c < kConnections; ++c)
      TERN_TRY(w.write(ConnectionData{static_cast<std::uint32_t>(c + 1),
                                      RingSpec{static_cast<std::uint16_t>(c + 1), kDomidInvalid,
                                               static_cast<std::uint32_t>(c + 10)},
                                      {}, as_bytes(pending_out), 0}));
    for (int c = 0; c < kConnections; ++c)
      TERN_TRY(w.write(WatchData{static_cast<std::uint32_t>(c + 1), watch_paths[c], "token", std::nullopt}));
    for (const std::string& p : paths) TERN_TRY(w.write(NodeData{0, 0, 0, perms, p, as_bytes(value)}));
    return w.finish();
  }
};

const State& state() {
  static State s;
  return s;
}

std::vector<std::byte> image() {
  VectorSink sink;
  if (!state().write(sink)) std::abort();
  return sink.take();
}

// Reads every record and touches its main fields (what a restoring daemon does).
std::uint64_t read_all(Bytes im) {
  MemorySource src(im);
  ImageReader r(src);
  if (!r.read_header()) std::abort();
  std::uint64_t sum = 0;
  for (;;) {
    auto rec = r.next();
    if (!rec) std::abort();
    if (const auto* n = std::get_if<NodeData>(&rec->body)) sum += n->path.size() + n->value.size() + n->perms.size();
    if (rec->type == RecordType::end) break;
  }
  if (!r.finish()) std::abort();
  return sum;
}

void BM_XenstoreImageWrite(benchmark::State& st) {
  const State& s = state();
  benchmark::DoNotOptimize(image());  // warm the allocator outside the timing
  std::size_t bytes = 0;
  for (auto _ : st) {
    VectorSink sink;
    if (!s.write(sink)) std::abort();
    bytes = sink.data().size();
    benchmark::DoNotOptimize(sink.data().data());
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * bytes));
  st.counters["image_MB"] = static_cast<double>(bytes) / 1e6;
}

void BM_XenstoreImageRead(benchmark::State& st) {
  auto im = image();
  for (auto _ : st) benchmark::DoNotOptimize(read_all(im));
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * im.size()));
  st.counters["image_MB"] = static_cast<double>(im.size()) / 1e6;
}

void BM_XenstoreImageWriteRead(benchmark::State& st) {
  std::size_t bytes = 0;
  for (auto _ : st) {
    VectorSink sink;
    if (!state().write(sink)) std::abort();
    bytes = sink.data().size();
    benchmark::DoNotOptimize(read_all(sink.data()));
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * bytes));
  st.counters["image_MB"] = static_cast<double>(bytes) / 1e6;
}

BENCHMARK(BM_XenstoreImageWrite)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_XenstoreImageRead)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_XenstoreImageWriteRead)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
