// v2 -> v3 conversion, record by record, so it also works on a libxc stream
// embedded in libxl/xl (the caller converts one libxc portion per call and
// copies its own records in between). Page data is never copied: the
// writer's gather write points into the reader's buffer / the mmap'd input.
#pragma once

#include "core/byte_sink.hpp"
#include "core/byte_source.hpp"
#include "core/error.hpp"
#include "stream/libxc/reader.hpp"
#include "stream/libxc/writer.hpp"

namespace tern::stream::libxc {

// The v3 header for a stream read with header `in` (same domain, page
// shift and Xen version; version 3).
[[nodiscard]] StreamHeader v3_header_for(const StreamHeader& in);

// Copies records from `in` (header already read) to `out` (header already
// written, v3) up to and including the next END or CHECKPOINT, writing a
// STATIC_DATA_END where the reader infers one. Returns the type of the last
// record copied (END or CHECKPOINT). Callable again after CHECKPOINT.
[[nodiscard]] Expected<RecordType> convert_records(Reader& in, Writer& out);

// A whole bare stream: header, all records to END, nothing after END.
// A v3 input is re-validated and copied unchanged.
[[nodiscard]] Expected<void> convert_to_v3(ByteSource& in, ByteSink& out);

}  // namespace tern::stream::libxc
