// Fuzzes the libxc reader, in both modes, and the v2->v3 conversion: any
// byte sequence must yield events or a clean error, never a crash, an
// out-of-bounds read or UB. Accepted streams must also convert and the
// conversion must be accepted again as v3.
#include <cstddef>
#include <cstdint>

#include "core/byte_sink.hpp"
#include "stream/libxc/convert.hpp"
#include "stream/libxc/summary.hpp"

using namespace tern;
using namespace tern::stream::libxc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(reinterpret_cast<const std::byte*>(data), size);
  MemorySource a(in);
  auto full = summarize(a);
  MemorySource b(in);
  auto fast = summarize(b, ReaderOptions{true});
  // Both modes agree on validity (skipping payloads must not hide errors).
  if (static_cast<bool>(full) != static_cast<bool>(fast)) __builtin_trap();
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
