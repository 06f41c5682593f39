// Pull reader of the xenstore image: read_header(), then next() until it
// returns the END record, then finish() to make sure nothing follows.
// Every byte is checked: header fields, record types against the version,
// body lengths against the counts and lengths they declare, padding, NUL
// terminators, and the cross-record rules of ImageRules. Errors name the byte
// offset, the record index and type, and the rule broken.
//
// Reads versions 1 and 2, either byte order, and records whose len counts
// their trailing padding (as Xen 4.17's C xenstored writes them) as well as
// records whose len is the body only (as the spec says and tern writes).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/byte_source.hpp"
#include "stream/xenstore/byte_order.hpp"
#include "stream/xenstore/image_rules.hpp"
#include "stream/xenstore/records.hpp"

namespace tern::stream::xenstore {

class ImageReader {
 public:
  explicit ImageReader(ByteSource& src) : src_(src) {}

  Expected<Header> read_header();

  // The next record. Views in it stay valid until the next call.
  Expected<Record> next();

  // After END: succeeds only if the input ends there.
  Expected<void> finish();

  [[nodiscard]] bool at_end() const { return state_ == State::done; }
  [[nodiscard]] std::uint64_t records_read() const { return index_; }
  [[nodiscard]] std::uint64_t offset() const { return src_.offset(); }

 private:
  enum class State { header, records, done, failed };

  struct Body;  // parsing context of one record (image_reader.cpp)
  Expected<RecordBody> parse(Body& b);
  Expected<RecordBody> parse_tern(Body& b);

  ByteSource& src_;
  State state_ = State::header;
  Header header_;
  ByteOrder order_{false};
  std::optional<ImageRules> rules_;
  std::uint64_t index_ = 0;
  // Scratch for decoded arrays; reused so a 100k-node image allocates once.
  std::vector<Perm> perms_;
  std::vector<Quota> quotas_;
  std::vector<TernUsage> tern_usage_;
  std::vector<TernEvent> tern_events_;
  std::vector<TernChildren> tern_children_;
};

// Reads a whole image, calling on_record for every record before END (END is
// not passed). Returns the header.
Expected<Header> read_image(ByteSource& src,
                            const std::function<Expected<void>(const Record&)>& on_record);

}  // namespace tern::stream::xenstore
