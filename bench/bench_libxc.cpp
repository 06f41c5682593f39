// libxc stream throughput: read+validate (full and verify/skip modes) over
// an in-memory synthetic HVM stream, conversion v2->v3, and writing
// PAGE_DATA batches to a CountingSink. Bytes/s are the stream's bytes.
#include <benchmark/benchmark.h>

#include <vector>

#include "core/byte_sink.hpp"
#include "core/byte_source.hpp"
#include "stream/libxc/convert.hpp"
#include "stream/libxc/summary.hpp"
#include "stream/libxc/synthetic.hpp"
#include "stream/libxc/writer.hpp"

namespace {
using namespace tern;
using namespace tern::stream::libxc;

constexpr std::uint64_t kPages = (256ull << 20) / kX86PageSize;  // 256 MiB of guest memory

const std::vector<std::byte>& stream(std::uint32_t version) {
  static std::vector<std::byte> v[2];
  auto& s = v[version - 2];
  if (s.empty()) {
    SyntheticOptions o;
    o.domain_type = DomainType::x86_hvm;
    o.version = version;
    o.pages = kPages;
    o.batch = 1024;
    VectorSink sink;
    if (!write_synthetic(sink, o)) std::abort();
    s = sink.take();
  }
  return s;
}

void BM_ReadValidate(benchmark::State& st) {
  const auto& s = stream(3);
  ReaderOptions ro{st.range(0) != 0};
  for (auto _ : st) {
    MemorySource src(s);
    auto sum = summarize(src, ro);
    if (!sum) st.SkipWithError(sum.error().message().c_str());
    benchmark::DoNotOptimize(sum);
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * s.size()));
  st.SetLabel(ro.skip_page_payloads ? "verify (payloads skipped)" : "full (payload views)");
}
BENCHMARK(BM_ReadValidate)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ConvertV2ToV3(benchmark::State& st) {
  const auto& s = stream(2);
  for (auto _ : st) {
    MemorySource src(s);
    CountingSink out;
    auto c = convert_to_v3(src, out);
    if (!c) st.SkipWithError(c.error().message().c_str());
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * s.size()));
}
BENCHMARK(BM_ConvertV2ToV3)->Unit(benchmark::kMillisecond)->UseRealTime();

// Writer cost per byte: PAGE_DATA batches of 1024 pages from one
// pre-filled buffer (gather write: header+pfns built, pages referenced).
void BM_WritePageData(benchmark::State& st) {
  const std::uint32_t batch = 1024;
  std::vector<std::byte> pages(std::size_t{batch} * kX86PageSize);
  for (std::uint32_t i = 0; i < batch; ++i) synthetic_page(i, MutableBytes(pages.data() + std::size_t{i} * kX86PageSize, kX86PageSize));
  std::vector<std::uint64_t> entries(batch);
  std::uint64_t total = 0;
  for (auto _ : st) {
    CountingSink sink;
    Writer w(sink);
    StreamHeader h;
    if (!w.write_header(h) || !w.write_static_data_end()) std::abort();
    for (std::uint64_t base = 0; base < kPages; base += batch) {
      for (std::uint32_t i = 0; i < batch; ++i) entries[i] = make_pfn_entry(base + i, PageType::notab);
      if (!w.write_page_data(entries, pages)) std::abort();
    }
    if (!w.write_end()) std::abort();
    total += sink.bytes_written();
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(total));
}
BENCHMARK(BM_WritePageData)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
