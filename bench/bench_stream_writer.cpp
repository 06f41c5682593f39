// Writer throughput without page generation (/dev/null copies nothing, so
// the first figure is the cost of framing + writev alone): PAGE_DATA records of 1024
// pre-filled pages, framed by libxc::Writer inside a libxl stream, written
// with writev to /dev/null (the cost of tern's write path itself), and the
// full synthetic libxl stream (which also computes every page's contents).
#include <benchmark/benchmark.h>
#include <fcntl.h>

#include <vector>

#include "io/fd_sink.hpp"
#include "stream/libxc/writer.hpp"
#include "stream/libxl/libxl_writer.hpp"
#include "stream/libxl/synthetic.hpp"

namespace {

using namespace tern;
namespace libxc = stream::libxc;

constexpr std::uint32_t kBatch = 1024;

void BM_LibxlPageDataToDevNull(benchmark::State& state) {
  const std::uint64_t pages = static_cast<std::uint64_t>(state.range(0));
  std::vector<std::byte> buf(kBatch * libxc::kX86PageSize);
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<std::byte>(i * 7);
  std::vector<std::uint64_t> entries(kBatch);
  UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  for (auto _ : state) {
    io::FdSink sink(null.get());
    stream::libxl::Writer lw(sink);
    if (!lw.write_header() || !lw.libxc_context()) state.SkipWithError("libxl header");
    libxc::Writer w(sink);
    if (!w.write_header(libxc::StreamHeader{})) state.SkipWithError("libxc header");
    if (!w.write_static_data_end()) state.SkipWithError("static data end");
    for (std::uint64_t pfn = 0; pfn < pages; pfn += kBatch) {
      for (std::uint32_t i = 0; i < kBatch; ++i) entries[i] = libxc::make_pfn_entry(pfn + i, libxc::PageType::notab);
      if (!w.write_page_data(entries, Bytes(buf))) state.SkipWithError("page data");
    }
    if (!w.write_end() || !lw.end()) state.SkipWithError("end");
    benchmark::DoNotOptimize(sink.bytes_written());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * pages * libxc::kX86PageSize));
}
BENCHMARK(BM_LibxlPageDataToDevNull)->Arg(262144)->Unit(benchmark::kMillisecond);

void BM_SyntheticLibxlToCountingSink(benchmark::State& state) {
  stream::libxl::SyntheticOptions o;
  o.libxc.pages = static_cast<std::uint64_t>(state.range(0));
  o.libxc.batch = kBatch;
  for (auto _ : state) {
    CountingSink sink;
    if (!stream::libxl::write_synthetic(sink, o)) state.SkipWithError("synthetic");
    benchmark::DoNotOptimize(sink.bytes_written());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * o.libxc.pages * libxc::kX86PageSize));
}
BENCHMARK(BM_SyntheticLibxlToCountingSink)->Arg(65536)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
