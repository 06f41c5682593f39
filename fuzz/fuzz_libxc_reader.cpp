// Fuzzes the libxc reader, in all three modes (payloads read, skipped, or
// deferred to the caller as a migration destination reads them), and the
// v2->v3 conversion: any
// byte sequence must yield events or a clean error, never a crash, an
// out-of-bounds read or UB. Accepted streams must also convert and the
// conversion must be accepted again as v3.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/byte_sink.hpp"
#include "stream/libxc/convert.hpp"
#include "stream/libxc/summary.hpp"

using namespace tern;
using namespace tern::stream::libxc;

namespace {
// Defer mode: every PAGE_DATA payload read to a scratch page or dropped.
bool valid_deferred(Bytes in) {
  MemorySource src(in);
  ReaderOptions ro;
  ro.defer_page_payloads = true;
  Reader r(src, ro);
  if (!r.read_header()) return false;
  static std::byte scratch[65536];
  std::vector<std::byte*> dest;
  while (!r.ended()) {
    auto e = r.next();
    if (!e) return false;
    const auto* pd = std::get_if<PageData>(&e->record.typed);
    if (pd == nullptr || !pd->payload_pending) continue;
    dest.assign(pd->data_pages, nullptr);
    for (std::size_t i = 0; i < dest.size(); i += 2) dest[i] = scratch;
    if (!r.read_page_payload(dest)) return false;
  }
  return static_cast<bool>(r.expect_end_of_input());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(reinterpret_cast<const std::byte*>(data), size);
  MemorySource a(in);
  auto full = summarize(a);
  MemorySource b(in);
  auto fast = summarize(b, ReaderOptions{true});
  // Both modes agree on validity (skipping payloads must not hide errors).
  if (static_cast<bool>(full) != static_cast<bool>(fast)) __builtin_trap();
  if (static_cast<bool>(full) != valid_deferred(in)) __builtin_trap();
  if (!full) return 0;
  MemorySource c(in);
  VectorSink out;
  auto conv = convert_to_v3(c, out);
  if (!conv) {
    // Only v2 streams whose order v3 cannot express may fail to convert.
    if (conv.error().code() != tern::Errc::unsupported || full->header.version != kVersion2) __builtin_trap();
    return 0;
  }
  MemorySource d(out.data());
  auto again = summarize(d);
  if (!again || again->header.version != kVersion3) __builtin_trap();
  return 0;
}
