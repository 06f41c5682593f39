#include "stream/libxl/libxl_writer.hpp"

namespace tern::stream::libxl {

Expected<void> Writer::write_header(const Header& h) {
  if (header_done_) return make_error(Errc::internal, "libxl writer: header written twice");
  if (h.options & (kOptReservedMask | kOptBigEndian))
    return make_error(Errc::usage, "libxl writer: options {:#x} ask for reserved bits or big-endian records",
                      h.options);
  std::byte buf[kHeaderSize];
  encode_header(h, buf);
  TERN_TRY(sink_.write(Bytes(buf, kHeaderSize)));
  header_done_ = true;
  return {};
}

Expected<void> Writer::record(std::uint32_t type, std::span<const Bytes> parts) {
  if (!header_done_) return make_error(Errc::internal, "libxl writer: {} before the header", type_name(type));
  if (ended_) return make_error(Errc::internal, "libxl writer: {} after END", type_name(type));
  return records_.write(type, parts);
}

Expected<void> Writer::libxc_context() { return record(kLibxcContext, {}); }

Expected<void> Writer::emulator_xenstore_data(const XenstoreData& d) {
  TERN_TRY_ASSIGN(auto body, encode_xenstore_data(d));
  Bytes part(body);
  return record(kEmulatorXenstoreData, std::span<const Bytes>(&part, 1));
}

Expected<void> Writer::emulator_context(const EmulatorHeader& h, Bytes blob) {
  if (!is_known_emulator(h.emulator_id))
    return make_error(Errc::usage, "libxl writer: emulator_id {:#x} is reserved", h.emulator_id);
  auto hdr = encode_emulator_header(h);
  Bytes parts[] = {Bytes(hdr), blob};
  return record(kEmulatorContext, parts);
}

Expected<void> Writer::checkpoint_end() { return record(kCheckpointEnd, {}); }

Expected<void> Writer::checkpoint_state(const CheckpointState& s) {
  if (s.control > kCheckpointSvmResumed)
    return make_error(Errc::usage, "libxl writer: checkpoint control_id {} is reserved", s.control);
  auto body = encode_checkpoint_state(s);
  Bytes part(body);
  return record(kCheckpointState, std::span<const Bytes>(&part, 1));
}

Expected<void> Writer::optional_record(std::uint32_t type, Bytes body) {
  if (!is_optional(type))
    return make_error(Errc::usage, "libxl writer: type {:#010x} is not optional (bit 31 clear)", type);
  return record(type, std::span<const Bytes>(&body, 1));
}

Expected<void> Writer::write_raw(std::uint32_t type, Bytes body) {
  TERN_TRY(record(type, std::span<const Bytes>(&body, 1)));
  if (type == kEnd) ended_ = true;
  return {};
}

Expected<void> Writer::end() {
  TERN_TRY(record(kEnd, {}));
  ended_ = true;
  return {};
}

}  // namespace tern::stream::libxl
