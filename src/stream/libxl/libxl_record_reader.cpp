#include "stream/libxl/libxl_record_reader.hpp"

namespace tern::stream::libxl {

namespace {
std::string namer(std::uint32_t t) { return type_name(t); }
}  // namespace

RecordReader::RecordReader(ByteSource& src) : src_(src), framing_(src, "libxl", namer) {}

Expected<Header> RecordReader::read_header() {
  if (state_ != State::header) return make_error(Errc::internal, "libxl reader: header read twice");
  std::uint64_t base = src_.offset();
  TERN_TRY_ASSIGN(Bytes b, src_.read(kHeaderSize));
  auto h = decode_header(b, base);
  if (!h) return std::unexpected(h.error());
  state_ = State::records;
  return h;
}

Expected<Record> RecordReader::next() {
  switch (state_) {
    case State::header: return make_error(Errc::internal, "libxl reader: record read before the header");
    case State::in_libxc:
      return make_error(Errc::internal, "libxl reader: the libxc stream owns the input (offset {})", src_.offset());
    case State::done: return make_error(Errc::internal, "libxl reader: record read after END");
    default: break;
  }
  TERN_TRY_ASSIGN(RawRecord raw, framing_.next(kMaxBody));
  Record out;
  if (auto ok = check(raw, out); !ok)
    return make_error(ok.error().code(), "libxl stream: offset {}: record #{} ({}): {}", raw.offset, raw.index,
                      type_name(raw.type), ok.error().message());
  out.raw = raw;
  return out;
}

Expected<void> RecordReader::check(const RawRecord& r, Record& out) {
  auto require_empty = [&]() -> Expected<void> {
    if (r.length != 0) return make_error(Errc::invalid, "body must be empty, it is {} bytes", r.length);
    return {};
  };
  auto require_hvm = [&]() -> Expected<void> {
    if (guest_hvm_ && !*guest_hvm_)
      return make_error(Errc::invalid, "emulator records belong to HVM guests, and the libxc stream is PV");
    return {};
  };
  switch (r.type) {
    case kEnd:
      TERN_TRY(require_empty());
      if (state_ == State::in_checkpoint)
        return make_error(Errc::invalid, "END inside a checkpoint; CHECKPOINT_END must close it first");
      if (!seen_libxc_) return make_error(Errc::invalid, "END before any LIBXC_CONTEXT; the stream carries no domain");
      state_ = State::done;
      return {};
    case kLibxcContext:
      TERN_TRY(require_empty());
      if (seen_libxc_)
        return make_error(Errc::invalid, "second LIBXC_CONTEXT; the libxc stream is handed over exactly once");
      seen_libxc_ = true;
      state_ = State::in_libxc;
      return {};
    case kEmulatorXenstoreData: {
      TERN_TRY(require_hvm());
      TERN_TRY_ASSIGN(auto d, decode_xenstore_data(r.body));
      out.decoded = std::move(d);
      return {};
    }
    case kEmulatorContext: {
      TERN_TRY(require_hvm());
      TERN_TRY_ASSIGN(auto c, decode_emulator_context(r.body));
      out.decoded = c;
      return {};
    }
    case kCheckpointEnd:
      TERN_TRY(require_empty());
      if (state_ != State::in_checkpoint)
        return make_error(Errc::invalid, "CHECKPOINT_END outside a checkpoint (no libxc CHECKPOINT precedes it)");
      ++checkpoints_;
      state_ = State::in_libxc;
      return {};
    case kCheckpointState: {
      TERN_TRY_ASSIGN(auto s, decode_checkpoint_state(r.body));
      out.decoded = s;
      return {};
    }
    default:
      if (!is_optional(r.type))
        return make_error(Errc::invalid, "mandatory record type unknown to libxl stream version 2 (bit 31 clear)");
      out.skipped_optional = true;
      return {};
  }
}

Expected<void> RecordReader::libxc_stopped(LibxcStop how) {
  if (state_ != State::in_libxc)
    return make_error(Errc::internal, "libxl reader: libxc_stopped while the libxc stream does not own the input");
  state_ = how == LibxcStop::end ? State::records : State::in_checkpoint;
  return {};
}

Expected<void> RecordReader::expect_end_of_input() {
  if (state_ != State::done) return make_error(Errc::internal, "libxl reader: end of input checked before END");
  std::uint64_t off = src_.offset();
  TERN_TRY_ASSIGN(Bytes b, src_.read(1));
  if (!b.empty()) {
    TERN_TRY_ASSIGN(std::uint64_t more, src_.skip(UINT64_MAX));
    return make_error(Errc::invalid, "libxl stream: offset {}: {} bytes follow the END record; END must be last", off,
                      more + 1);
  }
  return {};
}

}  // namespace tern::stream::libxl
