#include "stream/record_framing.hpp"

#include <array>

namespace tern::stream {

RecordReader::RecordReader(ByteSource& src, std::string_view stream, TypeNamer namer)
    : src_(src), stream_(stream), namer_(namer) {}

std::uint64_t RecordReader::offset() const { return src_.offset(); }

Expected<RecordHead> RecordReader::next_head(std::uint32_t max_body) {
  RecordHead h;
  h.offset = src_.offset();
  h.index = index_;
  TERN_TRY_ASSIGN(Bytes hdr, src_.read(kRecordHeaderSize));
  if (hdr.size() < kRecordHeaderSize) {
    if (hdr.empty())
      return make_error(Errc::truncated, "{} stream: offset {}: record #{}: input ends where a record header was expected",
                        stream_, h.offset, h.index);
    return make_error(Errc::truncated, "{} stream: offset {}: record #{}: input ends inside the record header ({} of 8 bytes)",
                      stream_, h.offset, h.index, hdr.size());
  }
  h.type = load_le<std::uint32_t>(hdr.data());
  h.length = load_le<std::uint32_t>(hdr.data() + 4);
  if (h.length > max_body)
    return make_error(Errc::invalid, "{} stream: offset {}: record #{} ({}): body length {} exceeds the limit of {} bytes",
                      stream_, h.offset, h.index, namer_(h.type), h.length, max_body);
  cur_ = h;
  cur_left_ = h.length;
  in_record_ = true;
  return h;
}

Error RecordReader::body_ends_early() const {
  return Error(Errc::truncated, fmt::format("{} stream: offset {}: record #{} ({}): input ends inside the body ({} of {} bytes)",
                                            stream_, cur_.offset, cur_.index, namer_(cur_.type), cur_.length - cur_left_,
                                            cur_.length));
}

Expected<Bytes> RecordReader::read_body(std::size_t n) {
  if (!in_record_ || n > cur_left_)
    return make_error(Errc::internal, "{} stream: read_body({}) beyond the current record body", stream_, n);
  TERN_TRY_ASSIGN(Bytes b, src_.read(n));
  cur_left_ -= b.size();
  if (b.size() < n)
    return std::unexpected(body_ends_early());
  return b;
}

Expected<void> RecordReader::skip_body(std::uint64_t n) {
  if (!in_record_ || n > cur_left_)
    return make_error(Errc::internal, "{} stream: skip_body({}) beyond the current record body", stream_, n);
  TERN_TRY_ASSIGN(std::uint64_t done, src_.skip(n));
  cur_left_ -= done;
  if (done < n)
    return std::unexpected(body_ends_early());
  return {};
}

Expected<void> RecordReader::read_body_into(std::span<const MutableBytes> parts) {
  std::uint64_t n = 0;
  for (const MutableBytes& p : parts) n += p.size();
  if (!in_record_ || n > cur_left_)
    return make_error(Errc::internal, "{} stream: read_body_into({}) beyond the current record body", stream_, n);
  TERN_TRY_ASSIGN(std::uint64_t done, src_.read_into(parts));
  cur_left_ -= done;
  if (done < n)
    return std::unexpected(body_ends_early());
  return {};
}

Expected<void> RecordReader::finish() {
  if (!in_record_ || cur_left_ != 0)
    return make_error(Errc::internal, "{} stream: finish() with {} body bytes unread", stream_, cur_left_);
  in_record_ = false;
  std::size_t pad = record_padding(cur_.length);
  if (pad > 0) {
    std::uint64_t pad_off = src_.offset();
    TERN_TRY_ASSIGN(Bytes p, src_.read(pad));
    if (p.size() < pad)
      return make_error(Errc::truncated, "{} stream: offset {}: record #{} ({}): input ends inside the padding",
                        stream_, pad_off, cur_.index, namer_(cur_.type));
    if (!all_zero(p))
      return make_error(Errc::invalid, "{} stream: offset {}: record #{} ({}): padding bytes are not zero",
                        stream_, pad_off, cur_.index, namer_(cur_.type));
  }
  ++index_;
  return {};
}

Expected<Bytes> RecordReader::read_rest() {
  if (!in_record_) return make_error(Errc::internal, "{} stream: read_rest() outside a record", stream_);
  in_record_ = false;
  const RecordHead& h = cur_;
  // Body and padding in one read: a second read could move a buffered
  // source's data and invalidate the body view.
  std::size_t left = static_cast<std::size_t>(cur_left_);
  std::size_t pad = record_padding(h.length);
  std::uint64_t body_end = src_.offset() + left;
  TERN_TRY_ASSIGN(Bytes all, src_.read(left + pad));
  if (all.size() < left)
    return make_error(Errc::truncated, "{} stream: offset {}: record #{} ({}): input ends inside the body ({} of {} bytes)",
                      stream_, h.offset, h.index, namer_(h.type), h.length - left + all.size(), h.length);
  if (all.size() < left + pad)
    return make_error(Errc::truncated, "{} stream: offset {}: record #{} ({}): input ends inside the padding",
                      stream_, body_end, h.index, namer_(h.type));
  if (!all_zero(all.subspan(left)))
    return make_error(Errc::invalid, "{} stream: offset {}: record #{} ({}): padding bytes are not zero",
                      stream_, body_end, h.index, namer_(h.type));
  cur_left_ = 0;
  ++index_;
  return all.first(left);
}

Expected<RawRecord> RecordReader::next(std::uint32_t max_body) {
  TERN_TRY_ASSIGN(RecordHead h, next_head(max_body));
  RawRecord r;
  static_cast<RecordHead&>(r) = h;
  TERN_TRY_ASSIGN(r.body, read_rest());
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
