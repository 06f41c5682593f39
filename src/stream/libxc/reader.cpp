#include "stream/libxc/reader.hpp"

#include <cstring>

namespace tern::stream::libxc {

namespace {
std::string type_namer(std::uint32_t t) { return record_type_name(t); }
}  // namespace

Reader::Reader(ByteSource& src, ReaderOptions opts) : src_(src), opts_(opts), framing_(src, "libxc", type_namer) {}

Error Reader::record_error(const RecordHead& head, const Error& rule) const {
  return Error(rule.code(), fmt::format("libxc stream: offset {}: record #{} ({}): {}", head.offset, head.index,
                                        record_type_name(head.type), rule.message()));
}

Expected<StreamHeader> Reader::read_header() {
  if (rules_) return make_error(Errc::usage, "libxc stream: read_header() called twice");
  std::uint64_t base = src_.offset();
  TERN_TRY_ASSIGN(Bytes h, src_.read(kHeadersSize));
  TERN_TRY_ASSIGN(header_, parse_headers(h, base));
  rules_.emplace(header_.domain_type, header_.version);
  ctx_.page_size = header_.page_size();
  return header_;
}

Expected<Event> Reader::next() {
  if (!rules_) return make_error(Errc::usage, "libxc stream: next() before read_header()");
  if (pending_) {
    Event e{EventKind::record, std::move(*pending_)};
    pending_.reset();
    return e;
  }
  if (rules_->ended())
    return make_error(Errc::usage, "libxc stream: offset {}: next() after the END record", src_.offset());
  if (payload_head_)
    return make_error(Errc::usage, "libxc stream: offset {}: next() before the payload of record #{} (PAGE_DATA) was read",
                      src_.offset(), payload_head_->index);
  TERN_TRY_ASSIGN(RecordHead head, framing_.next_head(UINT32_MAX));

  auto admitted = rules_->admit(head.type);
  if (!admitted) return std::unexpected(record_error(head, admitted.error()));
  std::uint32_t limit = max_body_length(head.type, ctx_.page_size);
  if (head.length > limit)
    return std::unexpected(record_error(
        head, Error(Errc::invalid, fmt::format("body length {} exceeds the limit of {} bytes for this type", head.length, limit))));

  Record rec;
  rec.type = head.type;
  rec.length = head.length;
  rec.offset = head.offset;
  rec.index = head.index;
  if ((opts_.skip_page_payloads || opts_.defer_page_payloads) && head.type == code(RecordType::page_data)) {
    TERN_TRY_ASSIGN(rec, read_page_data_head(head));
  } else {
    TERN_TRY_ASSIGN(rec.body, framing_.read_rest());
    auto typed = parse_body(head.type, rec.body, ctx_);
    if (!typed) return std::unexpected(record_error(head, typed.error()));
    rec.typed = std::move(*typed);
  }
  if (const auto* info = std::get_if<PvInfo>(&rec.typed)) ctx_.guest_width = info->guest_width;

  if (admitted->infer_static_data_end_before) {
    Event e{EventKind::inferred_static_data_end, Record{}};
    e.record.type = code(RecordType::static_data_end);
    e.record.offset = rec.offset;
    e.record.index = rec.index;
    e.record.typed = Empty{};
    pending_ = std::move(rec);
    return e;
  }
  return Event{EventKind::record, std::move(rec)};
}

Expected<Record> Reader::read_page_data_head(const RecordHead& head) {
  auto fail = [&](const Error& e) { return std::unexpected(record_error(head, e)); };
  if (head.length < kPageDataHeaderSize)
    return fail(Error(Errc::invalid, fmt::format("body of {} bytes is shorter than the 8-byte PAGE_DATA header", head.length)));
  TERN_TRY_ASSIGN(Bytes hdr, framing_.read_body(kPageDataHeaderSize));
  auto count = parse_page_data_count(hdr);
  if (!count) return fail(count.error());
  std::uint64_t pfn_bytes = std::uint64_t{*count} * 8;
  if (head.length - kPageDataHeaderSize < pfn_bytes)
    return fail(Error(Errc::invalid, fmt::format("body of {} bytes is too short for {} pfn entries", head.length, *count)));
  TERN_TRY_ASSIGN(Bytes pfns, framing_.read_body(pfn_bytes));
  auto data = check_pfn_array(pfns);
  if (!data) return fail(data.error());
  std::uint64_t want = kPageDataHeaderSize + pfn_bytes + std::uint64_t{*data} * ctx_.page_size;
  if (head.length != want)
    return fail(Error(Errc::invalid, fmt::format("body is {} bytes, expected {} (8 + {} pfn entries * 8 + {} data pages * {})",
                                                 head.length, want, *count, *data, ctx_.page_size)));
  // Skipping may refill a buffered source under the pfn view: keep a copy
  // (8 bytes per page, the only per-page bytes verification touches).
  pfn_copy_.assign(pfns.begin(), pfns.end());
  const bool defer = !opts_.skip_page_payloads;
  if (defer) {
    payload_head_ = head;
    payload_pages_ = *data;
  } else {
    TERN_TRY(framing_.skip_body(std::uint64_t{*data} * ctx_.page_size));
    TERN_TRY(framing_.finish());
  }
  Record rec;
  rec.type = head.type;
  rec.length = head.length;
  rec.offset = head.offset;
  rec.index = head.index;
  PageData pd;
  pd.count = *count;
  pd.data_pages = *data;
  pd.pfns = pfn_copy_;
  pd.payload_skipped = !defer;
  pd.payload_pending = defer;
  rec.typed = pd;
  return rec;
}

Expected<void> Reader::read_page_payload(std::span<std::byte* const> dest) {
  if (!payload_head_)
    return make_error(Errc::usage, "libxc stream: offset {}: read_page_payload() without a pending PAGE_DATA payload",
                      src_.offset());
  const RecordHead head = *payload_head_;
  if (dest.size() != payload_pages_)
    return make_error(Errc::usage, "libxc stream: offset {}: record #{} (PAGE_DATA): {} page destinations for {} data pages",
                      src_.offset(), head.index, dest.size(), payload_pages_);
  payload_head_.reset();  // whatever happens next, the record is over for the caller
  const std::size_t ps = ctx_.page_size;
  if (discard_.size() != ps) discard_.assign(ps, std::byte{0});
  payload_parts_.clear();
  for (std::byte* d : dest) {
    std::byte* to = d != nullptr ? d : discard_.data();
    MutableBytes* last = payload_parts_.empty() ? nullptr : &payload_parts_.back();
    if (d != nullptr && last != nullptr && last->data() != discard_.data() && last->data() + last->size() == to)
      *last = MutableBytes(last->data(), last->size() + ps);
    else
      payload_parts_.emplace_back(to, ps);
  }
  TERN_TRY(framing_.read_body_into(payload_parts_));
  return framing_.finish();
}

Expected<void> Reader::expect_end_of_input() {
  if (!ended()) return make_error(Errc::usage, "libxc stream: expect_end_of_input() before the END record");
  std::uint64_t off = src_.offset();
  TERN_TRY_ASSIGN(Bytes b, src_.read(1));
  if (!b.empty())
    return make_error(Errc::invalid, "libxc stream: offset {}: data after the END record (END must be the last thing in the stream)",
                      off);
  return {};
}

}  // namespace tern::stream::libxc
