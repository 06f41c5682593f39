// Fuzzes the xl save-file header (magic, flags, optional data, JSON config)
// and the image behind it: any byte sequence must parse or fail cleanly.
#include <cstddef>
#include <cstdint>

#include "stream/xl/convert.hpp"
#include "stream/xl/xl_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tern::Bytes in(reinterpret_cast<const std::byte*>(data), size);
  tern::MemorySource src(in);
  auto h = tern::stream::xl::read_header(src);
  if (!h) return 0;
  if (h->raw.size() != h->payload_offset) __builtin_trap();  // the header keeps exactly what it read
  tern::MemorySource again(in);
  tern::CountingSink out;
  (void)tern::stream::xl::convert_to_v3(again, out);
  return 0;
}
