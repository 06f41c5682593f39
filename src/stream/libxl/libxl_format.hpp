// The libxl migration stream (libxenlight Domain Image Format, revision 2):
//   header (16 bytes, big-endian): u64 ident "LibxlFmt" | u32 version 2 | u32 options
//   records: u32 type | u32 length | body | zero padding to 8 (stream byte order,
//   little-endian on x86 — the only order tern reads or writes).
// This file holds the constants and the encoders/decoders of the header and of
// each record body; the reader and writer sequence them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/bytes.hpp"
#include "core/error.hpp"

namespace tern::stream::libxl {

inline constexpr std::uint64_t kIdent = 0x4c6962786c466d74ULL;  // "LibxlFmt"
inline constexpr std::uint32_t kVersion = 2;
inline constexpr std::size_t kHeaderSize = 16;

// Header options (spec section 3).
inline constexpr std::uint32_t kOptBigEndian = 1u << 0;  // 0 = little-endian
inline constexpr std::uint32_t kOptLegacy = 1u << 1;     // made by the legacy conversion tool
inline constexpr std::uint32_t kOptReservedMask = ~(kOptBigEndian | kOptLegacy);

// Record types (spec section 4).
enum RecordType : std::uint32_t {
  kEnd = 0x00000000,
  kLibxcContext = 0x00000001,
  kEmulatorXenstoreData = 0x00000002,
  kEmulatorContext = 0x00000003,
  kCheckpointEnd = 0x00000004,
  kCheckpointState = 0x00000005,
};
// Types with bit 31 set are optional: a reader that does not know one skips it.
inline constexpr std::uint32_t kOptionalBit = 0x80000000u;
[[nodiscard]] constexpr bool is_optional(std::uint32_t type) { return (type & kOptionalBit) != 0; }
[[nodiscard]] constexpr bool is_known(std::uint32_t type) { return type <= kCheckpointState; }

// Emulator ids (spec section 4.1).
enum EmulatorId : std::uint32_t {
  kEmulatorUnknown = 0,         // legacy streams
  kEmulatorQemuTraditional = 1,
  kEmulatorQemuUpstream = 2,
};
[[nodiscard]] constexpr bool is_known_emulator(std::uint32_t id) { return id <= kEmulatorQemuUpstream; }

// CHECKPOINT_STATE control ids (spec section 5.6, COLO).
enum CheckpointControl : std::uint32_t {
  kCheckpointNew = 0,           // primary -> secondary: start a new checkpoint
  kCheckpointSvmSuspended = 1,  // secondary -> primary
  kCheckpointSvmReady = 2,
  kCheckpointSvmResumed = 3,
};

// Body limit for records tern reads: emulator contexts are a few MiB at most;
// 256 MiB bounds memory use on hostile input while leaving ample room.
inline constexpr std::uint32_t kMaxBody = 256u << 20;

struct Header {
  std::uint32_t version = kVersion;
  std::uint32_t options = 0;
  [[nodiscard]] bool legacy() const { return (options & kOptLegacy) != 0; }
  [[nodiscard]] bool big_endian() const { return (options & kOptBigEndian) != 0; }
};

// Encodes a header; tern always writes little-endian streams.
void encode_header(const Header& h, std::byte out[kHeaderSize]);
// Decodes and validates a header (ident, version, reserved bits, byte order).
// `base` is the header's stream offset, for messages.
[[nodiscard]] Expected<Header> decode_header(Bytes b, std::uint64_t base = 0);

[[nodiscard]] std::string type_name(std::uint32_t type);
[[nodiscard]] std::string_view emulator_name(std::uint32_t id);
[[nodiscard]] std::string_view checkpoint_control_name(std::uint32_t id);

// The 8-byte sub-header of EMULATOR_XENSTORE_DATA and EMULATOR_CONTEXT.
struct EmulatorHeader {
  std::uint32_t emulator_id = kEmulatorQemuUpstream;
  std::uint32_t index = 0;
};
inline constexpr std::size_t kEmulatorHeaderSize = 8;

struct XenstoreData {
  EmulatorHeader emu;
  std::vector<std::pair<std::string, std::string>> entries;
};
struct EmulatorContext {
  EmulatorHeader emu;
  Bytes blob;  // view into the record body
};
struct CheckpointState {
  std::uint32_t control = kCheckpointNew;
};

// Body decoders: each validates its record's rules and names the broken one.
// Errors carry no offset; the reader adds it.
[[nodiscard]] Expected<XenstoreData> decode_xenstore_data(Bytes body);
[[nodiscard]] Expected<EmulatorContext> decode_emulator_context(Bytes body);
[[nodiscard]] Expected<CheckpointState> decode_checkpoint_state(Bytes body);

// Body encoders (the writer frames them).
[[nodiscard]] std::vector<std::byte> encode_emulator_header(const EmulatorHeader& h);
// Fails if a key or value breaks the xenstore character rules.
[[nodiscard]] Expected<std::vector<std::byte>> encode_xenstore_data(const XenstoreData& d);
[[nodiscard]] std::vector<std::byte> encode_checkpoint_state(const CheckpointState& s);

// xenstore key characters: alphanumeric ASCII and -/_@ (spec section 5.3).
[[nodiscard]] bool valid_xenstore_key(std::string_view key);
// Values are expected to be human-readable ASCII: printable, tab, newline.
[[nodiscard]] bool valid_xenstore_value(std::string_view value);

}  // namespace tern::stream::libxl
