// Domain-context blob framing (seed 000): every record is a 16-byte
// descriptor, its body, and zero padding to the next multiple of 8.
// All integers are little-endian. See docs/FORMAT.md §4.
#pragma once

#include <array>
#include <cstdint>

#include "core/bytes.hpp"

namespace tern::stream::domctx {

inline constexpr std::size_t kDescriptorSize = 16;
inline constexpr std::size_t kAlign = 8;

// Descriptor flag bit 0: a loader skips the record. Invalid on HEADER/END.
inline constexpr std::uint32_t kFlagIgnore = 1u << 0;
inline constexpr std::uint32_t kKnownFlags = kFlagIgnore;

inline constexpr std::uint32_t kMagic = 0x53415645;  // "SAVE"
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::size_t kHeaderBodySize = 16;

// Field offsets inside a descriptor (used by tools that patch flags in place).
inline constexpr std::size_t kDescTypecodeOff = 0;
inline constexpr std::size_t kDescInstanceOff = 2;
inline constexpr std::size_t kDescFlagsOff = 4;
inline constexpr std::size_t kDescLengthOff = 8;

struct Descriptor {
  std::uint16_t typecode = 0;
  std::uint16_t instance = 0;
  std::uint32_t flags = 0;
  std::uint64_t length = 0;  // body bytes, excluding descriptor and padding

  friend bool operator==(const Descriptor&, const Descriptor&) = default;
};

// HEADER body: magic and format version, plus the producer's own version so
// streams written by a buggy producer release can be told apart later.
struct HeaderBody {
  std::uint32_t magic = kMagic;
  std::uint32_t version = kVersion;
  std::uint32_t producer_major = 0;
  std::uint32_t producer_minor = 0;
};

[[nodiscard]] constexpr std::uint64_t padding_for(std::uint64_t body_len) {
  return (kAlign - body_len % kAlign) % kAlign;
}

inline void encode_descriptor(const Descriptor& d, std::byte* out) {
  store_le<std::uint16_t>(out + kDescTypecodeOff, d.typecode);
  store_le<std::uint16_t>(out + kDescInstanceOff, d.instance);
  store_le<std::uint32_t>(out + kDescFlagsOff, d.flags);
  store_le<std::uint64_t>(out + kDescLengthOff, d.length);
}

// `in` must hold kDescriptorSize bytes (callers bounds-check first).
[[nodiscard]] inline Descriptor decode_descriptor(const std::byte* in) {
  return {load_le<std::uint16_t>(in + kDescTypecodeOff), load_le<std::uint16_t>(in + kDescInstanceOff),
          load_le<std::uint32_t>(in + kDescFlagsOff), load_le<std::uint64_t>(in + kDescLengthOff)};
}

inline void encode_header_body(const HeaderBody& h, std::byte* out) {
  store_le<std::uint32_t>(out, h.magic);
  store_le<std::uint32_t>(out + 4, h.version);
  store_le<std::uint32_t>(out + 8, h.producer_major);
  store_le<std::uint32_t>(out + 12, h.producer_minor);
}

[[nodiscard]] inline HeaderBody decode_header_body(const std::byte* in) {
  return {load_le<std::uint32_t>(in), load_le<std::uint32_t>(in + 4), load_le<std::uint32_t>(in + 8),
          load_le<std::uint32_t>(in + 12)};
}

}  // namespace tern::stream::domctx
