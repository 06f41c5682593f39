#include "stream/xl/convert.hpp"

#include "stream/libxc/convert.hpp"
#include "stream/libxl/convert.hpp"
#include "stream/xl/xl_header.hpp"

namespace tern::stream::xl {

Expected<void> convert_to_v3(ByteSource& in, ByteSink& out) {
  TERN_TRY_ASSIGN(Header h, read_header(in));
  TERN_TRY(out.write(h.raw));
  if (h.stream_v2()) return libxl::convert_to_v3(in, out);
  return libxc::convert_to_v3(in, out);
}

}  // namespace tern::stream::xl
