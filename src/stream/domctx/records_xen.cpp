#include "stream/domctx/records_xen.hpp"

#include <nlohmann/json.hpp>

namespace tern::stream::domctx {

Expected<SharedInfo> Codec<TypeCode::shared_info>::decode(Bytes b) {
  if (b.size() < 8) return make_error(Errc::invalid, "body is {} bytes, at least 8 needed", b.size());
  std::uint32_t flags = load_le<std::uint32_t>(b.data());
  std::uint32_t n = load_le<std::uint32_t>(b.data() + 4);
  if (flags & ~kSharedInfo32Bit) return make_error(Errc::invalid, "unknown flag bits {:#x}", flags & ~kSharedInfo32Bit);
  if (n > kSharedInfoMax) return make_error(Errc::invalid, "buffer_size {} exceeds {}", n, kSharedInfoMax);
  if (b.size() != 8 + std::uint64_t{n})
    return make_error(Errc::invalid, "buffer_size {} needs a body of {} bytes, found {}", n, 8 + n, b.size());
  SharedInfo v;
  v.is_32bit = (flags & kSharedInfo32Bit) != 0;
  v.buffer.assign(b.begin() + 8, b.end());
  return v;
}

nlohmann::json Codec<TypeCode::shared_info>::fields(const SharedInfo& v) {
  std::size_t nonzero = 0;
  for (std::byte x : v.buffer) nonzero += x != std::byte{0};
  return {{"is_32bit", v.is_32bit}, {"buffer_size", v.buffer.size()}, {"nonzero_bytes", nonzero}};
}

Expected<TscInfo> Codec<TypeCode::tsc_info>::decode(Bytes b) {
  if (b.size() != 24) return make_error(Errc::invalid, "body is {} bytes, expected 24", b.size());
  TscInfo v{load_le<std::uint32_t>(b.data()), load_le<std::uint32_t>(b.data() + 4),
            load_le<std::uint64_t>(b.data() + 8), load_le<std::uint32_t>(b.data() + 16)};
  if (v.mode > kTscModeMax) return make_error(Errc::invalid, "TSC mode {} is not 0..{}", v.mode, kTscModeMax);
  if (std::uint32_t r = load_le<std::uint32_t>(b.data() + 20); r != 0)
    return make_error(Errc::invalid, "reserved field is {:#x}, must be zero", r);
  return v;
}

nlohmann::json Codec<TypeCode::tsc_info>::fields(const TscInfo& v) {
  return {{"mode", v.mode}, {"khz", v.khz}, {"nsec", v.nsec}, {"incarnation", v.incarnation}};
}

}  // namespace tern::stream::domctx
