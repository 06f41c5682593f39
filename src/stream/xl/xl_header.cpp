#include "stream/xl/xl_header.hpp"

#include <nlohmann/json.hpp>

namespace tern::stream::xl {

bool has_magic(Bytes head) {
  return head.size() >= kMagic.size() && as_chars(head.first(kMagic.size())) == kMagic;
}

namespace {

Expected<void> check_config(Header& h, std::string_view config, std::uint64_t config_off) {
  h.has_config = true;
  if (!config.empty() && config.back() == '\0') {
    h.config_nul_terminated = true;
    config.remove_suffix(1);
  }
  if (auto nul = config.find('\0'); nul != std::string_view::npos)
    return make_error(Errc::invalid, "xl header: offset {}: config has a NUL byte at position {} before its end",
                      config_off + nul, nul);
  if (h.json()) {
    if (!nlohmann::json::accept(config))
      return make_error(Errc::invalid, "xl header: offset {}: the JSON flag is set but the {}-byte config is "
                        "not valid JSON", config_off, config.size());
  }
  h.config.assign(config);
  return {};
}

}  // namespace

Expected<Header> read_header(ByteSource& src) {
  std::uint64_t base = src.offset();
  TERN_TRY_ASSIGN(Bytes fixed, src.read(kFixedSize));
  if (fixed.size() < kMagic.size() || !has_magic(fixed)) {
    if (fixed.size() < kMagic.size() && as_chars(fixed) == kMagic.substr(0, fixed.size()))
      return make_error(Errc::truncated, "xl header: offset {}: input ends inside the magic", base + fixed.size());
    return make_error(Errc::invalid, "xl header: offset {}: magic is not \"Xen saved domain, xl format\"", base);
  }
  if (fixed.size() < kFixedSize)
    return make_error(Errc::truncated, "xl header: offset {}: input ends inside the fixed header ({} of {} bytes)",
                      base + fixed.size(), fixed.size(), kFixedSize);
  Header h;
  auto order = load_le<std::uint32_t>(fixed.data() + 32);
  h.mandatory_flags = load_le<std::uint32_t>(fixed.data() + 36);
  h.optional_flags = load_le<std::uint32_t>(fixed.data() + 40);
  h.optional_data_len = load_le<std::uint32_t>(fixed.data() + 44);
  if (order != kByteOrderValue) {
    if (order == std::byteswap(kByteOrderValue))
      return make_error(Errc::invalid, "xl header: offset {}: byteorder says a big-endian host wrote this file; "
                        "tern reads little-endian save files only", base + 32);
    return make_error(Errc::invalid, "xl header: offset {}: byteorder is {:#010x}, expected {:#010x}", base + 32,
                      order, kByteOrderValue);
  }
  if (h.mandatory_flags & ~kMandatoryKnown)
    return make_error(Errc::invalid, "xl header: offset {}: unknown mandatory flags {:#x} (known: 0x1 JSON, "
                      "0x2 STREAMv2); a reader must refuse them", base + 36, h.mandatory_flags & ~kMandatoryKnown);
  if (h.optional_data_len > kMaxOptionalData)
    return make_error(Errc::invalid, "xl header: offset {}: optional_data_len {} exceeds tern's limit of {} bytes",
                      base + 44, h.optional_data_len, kMaxOptionalData);
  std::uint64_t opt_off = base + kFixedSize;
  // Keep the fixed part now: the next read may reuse the source's buffer.
  h.raw.assign(fixed.begin(), fixed.end());
  TERN_TRY_ASSIGN(Bytes opt, src.read(h.optional_data_len));
  if (opt.size() < h.optional_data_len)
    return make_error(Errc::truncated, "xl header: offset {}: input ends inside the optional data ({} of {} bytes)",
                      opt_off + opt.size(), opt.size(), h.optional_data_len);
  if (!opt.empty()) {
    if (opt.size() < 4)
      return make_error(Errc::invalid, "xl header: offset {}: optional data of {} bytes cannot hold the 4-byte "
                        "config length", opt_off, opt.size());
    auto config_len = load_le<std::uint32_t>(opt.data());
    if (config_len > opt.size() - 4)
      return make_error(Errc::invalid, "xl header: offset {}: config_len {} overruns the optional data ({} bytes "
                        "left)", opt_off, config_len, opt.size() - 4);
    TERN_TRY(check_config(h, as_chars(opt.subspan(4, config_len)), opt_off + 4));
    h.extra_optional_bytes = opt.size() - 4 - config_len;
  }
  if (h.json() && (!h.has_config || h.config.empty()))
    return make_error(Errc::invalid, "xl header: offset {}: the JSON flag is set but there is no config", base + 36);
  h.payload_offset = src.offset();
  h.raw.insert(h.raw.end(), opt.begin(), opt.end());
  return h;
}

Expected<void> write_header(ByteSink& sink, std::string_view json_config) {
  std::uint32_t flags = kMandatoryStreamV2;
  std::vector<std::byte> opt;
  if (!json_config.empty()) {
    if (json_config.find('\0') != std::string_view::npos || !nlohmann::json::accept(json_config))
      return make_error(Errc::usage, "xl header: the config to embed is not valid JSON");
    flags |= kMandatoryJson;
    std::uint64_t len = json_config.size() + 1;  // xl stores the terminating NUL
    if (len + 4 > kMaxOptionalData)
      return make_error(Errc::usage, "xl header: config of {} bytes is too large", json_config.size());
    opt.resize(4 + len);
    store_le<std::uint32_t>(opt.data(), static_cast<std::uint32_t>(len));
    std::memcpy(opt.data() + 4, json_config.data(), json_config.size());
  }
  std::byte fixed[kFixedSize];
  std::memcpy(fixed, kMagic.data(), kMagic.size());
  store_le<std::uint32_t>(fixed + 32, kByteOrderValue);
  store_le<std::uint32_t>(fixed + 36, flags);
  store_le<std::uint32_t>(fixed + 40, 0);
  store_le<std::uint32_t>(fixed + 44, static_cast<std::uint32_t>(opt.size()));
  Bytes parts[] = {Bytes(fixed, kFixedSize), Bytes(opt)};
  return sink.write_gather(parts);
}

}  // namespace tern::stream::xl
