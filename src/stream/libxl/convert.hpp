// Upgrades the libxc stream inside a libxl stream to v3 (libxc/convert.hpp
// does the libxc part, inserting STATIC_DATA_END where v2 leaves it
// implicit). libxl records are validated and copied unchanged; checkpoints
// keep their interleaving. The libxl format itself stays version 2.
#pragma once

#include "core/byte_sink.hpp"
#include "core/byte_source.hpp"

namespace tern::stream::libxl {

// Reads a whole libxl stream from `in` (header first, nothing after END).
[[nodiscard]] Expected<void> convert_to_v3(ByteSource& in, ByteSink& out);

}  // namespace tern::stream::libxl
