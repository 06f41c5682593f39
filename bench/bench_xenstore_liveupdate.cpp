// The two halves of a tern-xenstored live update, without process or socket
// costs: dump_state (the whole daemon into an image, in memory) and
// restore_state (an image into a fresh daemon), for 1k / 10k / 100k nodes
// and 10 / 100 / 1000 connections (each watching its domain's subtree).
// Their sum bounds what a live update adds to the exec itself.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/byte_sink.hpp"
#include "core/byte_source.hpp"
#include "xenstore/connection_state.hpp"
#include "xenstore/daemon.hpp"
#include "xenstore/state_dump.hpp"
#include "xenstore/state_restore.hpp"

namespace {

using namespace tern;
using namespace tern::xs;

class IdleSocket final : public Transport {
 public:
  explicit IdleSocket(int fd) : fd_(fd) {}
  long read_some(char*, std::size_t) override { return -1; }
  long write_some(const char*, std::size_t) override { return -1; }
  [[nodiscard]] int fd() const override { return fd_; }
  [[nodiscard]] ConnType type() const override { return ConnType::socket; }
  [[nodiscard]] std::uint32_t poll_events(bool, bool) const override { return 0; }

 private:
  int fd_;
};

// nodes spread over 100-key directories of per-connection domains.
std::unique_ptr<Daemon> make_daemon(int nodes, int conns) {
  auto d = std::make_unique<Daemon>();
  OpCtx root{Caller{}, nullptr, nullptr};
  std::string value(32, 'v');
  for (int i = 0; i < nodes; ++i) {
    std::string p = "/local/domain/" + std::to_string(i / 100 % std::max(conns, 1)) + "/data" +
                    std::to_string(i / 100) + "/key" + std::to_string(i % 100);
    if (!d->store.write(root, p, value)) std::abort();
  }
  for (int c = 0; c < conns; ++c) {
    Connection& conn = d->add_connection(std::make_unique<IdleSocket>(1000 + c));
    std::string w = "/local/domain/" + std::to_string(c);
    d->add_watch(conn, Watch{w, w, "token" + std::to_string(c), std::nullopt});
  }
  return d;
}

std::vector<std::byte> dump_to_memory(const Daemon& d) {
  VectorSink sink;
  if (!dump_state(d, sink, DumpOptions{3, std::nullopt, 0})) std::abort();
  return sink.take();
}

void BM_Dump(benchmark::State& st) {
  auto d = make_daemon(static_cast<int>(st.range(0)), static_cast<int>(st.range(1)));
  std::size_t bytes = 0;
  for (auto _ : st) {
    auto img = dump_to_memory(*d);
    bytes = img.size();
    benchmark::DoNotOptimize(img.data());
  }
  st.counters["image_bytes"] = static_cast<double>(bytes);
  st.SetBytesProcessed(static_cast<std::int64_t>(bytes) * st.iterations());
}

void BM_Restore(benchmark::State& st) {
  auto d = make_daemon(static_cast<int>(st.range(0)), static_cast<int>(st.range(1)));
  auto img = dump_to_memory(*d);
  for (auto _ : st) {
    st.PauseTiming();
    auto fresh = std::make_unique<Daemon>();
    st.ResumeTiming();
    MemorySource src(img);
    auto r = restore_state(src, *fresh, RestoreOptions{FdCheck::none, img.size()});
    if (!r) std::abort();
    st.PauseTiming();
    fresh.reset();  // freeing is not part of a restore
    st.ResumeTiming();
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(img.size()) * st.iterations());
}

void grid(benchmark::internal::Benchmark* b) {
  for (int n : {1000, 10000, 100000})
    for (int c : {10, 100, 1000}) b->Args({n, c});
  b->ArgNames({"nodes", "conns"})->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_Dump)->Apply(grid);
BENCHMARK(BM_Restore)->Apply(grid);

}  // namespace

BENCHMARK_MAIN();
