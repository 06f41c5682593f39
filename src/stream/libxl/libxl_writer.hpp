// Writes a libxl stream: header, then records. The embedded libxc stream is
// written by the caller straight to sink() after libxc_context(); when the
// libxc stream reaches a CHECKPOINT the caller writes this layer's checkpoint
// records (emulator state, CHECKPOINT_END) and resumes the libxc stream.
// The writer enforces only what it can see: header first, nothing after END.
#pragma once

#include "core/byte_sink.hpp"
#include "stream/libxl/libxl_format.hpp"
#include "stream/record_framing.hpp"

namespace tern::stream::libxl {

class Writer {
 public:
  explicit Writer(ByteSink& sink) : sink_(sink), records_(sink) {}

  Expected<void> write_header(const Header& h = {});
  Expected<void> libxc_context();
  Expected<void> emulator_xenstore_data(const XenstoreData& d);
  Expected<void> emulator_context(const EmulatorHeader& h, Bytes blob);
  Expected<void> checkpoint_end();
  Expected<void> checkpoint_state(const CheckpointState& s);
  // A record of a type this version does not define; only optional types
  // (bit 31 set) are allowed, a reader skips them.
  Expected<void> optional_record(std::uint32_t type, Bytes body);
  Expected<void> end();
  // Copies a record already validated by a reader (conversion); END through
  // here also ends the stream.
  Expected<void> write_raw(std::uint32_t type, Bytes body);

  [[nodiscard]] ByteSink& sink() { return sink_; }

 private:
  Expected<void> record(std::uint32_t type, std::span<const Bytes> parts);
  ByteSink& sink_;
  RecordWriter records_;
  bool header_done_ = false;
  bool ended_ = false;
};

}  // namespace tern::stream::libxl
