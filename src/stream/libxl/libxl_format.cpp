#include "stream/libxl/libxl_format.hpp"

#include <fmt/format.h>

namespace tern::stream::libxl {

void encode_header(const Header& h, std::byte out[kHeaderSize]) {
  // The header is big-endian whatever the endianness bit says (spec section 3).
  store_be<std::uint64_t>(out, kIdent);
  store_be<std::uint32_t>(out + 8, h.version);
  store_be<std::uint32_t>(out + 12, h.options);
}

Expected<Header> decode_header(Bytes b, std::uint64_t base) {
  if (b.size() < kHeaderSize)
    return make_error(Errc::truncated, "libxl header: offset {}: input ends after {} of {} header bytes",
                      base + b.size(), b.size(), kHeaderSize);
  auto ident = load_be<std::uint64_t>(b.data());
  if (ident != kIdent)
    return make_error(Errc::invalid, "libxl header: offset {}: ident is {:#018x}, expected {:#018x} (\"LibxlFmt\")",
                      base, ident, kIdent);
  Header h;
  h.version = load_be<std::uint32_t>(b.data() + 8);
  h.options = load_be<std::uint32_t>(b.data() + 12);
  if (h.version != kVersion)
    return make_error(Errc::invalid, "libxl header: offset {}: version is {}, only version {} exists", base + 8,
                      h.version, kVersion);
  if (h.options & kOptReservedMask)
    return make_error(Errc::invalid, "libxl header: offset {}: reserved option bits set ({:#010x}), they must be zero",
                      base + 12, h.options & kOptReservedMask);
  if (h.big_endian())
    return make_error(Errc::invalid,
                      "libxl header: offset {}: options say big-endian records; x86 streams are little-endian "
                      "(spec section 3) and tern reads no other", base + 12);
  return h;
}

std::string type_name(std::uint32_t type) {
  switch (type) {
    case kEnd: return "END";
    case kLibxcContext: return "LIBXC_CONTEXT";
    case kEmulatorXenstoreData: return "EMULATOR_XENSTORE_DATA";
    case kEmulatorContext: return "EMULATOR_CONTEXT";
    case kCheckpointEnd: return "CHECKPOINT_END";
    case kCheckpointState: return "CHECKPOINT_STATE";
    default:
      return fmt::format("{} record {:#010x}", is_optional(type) ? "optional" : "unknown mandatory", type);
  }
}

std::string_view emulator_name(std::uint32_t id) {
  switch (id) {
    case kEmulatorUnknown: return "unknown";
    case kEmulatorQemuTraditional: return "qemu-traditional";
    case kEmulatorQemuUpstream: return "qemu-upstream";
    default: return "reserved";
  }
}

std::string_view checkpoint_control_name(std::uint32_t id) {
  switch (id) {
    case kCheckpointNew: return "NEW";
    case kCheckpointSvmSuspended: return "SVM_SUSPENDED";
    case kCheckpointSvmReady: return "SVM_READY";
    case kCheckpointSvmResumed: return "SVM_RESUMED";
    default: return "reserved";
  }
}

bool valid_xenstore_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '/' || c == '_' || c == '@';
    if (!ok) return false;
  }
  return true;
}

bool valid_xenstore_value(std::string_view value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (!((u >= 0x20 && u < 0x7f) || c == '\t' || c == '\n')) return false;
  }
  return true;
}

namespace {

Expected<EmulatorHeader> decode_emulator_header(Bytes body) {
  if (body.size() < kEmulatorHeaderSize)
    return make_error(Errc::invalid, "body of {} bytes is shorter than the {}-byte emulator header", body.size(),
                      kEmulatorHeaderSize);
  EmulatorHeader h;
  h.emulator_id = load_le<std::uint32_t>(body.data());
  h.index = load_le<std::uint32_t>(body.data() + 4);
  if (!is_known_emulator(h.emulator_id))
    return make_error(Errc::invalid, "emulator_id {:#x} is reserved (known: 0 unknown, 1 qemu-traditional, "
                      "2 qemu-upstream)", h.emulator_id);
  return h;
}

}  // namespace

Expected<XenstoreData> decode_xenstore_data(Bytes body) {
  XenstoreData d;
  TERN_TRY_ASSIGN(d.emu, decode_emulator_header(body));
  std::string_view data = as_chars(body.subspan(kEmulatorHeaderSize));
  if (data.empty()) return d;
  if (data.back() != '\0') return make_error(Errc::invalid, "key/value data is not NUL-terminated");
  // Split without the final NUL: the strings alternate key, value.
  std::vector<std::string_view> parts;
  std::string_view rest = data.substr(0, data.size() - 1);
  for (;;) {
    auto nul = rest.find('\0');
    parts.push_back(rest.substr(0, nul));
    if (nul == std::string_view::npos) break;
    rest.remove_prefix(nul + 1);
  }
  if (parts.size() % 2 != 0)
    return make_error(Errc::invalid, "key/value data holds {} strings, expected key/value pairs", parts.size());
  for (std::size_t i = 0; i < parts.size(); i += 2) {
    if (!valid_xenstore_key(parts[i]))
      return make_error(Errc::invalid, "pair {}: key \"{}\" is empty or has characters other than "
                        "alphanumerics and -/_@", i / 2, parts[i]);
    if (!valid_xenstore_value(parts[i + 1]))
      return make_error(Errc::invalid, "pair {} (key \"{}\"): value is not printable ASCII", i / 2, parts[i]);
    d.entries.emplace_back(std::string(parts[i]), std::string(parts[i + 1]));
  }
  return d;
}

Expected<EmulatorContext> decode_emulator_context(Bytes body) {
  EmulatorContext c;
  TERN_TRY_ASSIGN(c.emu, decode_emulator_header(body));
  c.blob = body.subspan(kEmulatorHeaderSize);
  return c;
}

Expected<CheckpointState> decode_checkpoint_state(Bytes body) {
  // libxl writes a single u32; the spec's picture pads it to 8 bytes. Accept
  // both, but nothing else.
  if (body.size() != 4 && body.size() != 8)
    return make_error(Errc::invalid, "body is {} bytes, expected 4 (control_id) or 8 (control_id + zero padding)",
                      body.size());
  CheckpointState s;
  s.control = load_le<std::uint32_t>(body.data());
  if (body.size() == 8 && load_le<std::uint32_t>(body.data() + 4) != 0)
    return make_error(Errc::invalid, "padding after control_id is not zero");
  if (s.control > kCheckpointSvmResumed)
    return make_error(Errc::invalid, "control_id {} is reserved (known: 0..3)", s.control);
  return s;
}

std::vector<std::byte> encode_emulator_header(const EmulatorHeader& h) {
  std::vector<std::byte> out(kEmulatorHeaderSize);
  store_le<std::uint32_t>(out.data(), h.emulator_id);
  store_le<std::uint32_t>(out.data() + 4, h.index);
  return out;
}

Expected<std::vector<std::byte>> encode_xenstore_data(const XenstoreData& d) {
  std::vector<std::byte> out = encode_emulator_header(d.emu);
  for (const auto& [k, v] : d.entries) {
    if (!valid_xenstore_key(k))
      return make_error(Errc::usage, "xenstore key \"{}\" is empty or has characters other than alphanumerics "
                        "and -/_@", k);
    if (!valid_xenstore_value(v))
      return make_error(Errc::usage, "xenstore value for key \"{}\" is not printable ASCII", k);
    for (const std::string* s : {&k, &v}) {
      Bytes b = as_bytes(*s);
      out.insert(out.end(), b.begin(), b.end());
      out.push_back(std::byte{0});
    }
  }
  return out;
}

std::vector<std::byte> encode_checkpoint_state(const CheckpointState& s) {
  std::vector<std::byte> out(4);
  store_le<std::uint32_t>(out.data(), s.control);
  return out;
}

}  // namespace tern::stream::libxl
