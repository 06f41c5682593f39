// inspect/verify for the two state formats that are not migration streams:
// domain-context blobs (seed 000) and xenstore migration images (seed 003).
// Both parsers work on a whole image in memory (they are small next to guest
// memory: a 64-vCPU domain context is under 1 MiB, a 100k-node xenstore
// image about 10 MiB), so the source is read up to a bound first.
#pragma once

#include <string>

#include "cli/tern/formats.hpp"

namespace tern::cli {

bool detect_domctx(Bytes head);
bool detect_xenstore(Bytes head);

Expected<void> inspect_domctx(ByteSource& src, const InspectOptions& opts, nlohmann::json& doc);
Expected<void> inspect_xenstore(ByteSource& src, const InspectOptions& opts, nlohmann::json& doc);

Expected<std::string> verify_domctx(ByteSource& src);
Expected<std::string> verify_xenstore(ByteSource& src);

std::string render_domctx_text(const nlohmann::json& doc);
std::string render_xenstore_text(const nlohmann::json& doc);

}  // namespace tern::cli
