// Record body codecs: Codec<TypeCode> gives, for each standard record type,
// its typed C++ body, the body sizes a loader accepts, encode (appending to
// a writer, no intermediate buffer), decode (total: any bytes -> body or
// error) and a JSON rendering of the decoded fields for tools.
#pragma once

#include <bit>
#include <cstring>
#include <type_traits>

#include <nlohmann/json_fwd.hpp>

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "stream/domctx/registry.hpp"
#include "stream/domctx/typecodes.hpp"

namespace tern::stream::domctx {

// Fixed-layout bodies are copied as their in-memory image; that image is the
// documented little-endian layout only on a little-endian host.
static_assert(std::endian::native == std::endian::little, "domctx fixed bodies assume a little-endian host");

template <TypeCode C>
struct Codec;  // specialised in records_kvm.hpp / records_xen.hpp

// A body that is a trivially copyable struct of known size. Derived adds
//   static Expected<void> check(const T&)       (rules beyond the size)
//   static nlohmann::json fields(const T&)      (for describe)
template <typename Derived, typename T, TypeCode C>
struct FixedCodec {
  static_assert(std::is_trivially_copyable_v<T>);
  using Body = T;
  static constexpr TypeCode code = C;
  static constexpr BodySize size = BodySize::exactly(sizeof(T));

  template <typename W>
  static void encode(W& w, const T& v) {
    w.append(Bytes(reinterpret_cast<const std::byte*>(&v), sizeof v));
  }
  static Expected<T> decode(Bytes b) {
    if (b.size() != sizeof(T))
      return make_error(Errc::invalid, "body is {} bytes, expected {}", b.size(), sizeof(T));
    T v;
    std::memcpy(&v, b.data(), sizeof v);
    TERN_TRY(Derived::check(v));
    return v;
  }
};

// Byte-wise equality for fixed bodies (tests, change detection).
template <typename T>
  requires std::is_trivially_copyable_v<T>
[[nodiscard]] bool same_bytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

}  // namespace tern::stream::domctx
