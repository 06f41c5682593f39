// Pull-based, validating reader of a libxc stream (v2 or v3) over a
// ByteSource. It hands out typed views into the source's bytes (zero copy on
// memory/mmap sources), valid until the next call to next().
//
// Embedding (libxl): the reader only reads what it needs from the source, so
// a libxl reader can hand the source over at LIBXC_CONTEXT, get it back when
// next() returns CHECKPOINT or END, read its own records, and call next()
// again for the next checkpoint's records. A bare libxc stream must also end
// with END and nothing after it: call expect_end_of_input() after END.
//
// Errors name the byte offset, record index and type, and the rule broken:
//   "libxc stream: offset 4136: record #3 (PAGE_DATA): pfn[2] 0x1234 has reserved page type 0x6"
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/byte_source.hpp"
#include "core/error.hpp"
#include "stream/libxc/format.hpp"
#include "stream/libxc/records.hpp"
#include "stream/libxc/rules.hpp"
#include "stream/record_framing.hpp"

namespace tern::stream::libxc {

struct ReaderOptions {
  // Verify mode: PAGE_DATA payloads are skipped (ByteSource::skip), never
  // read into a buffer; PageData::pages is empty and payload_skipped set.
  // The pfn array is still fully checked.
  bool skip_page_payloads = false;
  // Destination mode: PAGE_DATA comes back with its header and pfn array
  // checked and PageData::payload_pending set; the caller then reads the
  // payload to where each page belongs with read_page_payload() (one copy:
  // source to guest memory), before calling next() again.
  bool defer_page_payloads = false;
};

// One validated record.
struct Record {
  std::uint32_t type = 0;
  std::uint32_t length = 0;  // body length
  std::uint64_t offset = 0;  // source offset of the record header
  std::uint64_t index = 0;   // 0-based index among this stream's records
  Bytes body;                // raw body (for PAGE_DATA with skipped payload: empty)
  RecordBody typed;          // parsed view of the body

  [[nodiscard]] bool is(RecordType t) const { return type == code(t); }
};

enum class EventKind {
  record,                    // `record` is valid
  inferred_static_data_end,  // v2 only, once: STATIC_DATA_END is deemed to be here
};

struct Event {
  EventKind kind = EventKind::record;
  // For inferred_static_data_end: type STATIC_DATA_END, empty body, and the
  // offset/index of the record that follows (where it is deemed to be).
  Record record;
  [[nodiscard]] bool is_record() const { return kind == EventKind::record; }
};

class Reader {
 public:
  explicit Reader(ByteSource& src, ReaderOptions opts = {});

  // Reads and validates the image and domain headers. Must be called first.
  [[nodiscard]] Expected<StreamHeader> read_header();

  // Next event. After an END record has been returned, next() fails
  // (Errc::usage). After CHECKPOINT it may be called again (the stream is
  // then "checkpointed").
  [[nodiscard]] Expected<Event> next();

  // Defer mode, after next() returned a PAGE_DATA record: reads its data
  // pages, the i-th into dest[i] (page_size bytes; nullptr: read and
  // dropped), then the record's padding. dest.size() must be the record's
  // data page count. Adjacent destinations are read in one piece.
  [[nodiscard]] Expected<void> read_page_payload(std::span<std::byte* const> dest);

  // For bare libxc streams, after END: fails if any byte follows.
  [[nodiscard]] Expected<void> expect_end_of_input();

  [[nodiscard]] const StreamHeader& header() const { return header_; }
  [[nodiscard]] const StreamRules& rules() const { return *rules_; }
  [[nodiscard]] bool ended() const { return rules_ && rules_->ended(); }
  [[nodiscard]] bool checkpointed() const { return rules_ && rules_->checkpointed(); }
  [[nodiscard]] ByteSource& source() { return src_; }
  [[nodiscard]] std::uint64_t offset() const { return src_.offset(); }

 private:
  Expected<Record> read_record();
  // PAGE_DATA's header and pfn array, checked; the payload skipped
  // (skip_page_payloads) or left pending (defer_page_payloads).
  Expected<Record> read_page_data_head(const RecordHead& head);
  Error record_error(const RecordHead& head, const Error& rule) const;

  ByteSource& src_;
  ReaderOptions opts_;
  RecordReader framing_;
  StreamHeader header_;
  std::optional<StreamRules> rules_;
  ParseContext ctx_;
  std::optional<Record> pending_;        // record held back behind an inferred STATIC_DATA_END
  std::vector<std::byte> pfn_copy_;      // pfn array kept across a payload skip
  std::optional<RecordHead> payload_head_;  // PAGE_DATA whose payload is pending
  std::uint32_t payload_pages_ = 0;         // its data pages
  std::vector<MutableBytes> payload_parts_;
  std::vector<std::byte> discard_;          // a page for payload nobody wants
};

}  // namespace tern::stream::libxc
