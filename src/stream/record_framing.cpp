#include "stream/record_framing.hpp"

#include <array>

namespace tern::stream {

RecordReader::RecordReader(ByteSource& src, std::string_view stream, TypeNamer namer)
    : src_(src), stream_(stream), namer_(namer) {}

std::uint64_t RecordReader::offset() const { return src_.offset(); }

Expected<RawRecord> RecordReader::next(std::uint32_t max_body) {
  RawRecord r;
  r.offset = src_.offset();
  r.index = index_;
  TERN_TRY_ASSIGN(Bytes hdr, src_.read(kRecordHeaderSize));
  if (hdr.size() < kRecordHeaderSize) {
    if (hdr.empty())
      return make_error(Errc::truncated, "{} stream: offset {}: record #{}: input ends where a record header was expected",
                        stream_, r.offset, r.index);
    return make_error(Errc::truncated, "{} stream: offset {}: record #{}: input ends inside the record header ({} of 8 bytes)",
                      stream_, r.offset, r.index, hdr.size());
  }
  r.type = load_le<std::uint32_t>(hdr.data());
  r.length = load_le<std::uint32_t>(hdr.data() + 4);
  if (r.length > max_body)
    return make_error(Errc::invalid, "{} stream: offset {}: record #{} ({}): body length {} exceeds the limit of {} bytes",
                      stream_, r.offset, r.index, namer_(r.type), r.length, max_body);
  TERN_TRY_ASSIGN(r.body, src_.read(r.length));
  if (r.body.size() < r.length)
    return make_error(Errc::truncated, "{} stream: offset {}: record #{} ({}): input ends inside the body ({} of {} bytes)",
                      stream_, r.offset, r.index, namer_(r.type), r.body.size(), r.length);
  std::size_t pad = record_padding(r.length);
  if (pad > 0) {
    // The body view must survive reading the padding: copy-free sources keep
    // it valid; buffered sources keep their buffer because the read is tiny.
    std::uint64_t pad_off = src_.offset();
    TERN_TRY_ASSIGN(Bytes p, src_.read(pad));
    if (p.size() < pad)
      return make_error(Errc::truncated, "{} stream: offset {}: record #{} ({}): input ends inside the padding",
                        stream_, pad_off, r.index, namer_(r.type));
    if (!all_zero(p))
      return make_error(Errc::invalid, "{} stream: offset {}: record #{} ({}): padding bytes are not zero",
                        stream_, pad_off, r.index, namer_(r.type));
  }
  ++index_;
  return r;
}

namespace {
constexpr std::array<std::byte, kRecordAlign> kZeros{};
}

Expected<void> RecordWriter::write(std::uint32_t type, std::span<const Bytes> body_parts) {
  std::uint64_t len = 0;
  for (Bytes p : body_parts) len += p.size();
  if (len > UINT32_MAX)
    return make_error(Errc::usage, "record body of {} bytes does not fit the 32-bit length field", len);
  std::array<std::byte, kRecordHeaderSize> hdr{};
  store_le<std::uint32_t>(hdr.data(), type);
  store_le<std::uint32_t>(hdr.data() + 4, static_cast<std::uint32_t>(len));
  // Small fixed vector of parts: header, body parts, padding.
  std::vector<Bytes> parts;
  parts.reserve(body_parts.size() + 2);
  parts.emplace_back(hdr);
  parts.insert(parts.end(), body_parts.begin(), body_parts.end());
  std::size_t pad = record_padding(len);
  if (pad > 0) parts.emplace_back(kZeros.data(), pad);
  return sink_.write_gather(parts);
}

void RecordWriter::begin(std::uint32_t type) {
  staged_.assign(kRecordHeaderSize, std::byte{0});
  store_le<std::uint32_t>(staged_.data(), type);
  open_ = true;
}

void RecordWriter::append(Bytes b) { staged_.insert(staged_.end(), b.begin(), b.end()); }

MutableBytes RecordWriter::reserve(std::size_t n) {
  reserved_at_ = staged_.size();
  staged_.resize(staged_.size() + n);
  return {staged_.data() + reserved_at_, n};
}

void RecordWriter::commit(std::size_t used) { staged_.resize(reserved_at_ + used); }

Expected<void> RecordWriter::end() {
  if (!open_) return make_error(Errc::internal, "RecordWriter::end without begin");
  open_ = false;
  std::uint64_t len = staged_.size() - kRecordHeaderSize;
  if (len > UINT32_MAX)
    return make_error(Errc::usage, "record body of {} bytes does not fit the 32-bit length field", len);
  store_le<std::uint32_t>(staged_.data() + 4, static_cast<std::uint32_t>(len));
  staged_.resize(staged_.size() + record_padding(len), std::byte{0});
  return sink_.write(staged_);
}

}  // namespace tern::stream
