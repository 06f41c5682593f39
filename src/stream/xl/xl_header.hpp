// The xl save-file header that precedes the libxl stream in `xl save` images:
//   32 bytes magic "Xen saved domain, xl format\n \0 \r"
//   u32 byteorder (0x01020304 in the writer's byte order; little-endian here)
//   u32 mandatory_flags   bit 0 JSON (config is JSON), bit 1 STREAMv2 (a libxl
//                         stream follows; without it, a legacy libxc stream)
//   u32 optional_flags    none defined; a reader ignores them
//   u32 optional_data_len
//   optional data: u32 config_len | config bytes (JSON text + NUL as xl
//   writes it) | anything else (ignored by readers)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_sink.hpp"
#include "core/byte_source.hpp"

namespace tern::stream::xl {

inline constexpr std::string_view kMagic{"Xen saved domain, xl format\n \0 \r", 32};
inline constexpr std::size_t kFixedSize = 48;  // magic + 4 u32 fields
inline constexpr std::uint32_t kByteOrderValue = 0x01020304;
inline constexpr std::uint32_t kMandatoryJson = 1u << 0;
inline constexpr std::uint32_t kMandatoryStreamV2 = 1u << 1;
inline constexpr std::uint32_t kMandatoryKnown = kMandatoryJson | kMandatoryStreamV2;
// Bounds memory on hostile input; real configs are a few KiB.
inline constexpr std::uint32_t kMaxOptionalData = 64u << 20;

struct Header {
  std::uint32_t mandatory_flags = 0;
  std::uint32_t optional_flags = 0;
  std::uint32_t optional_data_len = 0;
  bool has_config = false;
  std::string config;                 // without the trailing NUL
  bool config_nul_terminated = false;
  std::uint64_t extra_optional_bytes = 0;  // optional data after the config
  std::uint64_t payload_offset = 0;        // where the stream after the header starts
  std::vector<std::byte> raw;              // the header exactly as read (fixed part + optional data)

  [[nodiscard]] bool json() const { return (mandatory_flags & kMandatoryJson) != 0; }
  [[nodiscard]] bool stream_v2() const { return (mandatory_flags & kMandatoryStreamV2) != 0; }
};

// Reads and validates the header and its optional data from `src`, leaving
// `src` at the first byte of the stream that follows.
[[nodiscard]] Expected<Header> read_header(ByteSource& src);

// True when `head` starts with the magic (format detection).
[[nodiscard]] bool has_magic(Bytes head);

// Writes the header as tern does: STREAMv2 always, plus JSON and the config
// (JSON text, NUL-terminated like xl) when `json_config` is not empty. The
// config must parse as JSON.
Expected<void> write_header(ByteSink& sink, std::string_view json_config);

}  // namespace tern::stream::xl
