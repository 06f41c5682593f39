// The whole libxl stream, both layers, as one pull-based sequence of events:
// libxl records, and — from LIBXC_CONTEXT until the libxc stream's END or
// CHECKPOINT — the embedded libxc stream's header and events. At a libxc
// CHECKPOINT control returns to the libxl layer (its checkpoint records, up
// to CHECKPOINT_END), then to the libxc stream again.
//
//   StreamReader r(src);
//   TERN_TRY(r.read_header());
//   while (!r.done()) { TERN_TRY_ASSIGN(auto ev, r.next()); ... }
//   TERN_TRY(r.expect_end_of_input());
#pragma once

#include <optional>

#include "stream/libxc/reader.hpp"
#include "stream/libxl/libxl_record_reader.hpp"

namespace tern::stream::libxl {

struct StreamEvent {
  enum class Kind { libxl_record, libxc_header, libxc_event };
  Kind kind = Kind::libxl_record;
  Record libxl;                   // kind == libxl_record
  libxc::StreamHeader libxc_header;  // kind == libxc_header
  std::uint64_t libxc_offset = 0;    // kind == libxc_header: where the libxc image header starts
  libxc::Event libxc;             // kind == libxc_event
};

class StreamReader {
 public:
  explicit StreamReader(ByteSource& src, libxc::ReaderOptions opts = {});

  Expected<Header> read_header();
  Expected<StreamEvent> next();
  // The libxl END has been read.
  [[nodiscard]] bool done() const { return libxl_.state() == RecordReader::State::done; }
  Expected<void> expect_end_of_input() { return libxl_.expect_end_of_input(); }

  [[nodiscard]] const RecordReader& libxl() const { return libxl_; }
  // The embedded libxc reader, once LIBXC_CONTEXT has been read.
  [[nodiscard]] libxc::Reader* libxc() { return libxc_ ? &*libxc_ : nullptr; }
  [[nodiscard]] std::uint64_t offset() const { return src_.offset(); }

 private:
  ByteSource& src_;
  libxc::ReaderOptions opts_;
  RecordReader libxl_;
  std::optional<libxc::Reader> libxc_;
  bool libxc_header_read_ = false;
};

}  // namespace tern::stream::libxl
