// Fuzzes the xenstore image reader: any byte sequence must yield records or
// a clean error, never a crash or an out-of-bounds read. Every image the
// reader accepts must be rewritable by the writer and read back with the
// same number of records (tern writes only what it reads, and reads all it writes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/byte_sink.hpp"
#include "stream/xenstore/describe.hpp"
#include "stream/xenstore/image_reader.hpp"
#include "stream/xenstore/image_writer.hpp"

using namespace tern;
using namespace tern::stream::xenstore;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(reinterpret_cast<const std::byte*>(data), size);
  (void)looks_like_xenstore_image(in);
  auto described = describe(in);
  if (described) (void)described->dump();

  MemorySource src(in);
  ImageReader reader(src);
  auto h = reader.read_header();
  if (!h) return 0;
  VectorSink sink;
  ImageWriter writer(sink, {.version = h->version, .big_endian = h->big_endian});
  if (!writer.write_header()) std::abort();
  std::uint64_t records = 0;
  for (;;) {
    auto r = reader.next();
    if (!r) return 0;
    ++records;
    if (r->type == RecordType::end) break;
    RecordBody body = r->body;
    // The spec says to ignore these for committed nodes; tern writes them as 0.
    if (auto* n = std::get_if<NodeData>(&body); n != nullptr && !n->pending()) n->tx_id = n->access = 0;
    if (!writer.write(body)) std::abort();
  }
  if (!reader.finish()) return 0;
  if (!writer.finish()) std::abort();
  auto again = verify(sink.data());
  if (!again || again->records != records) std::abort();
  if (!described) std::abort();  // describe and the reader must agree
  return 0;
}
