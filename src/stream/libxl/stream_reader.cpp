#include "stream/libxl/stream_reader.hpp"

namespace tern::stream::libxl {

StreamReader::StreamReader(ByteSource& src, libxc::ReaderOptions opts) : src_(src), opts_(opts), libxl_(src) {}

Expected<Header> StreamReader::read_header() { return libxl_.read_header(); }

Expected<StreamEvent> StreamReader::next() {
  StreamEvent ev;
  if (libxl_.state() != RecordReader::State::in_libxc) {
    ev.kind = StreamEvent::Kind::libxl_record;
    TERN_TRY_ASSIGN(ev.libxl, libxl_.next());
    if (libxl_.state() == RecordReader::State::in_libxc && !libxc_) libxc_.emplace(src_, opts_);
    return ev;
  }
  if (!libxc_header_read_) {
    ev.kind = StreamEvent::Kind::libxc_header;
    ev.libxc_offset = src_.offset();
    auto h = libxc_->read_header();
    if (!h) return std::unexpected(h.error().context("libxc stream inside the libxl stream (after LIBXC_CONTEXT)"));
    ev.libxc_header = *h;
    libxc_header_read_ = true;
    libxl_.set_guest_is_hvm(h->domain_type == libxc::DomainType::x86_hvm);
    return ev;
  }
  ev.kind = StreamEvent::Kind::libxc_event;
  TERN_TRY_ASSIGN(ev.libxc, libxc_->next());
  if (ev.libxc.is_record()) {
    if (ev.libxc.record.is(libxc::RecordType::end)) {
      TERN_TRY(libxl_.libxc_stopped(LibxcStop::end));
    } else if (ev.libxc.record.is(libxc::RecordType::checkpoint)) {
      TERN_TRY(libxl_.libxc_stopped(LibxcStop::checkpoint));
    }
  }
  return ev;
}

}  // namespace tern::stream::libxl
