// Fuzzes the shared record framing: any byte sequence must yield records or
// a clean error, never a crash or an out-of-bounds read.
#include <cstddef>
#include <cstdint>
#include <string>

#include "stream/record_framing.hpp"

namespace {
std::string name_of(std::uint32_t t) { return std::to_string(t); }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tern::MemorySource src(tern::Bytes(reinterpret_cast<const std::byte*>(data), size));
  tern::stream::RecordReader reader(src, "fuzz", name_of);
  for (int i = 0; i < 1000; ++i) {
    auto r = reader.next(1 << 16);
    if (!r) break;
  }
  return 0;
}
