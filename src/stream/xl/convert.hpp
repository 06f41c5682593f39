// Upgrades the libxc stream inside an xl save image to v3: the xl header is
// copied byte for byte, the stream after it converted (libxl/convert.hpp,
// or libxc/convert.hpp when the header lacks the STREAMv2 flag).
#pragma once

#include "core/byte_sink.hpp"
#include "core/byte_source.hpp"

namespace tern::stream::xl {

[[nodiscard]] Expected<void> convert_to_v3(ByteSource& in, ByteSink& out);

}  // namespace tern::stream::xl
