// What `tern inspect` shows about a libxc stream: a small struct filled
// from the reader's events.
#pragma once

#include <array>
#include <cstdint>
#include <map>

#include "core/byte_source.hpp"
#include "core/error.hpp"
#include "stream/libxc/reader.hpp"

namespace tern::stream::libxc {

struct RecordStat {
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;  // whole records: header + body + padding
};

struct Summary {
  StreamHeader header;                                   // version, domain type, page shift, xen version
  std::array<RecordStat, kRecordTypeCount> by_type{};    // known record types, indexed by type code
  std::map<std::uint32_t, RecordStat> optional_unknown;  // unknown optional records by type code
  std::array<std::uint64_t, kPageTypeCount> pages_by_type{};  // pfn entries by page type
  std::uint64_t pfn_entries = 0;  // all pfn entries (pages of every type)
  std::uint64_t data_pages = 0;   // entries that carried a payload
  std::uint64_t pfn_min = 0, pfn_max = 0;  // meaningful when pfn_entries > 0
  std::uint64_t records = 0;      // records read (an inferred STATIC_DATA_END is not a record)
  std::uint64_t checkpoints = 0;
  bool static_data_end_inferred = false;
  std::uint64_t static_data_end_index = 0;  // record index it precedes (inferred) or has (sent)
  bool ended = false;             // END was read
  std::uint64_t start_offset = 0; // source offset of the image header
  std::uint64_t end_offset = 0;   // source offset after the last byte read
};

class SummaryCollector {
 public:
  void on_header(const StreamHeader& h, std::uint64_t start_offset);
  void on_event(const Event& e, std::uint64_t offset_after);
  [[nodiscard]] const Summary& summary() const { return s_; }

 private:
  Summary s_;
};

// Reads a bare libxc stream to END, checks nothing follows, and summarizes
// it. With skip_page_payloads this is `tern verify`'s fast path.
[[nodiscard]] Expected<Summary> summarize(ByteSource& src, ReaderOptions opts = {});

}  // namespace tern::stream::libxc
