#include "stream/libxc/convert.hpp"

namespace tern::stream::libxc {

StreamHeader v3_header_for(const StreamHeader& in) {
  StreamHeader out = in;
  out.version = kVersion3;
  return out;
}

Expected<RecordType> convert_records(Reader& in, Writer& out) {
  for (;;) {
    TERN_TRY_ASSIGN(Event e, in.next());
    if (e.kind == EventKind::inferred_static_data_end) {
      // Already written if an odd stream needed it earlier (below).
      if (!out.rules() || !out.rules()->static_data_ended()) TERN_TRY(out.write_static_data_end());
      continue;
    }
    const Record& r = e.record;
    if (const auto* pd = std::get_if<PageData>(&r.typed); pd && pd->payload_skipped)
      return make_error(Errc::usage, "libxc convert: the reader skips page payloads; conversion needs them");
    // Odd v2 streams may reach memory/register records (or END) before the
    // spec's inference point; v3 needs STATIC_DATA_END ahead of them.
    if (out.rules() && out.rules()->needs_static_data_end_before(r.type)) TERN_TRY(out.write_static_data_end());
    // The body is a view into the input: written as is (pages included).
    if (auto w = out.write_raw(r.type, r.body); !w) {
      // A v2 stream that v2 rules accept but v3 order cannot express (a static
      // record after a memory/register record that precedes the inference point).
      if (w.error().code() == Errc::usage)
        return make_error(Errc::unsupported, "libxc convert: offset {}: record #{} ({}): cannot be expressed in v3: {}", r.offset,
                          r.index, record_type_name(r.type), w.error().message());
      return std::unexpected(std::move(w).error());
    }
    if (r.is(RecordType::end)) return RecordType::end;
    if (r.is(RecordType::checkpoint)) return RecordType::checkpoint;
  }
}

Expected<void> convert_to_v3(ByteSource& in, ByteSink& out) {
  Reader reader(in);
  TERN_TRY_ASSIGN(StreamHeader h, reader.read_header());
  Writer writer(out);
  TERN_TRY(writer.write_header(v3_header_for(h)));
  while (!reader.ended()) TERN_TRY(convert_records(reader, writer));
  return reader.expect_end_of_input();
}

}  // namespace tern::stream::libxc
