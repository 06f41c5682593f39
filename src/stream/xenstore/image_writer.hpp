// Streaming writer of the xenstore image. write_header() first, then any
// records in dependency order (a connection before its watches and
// transactions, a transaction before its pending nodes, parents before
// children), then finish() writes END and flushes. Each record is checked
// against the same rules the reader enforces before any of its bytes are
// written, so a rejected record leaves the image as it was.
//
// Small records are gathered in an internal buffer and handed to the sink in
// large writes; large payloads (pending connection data) go out without a
// copy.
#pragma once

#include <cstdint>
#include <vector>

#include "core/byte_sink.hpp"
#include "stream/xenstore/byte_order.hpp"
#include "stream/xenstore/image_rules.hpp"
#include "stream/xenstore/records.hpp"

namespace tern::stream::xenstore {

struct WriterOptions {
  std::uint32_t version = kVersion2;  // 1 or 2
  bool big_endian = false;            // byte order of the records (the header is always big-endian)
  // Count each record's trailing padding in its len, as Xen 4.17's C
  // xenstored does (its reader may expect it). Off: len is the body only, as
  // the spec says.
  bool padding_in_length = false;
};

class ImageWriter {
 public:
  explicit ImageWriter(ByteSink& sink, WriterOptions opts = {});

  Expected<void> write_header();
  // Any record but END (use finish()).
  Expected<void> write(const RecordBody& body);
  // Writes END and flushes everything to the sink.
  Expected<void> finish();

  [[nodiscard]] std::uint64_t records_written() const { return index_; }
  [[nodiscard]] std::uint64_t bytes_written() const { return offset_; }

 private:
  Expected<void> emit(const RecordBody& body);
  Expected<void> precheck(RecordType type, const RecordBody& body) const;
  Expected<void> flush(Bytes tail = {});
  template <typename... Args>
  std::unexpected<Error> fail(Errc code, RecordType type, fmt::format_string<Args...> f, Args&&... args) const;

  // Appends the record header + fixed part, returns where the fixed part starts.
  std::byte* begin_record(RecordType type, std::uint64_t body_len, std::size_t fixed);
  void put_bytes(Bytes b);
  Expected<void> end_record(std::uint64_t body_len);

  ByteSink& sink_;
  WriterOptions opts_;
  ByteOrder order_;
  ImageRules rules_;
  std::vector<std::byte> buf_;
  std::uint64_t index_ = 0;
  std::uint64_t offset_ = 0;  // image bytes produced so far (buffered or written)
  enum class State { header, records, done, failed } state_ = State::header;
};

// Writes a whole image from a list of records (END is added).
Expected<void> write_image(ByteSink& sink, std::span<const RecordBody> records, WriterOptions opts = {});

}  // namespace tern::stream::xenstore
