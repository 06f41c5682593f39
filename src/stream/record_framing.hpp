// Record framing shared by the libxc and libxl streams: a record is
//   u32 type | u32 body length | body | zero padding to a multiple of 8,
// in the stream's byte order (little-endian on x86, the only one tern writes).
// This layer knows nothing about record types; it frames, pads, bounds-checks
// and reports where things are.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_sink.hpp"
#include "core/byte_source.hpp"

namespace tern::stream {

inline constexpr std::size_t kRecordHeaderSize = 8;
inline constexpr std::size_t kRecordAlign = 8;

[[nodiscard]] constexpr std::size_t record_padding(std::uint64_t body_len) {
  return static_cast<std::size_t>(align_up(body_len, kRecordAlign) - body_len);
}

// A record header, as read.
struct RecordHead {
  std::uint32_t type = 0;
  std::uint32_t length = 0;
  std::uint64_t offset = 0;  // stream offset of the record header
  std::uint64_t index = 0;   // 0-based position of the record in its stream
};

// One framed record, as read. `body` is a view valid until the next read.
struct RawRecord : RecordHead {
  Bytes body;
};

class RecordReader {
 public:
  // `stream` names the stream in errors ("libxc", "libxl"); `describe_type`
  // turns a type code into a name for messages.
  using TypeNamer = std::string (*)(std::uint32_t);
  RecordReader(ByteSource& src, std::string_view stream, TypeNamer namer);

  // Reads header, body (at most max_body bytes, else an error) and padding
  // (which must be zero). An input that ends exactly before a header yields
  // Errc::truncated naming the missing record.
  Expected<RawRecord> next(std::uint32_t max_body);

  // Piecewise reading, for readers that skip bulk data (page payloads):
  // next_head() reads a header (checking max_body), then read_body()/
  // skip_body() consume the body front to back, and finish() checks that
  // the whole body was consumed and reads and checks the padding.
  // Views from read_body() may be invalidated by skip_body() on buffered
  // sources. Errors have the same form as next()'s.
  Expected<RecordHead> next_head(std::uint32_t max_body);
  Expected<Bytes> read_body(std::size_t n);
  Expected<void> skip_body(std::uint64_t n);
  // Reads the next body bytes into `parts` (ByteSource::read_into): all of
  // them, or a truncation error.
  Expected<void> read_body_into(std::span<const MutableBytes> parts);
  Expected<void> finish();
  // Reads the rest of the body and the padding in one source read (so the
  // returned body view stays valid), checks the padding and finishes.
  Expected<Bytes> read_rest();

  // Names a type in messages, as given to the constructor.
  [[nodiscard]] std::string type_name(std::uint32_t t) const { return namer_(t); }

  [[nodiscard]] std::uint64_t records_read() const { return index_; }
  [[nodiscard]] std::uint64_t offset() const;
  [[nodiscard]] ByteSource& source() { return src_; }

 private:
  // The current record's body ended before its length said.
  [[nodiscard]] Error body_ends_early() const;

  ByteSource& src_;
  std::string stream_;
  TypeNamer namer_;
  std::uint64_t index_ = 0;
  RecordHead cur_;              // record being read piecewise
  std::uint64_t cur_left_ = 0;  // body bytes not yet consumed
  bool in_record_ = false;
};

// Writes framed records to a sink. Two ways to write one record:
//  - write(type, parts): the body is given as parts (e.g. a PAGE_DATA header
//    plus pages straight from guest memory) and goes out in one gather write;
//  - begin(type), then append()/reserve()+commit() any number of times, then
//    end(): the body is staged and the header's length is patched at end(),
//    so producers need not know the size in advance.
class RecordWriter {
 public:
  explicit RecordWriter(ByteSink& sink) : sink_(sink) {}

  Expected<void> write(std::uint32_t type, std::span<const Bytes> body_parts);
  Expected<void> write(std::uint32_t type, Bytes body) {
    return write(type, std::span<const Bytes>(&body, 1));
  }

  void begin(std::uint32_t type);
  void append(Bytes b);
  MutableBytes reserve(std::size_t n);  // writable span of n bytes
  void commit(std::size_t used);        // keep `used` bytes of the last reserve
  Expected<void> end();

  [[nodiscard]] ByteSink& sink() { return sink_; }

 private:
  ByteSink& sink_;
  std::vector<std::byte> staged_;
  std::size_t reserved_at_ = 0;
  bool open_ = false;
};

}  // namespace tern::stream
