// Writer throughput from guest-like memory (1 GiB of distinct pre-filled
// pages, PAGE_DATA batches of 1024 pages framed by libxc::Writer inside a
// libxl stream, written with writev straight from that memory): to /dev/null
// (the writer's own cost: framing + writev, the kernel reads nothing), to a
// tmpfs file (the kernel copies every byte), and the full synthetic libxl
// stream (which also computes every page's contents).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "io/fd_sink.hpp"
#include "stream/libxc/writer.hpp"
#include "stream/libxl/libxl_writer.hpp"
#include "stream/libxl/synthetic.hpp"

namespace {

using namespace tern;
namespace libxc = stream::libxc;

constexpr std::uint32_t kBatch = 1024;

// 1 GiB of distinct, pre-filled "guest" pages, written once per iteration as
// PAGE_DATA batches that point straight into it (what a save does).
const std::vector<std::byte>& guest_like_memory(std::uint64_t pages) {
  static std::vector<std::byte> mem;
  if (mem.size() != pages * libxc::kX86PageSize) {
    mem.assign(pages * libxc::kX86PageSize, std::byte{0});
    for (std::size_t i = 0; i < mem.size(); i += 64) mem[i] = static_cast<std::byte>(i >> 12);
  }
  return mem;
}

void write_stream(benchmark::State& state, int fd, std::uint64_t pages) {
  const auto& mem = guest_like_memory(pages);
  std::vector<std::uint64_t> entries(kBatch);
  io::FdSink sink(fd);
  stream::libxl::Writer lw(sink);
  if (!lw.write_header() || !lw.libxc_context()) state.SkipWithError("libxl header");
  libxc::Writer w(sink);
  if (!w.write_header(libxc::StreamHeader{})) state.SkipWithError("libxc header");
  if (!w.write_static_data_end()) state.SkipWithError("static data end");
  for (std::uint64_t pfn = 0; pfn < pages; pfn += kBatch) {
    for (std::uint32_t i = 0; i < kBatch; ++i) entries[i] = libxc::make_pfn_entry(pfn + i, libxc::PageType::notab);
    if (!w.write_page_data(entries, Bytes(mem).subspan(pfn * libxc::kX86PageSize, kBatch * libxc::kX86PageSize)))
      state.SkipWithError("page data");
  }
  if (!w.write_end() || !lw.end()) state.SkipWithError("end");
  benchmark::DoNotOptimize(sink.bytes_written());
}

// The writer's own cost: /dev/null takes the iovecs without reading them.
void BM_LibxlPageDataToDevNull(benchmark::State& state) {
  const std::uint64_t pages = static_cast<std::uint64_t>(state.range(0));
  (void)guest_like_memory(pages);
  UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  for (auto _ : state) write_stream(state, null.get(), pages);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * pages * libxc::kX86PageSize));
}
BENCHMARK(BM_LibxlPageDataToDevNull)->Arg(262144)->Unit(benchmark::kMillisecond);

// With the kernel copying every byte: a file on tmpfs (/dev/shm), rewritten
// each iteration. This is the bound for a save to a page-cache-backed file.
void BM_LibxlPageDataToTmpfs(benchmark::State& state) {
  const std::uint64_t pages = static_cast<std::uint64_t>(state.range(0));
  (void)guest_like_memory(pages);
  const char* path = "/dev/shm/tern-bench-writer.img";
  UniqueFd fd(::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) {
    state.SkipWithError("cannot create /dev/shm/tern-bench-writer.img");
    return;
  }
  for (auto _ : state) {
    if (::lseek(fd.get(), 0, SEEK_SET) != 0) state.SkipWithError("lseek");
    write_stream(state, fd.get(), pages);
  }
  ::unlink(path);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * pages * libxc::kX86PageSize));
}
BENCHMARK(BM_LibxlPageDataToTmpfs)->Arg(262144)->Unit(benchmark::kMillisecond);

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
