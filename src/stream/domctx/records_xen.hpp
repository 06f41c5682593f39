// Bodies of the Xen-style records named in seed 000's design: the guest's
// shared_info page (with the 32/64-bit layout flag) and TSC information.
#pragma once

#include <cstdint>
#include <vector>

#include "stream/domctx/codec.hpp"

namespace tern::stream::domctx {

// SHARED_INFO: u32 flags (bit 0: the guest uses the 32-bit layout; other
// bits zero), u32 buffer_size (<= 4096), buffer_size bytes of the page.
struct SharedInfo {
  bool is_32bit = false;
  std::vector<std::byte> buffer;
  friend bool operator==(const SharedInfo&, const SharedInfo&) = default;
};
inline constexpr std::uint32_t kSharedInfo32Bit = 1u << 0;
inline constexpr std::size_t kSharedInfoMax = 4096;

// TSC_INFO: u32 mode (0 default, 1 always emulate, 2 native, 3 no emulate),
// u32 khz, u64 nsec (elapsed time), u32 incarnation, u32 reserved (zero).
// The same fields as the libxc stream's TSC_INFO record.
struct TscInfo {
  std::uint32_t mode = 0;
  std::uint32_t khz = 0;
  std::uint64_t nsec = 0;
  std::uint32_t incarnation = 0;
  friend bool operator==(const TscInfo&, const TscInfo&) = default;
};
inline constexpr std::uint32_t kTscModeMax = 3;

template <>
struct Codec<TypeCode::shared_info> {
  using Body = SharedInfo;
  static constexpr TypeCode code = TypeCode::shared_info;
  static constexpr BodySize size = BodySize::between(8, 8 + kSharedInfoMax);
  template <typename W>
  static void encode(W& w, const SharedInfo& v) {
    w.template append_le<std::uint32_t>(v.is_32bit ? kSharedInfo32Bit : 0);
    w.template append_le<std::uint32_t>(static_cast<std::uint32_t>(v.buffer.size()));
    w.append(v.buffer);
  }
  static Expected<SharedInfo> decode(Bytes b);
  static nlohmann::json fields(const SharedInfo& v);
};

template <>
struct Codec<TypeCode::tsc_info> {
  using Body = TscInfo;
  static constexpr TypeCode code = TypeCode::tsc_info;
  static constexpr BodySize size = BodySize::exactly(24);
  template <typename W>
  static void encode(W& w, const TscInfo& v) {
    w.template append_le<std::uint32_t>(v.mode);
    w.template append_le<std::uint32_t>(v.khz);
    w.template append_le<std::uint64_t>(v.nsec);
    w.template append_le<std::uint32_t>(v.incarnation);
    w.template append_le<std::uint32_t>(0);
  }
  static Expected<TscInfo> decode(Bytes b);
  static nlohmann::json fields(const TscInfo& v);
};

}  // namespace tern::stream::domctx
