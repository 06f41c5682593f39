// inspect/verify for the migration stream formats (xl image, libxl stream,
// bare libxc stream): one walk over the image fills a JSON description —
// headers, per-type record statistics, pages by type, pfn range,
// checkpoints and, on request, every record — from which the text view and
// verify's one-line summary are rendered.
#pragma once

#include <string>

#include "cli/tern/formats.hpp"

namespace tern::cli {

bool detect_xl(Bytes head);
bool detect_libxl(Bytes head);
bool detect_libxc(Bytes head);

Expected<void> inspect_xl(ByteSource& src, const InspectOptions& opts, nlohmann::json& doc);
Expected<void> inspect_libxl(ByteSource& src, const InspectOptions& opts, nlohmann::json& doc);
Expected<void> inspect_libxc(ByteSource& src, const InspectOptions& opts, nlohmann::json& doc);

Expected<std::string> verify_xl(ByteSource& src);
Expected<std::string> verify_libxl(ByteSource& src);
Expected<std::string> verify_libxc(ByteSource& src);

std::string render_stream_text(const nlohmann::json& doc);

}  // namespace tern::cli
