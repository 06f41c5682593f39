// Fuzzes the libxl stream reader with its embedded libxc reader (both
// layers, checkpoint hand-offs), and the libxl v2->v3 conversion: any byte
// sequence must yield events or a clean error, never a crash.
#include <cstddef>
#include <cstdint>

#include "stream/libxl/convert.hpp"
#include "stream/libxl/stream_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tern::Bytes in(reinterpret_cast<const std::byte*>(data), size);
  for (bool skip : {false, true}) {
    tern::MemorySource src(in);
    tern::stream::libxl::StreamReader r(src, tern::stream::libxc::ReaderOptions{.skip_page_payloads = skip});
    if (!r.read_header()) return 0;
    for (int i = 0; i < 100000 && !r.done(); ++i)
      if (!r.next()) break;
    if (r.done()) (void)r.expect_end_of_input();
  }
  tern::MemorySource src(in);
  tern::CountingSink out;
  (void)tern::stream::libxl::convert_to_v3(src, out);
  return 0;
}
