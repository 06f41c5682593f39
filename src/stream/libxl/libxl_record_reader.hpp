// Validating reader of the libxl layer alone. The embedded libxc stream is
// read by someone else over the same source: after next() returns
// LIBXC_CONTEXT the libxc stream owns the input until its END or CHECKPOINT,
// and the owner reports which through libxc_stopped(). (stream_reader.hpp
// puts the two layers together.)
//
// Rules checked, beyond the framing and each body's own rules:
//  - the header comes first and is valid (ident, version 2, no reserved or
//    big-endian option bits);
//  - exactly one LIBXC_CONTEXT, outside checkpoints;
//  - CHECKPOINT_END only while the libxc stream is paused at a CHECKPOINT,
//    and such a pause ends only with CHECKPOINT_END (not END);
//  - emulator records only for HVM guests (once the guest type is known);
//  - unknown mandatory types (bit 31 clear) are errors, optional ones skipped;
//  - END is last: no bytes may follow it.
#pragma once

#include <optional>
#include <variant>

#include "core/byte_source.hpp"
#include "stream/libxl/libxl_format.hpp"
#include "stream/record_framing.hpp"

namespace tern::stream::libxl {

struct Record {
  RawRecord raw;  // body is a view valid until the next read from the source
  std::variant<std::monostate, XenstoreData, EmulatorContext, CheckpointState> decoded;
  bool skipped_optional = false;  // an optional type this reader does not know
};

enum class LibxcStop { end, checkpoint };

class RecordReader {
 public:
  enum class State { header, records, in_libxc, in_checkpoint, done };

  explicit RecordReader(ByteSource& src);

  Expected<Header> read_header();
  Expected<Record> next();
  // The embedded libxc stream stopped at its END or at a CHECKPOINT.
  Expected<void> libxc_stopped(LibxcStop how);
  // Tells the reader what the libxc domain header said (emulator records
  // belong to HVM guests only).
  void set_guest_is_hvm(bool hvm) { guest_hvm_ = hvm; }
  // After END: fails if any byte follows.
  Expected<void> expect_end_of_input();

  [[nodiscard]] State state() const { return state_; }
  [[nodiscard]] std::uint64_t checkpoints() const { return checkpoints_; }
  [[nodiscard]] std::uint64_t offset() const { return src_.offset(); }
  [[nodiscard]] ByteSource& source() { return src_; }

 private:
  Expected<void> check(const RawRecord& r, Record& out);
  ByteSource& src_;
  stream::RecordReader framing_;
  State state_ = State::header;
  bool seen_libxc_ = false;
  std::optional<bool> guest_hvm_;
  std::uint64_t checkpoints_ = 0;
};

}  // namespace tern::stream::libxl
