// The image formats `tern inspect` and `tern verify` understand, one entry
// each: a name (--format), detection from the first bytes, inspect and
// verify. Adding a format means writing its three functions and adding one
// entry in formats.cpp.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/byte_source.hpp"

namespace tern::cli {

// Detection looks at no more than this many leading bytes.
inline constexpr std::size_t kDetectBytes = 64;

struct InspectOptions {
  bool list_records = false;  // --json: every record with offset, type, length, fields
};

struct ImageFormat {
  std::string_view name;
  std::string_view description;
  bool (*detect)(Bytes head);
  // Reads the whole image and describes it in `doc` (filled as it goes, so a
  // partial description survives an error).
  Expected<void> (*inspect)(ByteSource& src, const InspectOptions& opts, nlohmann::json& doc);
  // Human-readable rendering of what inspect produced.
  std::string (*render_text)(const nlohmann::json& doc);
  // Strict validation; on success a one-line description of the image.
  Expected<std::string> (*verify)(ByteSource& src);
};

[[nodiscard]] std::span<const ImageFormat> image_formats();
[[nodiscard]] const ImageFormat* find_format(std::string_view name);
[[nodiscard]] const ImageFormat* detect_format(Bytes head);
// "auto|xl|libxl|libxc|..." for help texts.
[[nodiscard]] std::string format_choices();

}  // namespace tern::cli
