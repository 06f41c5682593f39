#include "stream/libxl/convert.hpp"

#include <optional>

#include "stream/libxc/convert.hpp"
#include "stream/libxl/libxl_record_reader.hpp"
#include "stream/libxl/libxl_writer.hpp"

namespace tern::stream::libxl {

Expected<void> convert_to_v3(ByteSource& in, ByteSink& out) {
  RecordReader rr(in);
  TERN_TRY_ASSIGN(Header h, rr.read_header());
  Writer w(out);
  TERN_TRY(w.write_header(h));
  std::optional<libxc::Reader> xin;
  std::optional<libxc::Writer> xout;
  while (rr.state() != RecordReader::State::done) {
    if (rr.state() == RecordReader::State::in_libxc) {
      if (!xin) {
        xin.emplace(in);
        auto xh = xin->read_header();
        if (!xh) return std::unexpected(xh.error().context("libxc stream inside the libxl stream"));
        rr.set_guest_is_hvm(xh->domain_type == libxc::DomainType::x86_hvm);
        xout.emplace(out);
        TERN_TRY(xout->write_header(libxc::v3_header_for(*xh)));
      }
      TERN_TRY_ASSIGN(libxc::RecordType last, libxc::convert_records(*xin, *xout));
      TERN_TRY(rr.libxc_stopped(last == libxc::RecordType::end ? LibxcStop::end : LibxcStop::checkpoint));
      continue;
    }
    TERN_TRY_ASSIGN(Record rec, rr.next());
    TERN_TRY(w.write_raw(rec.raw.type, rec.raw.body));
  }
  return rr.expect_end_of_input();
}

}  // namespace tern::stream::libxl
