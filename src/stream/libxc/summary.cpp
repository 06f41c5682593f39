#include "stream/libxc/summary.hpp"

#include <algorithm>

namespace tern::stream::libxc {

void SummaryCollector::on_header(const StreamHeader& h, std::uint64_t start_offset) {
  s_.header = h;
  s_.start_offset = start_offset;
  s_.end_offset = start_offset + kHeadersSize;
}

void SummaryCollector::on_event(const Event& e, std::uint64_t offset_after) {
  s_.end_offset = offset_after;
  const Record& r = e.record;
  if (e.kind == EventKind::inferred_static_data_end) {
    s_.static_data_end_inferred = true;
    s_.static_data_end_index = r.index;
    return;
  }
  ++s_.records;
  RecordStat& st = is_known_type(r.type) ? s_.by_type[r.type] : s_.optional_unknown[r.type];
  ++st.count;
  st.bytes += kRecordHeaderSize + align_up(r.length, kRecordAlign);
  if (r.is(RecordType::checkpoint)) ++s_.checkpoints;
  if (r.is(RecordType::end)) s_.ended = true;
  if (r.is(RecordType::static_data_end)) s_.static_data_end_index = r.index;
  if (const auto* pd = std::get_if<PageData>(&r.typed)) {
    std::uint64_t lo = UINT64_MAX, hi = 0;
    for (std::size_t i = 0; i < pd->count; ++i) {
      std::uint64_t ent = pd->entry(i);
      ++s_.pages_by_type[pfn_entry_type(ent)];
      lo = std::min(lo, pfn_entry_pfn(ent));
      hi = std::max(hi, pfn_entry_pfn(ent));
    }
    if (s_.pfn_entries == 0) {
      s_.pfn_min = lo;
      s_.pfn_max = hi;
    } else {
      s_.pfn_min = std::min(s_.pfn_min, lo);
      s_.pfn_max = std::max(s_.pfn_max, hi);
    }
    s_.pfn_entries += pd->count;
    s_.data_pages += pd->data_pages;
  }
}

Expected<Summary> summarize(ByteSource& src, ReaderOptions opts) {
  Reader reader(src, opts);
  SummaryCollector c;
  std::uint64_t start = src.offset();
  TERN_TRY_ASSIGN(StreamHeader h, reader.read_header());
  c.on_header(h, start);
  while (!reader.ended()) {
    TERN_TRY_ASSIGN(Event e, reader.next());
    c.on_event(e, src.offset());
  }
  TERN_TRY(reader.expect_end_of_input());
  return c.summary();
}

}  // namespace tern::stream::libxc
