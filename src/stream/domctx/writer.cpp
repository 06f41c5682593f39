#include "stream/domctx/writer.hpp"

#include <array>

namespace tern::stream::domctx {

void BlobWriter::misuse(std::string what) {
  if (!misuse_) misuse_ = std::move(what);
}

Expected<void> BlobWriter::status() const {
  if (misuse_) return make_error(Errc::internal, "domctx writer misuse: {}", *misuse_);
  return {};
}

Expected<void> BlobWriter::begin(std::uint16_t typecode, std::uint16_t instance, std::uint32_t flags) {
  TERN_TRY(status());
  if (open_)
    return make_error(Errc::internal, "domctx writer: begin of typecode {} while typecode {} instance {} is open",
                      typecode, open_->desc.typecode, open_->desc.instance);
  open_ = Open{{typecode, instance, flags, 0}, size_};
  if (out_) {
    std::size_t at = out_->size();
    out_->resize(at + kDescriptorSize);
    encode_descriptor(open_->desc, out_->data() + at);  // length patched at end()
  }
  size_ += kDescriptorSize;
  return {};
}

void BlobWriter::append(Bytes b) {
  if (!open_) return misuse("append with no open record");
  if (reserved_) return misuse("append before commit of a reserve");
  if (out_) out_->insert(out_->end(), b.begin(), b.end());
  open_->desc.length += b.size();
  size_ += b.size();
}

MutableBytes BlobWriter::reserve(std::size_t n) {
  if (!open_ || reserved_) {
    misuse(open_ ? "reserve before commit of the previous reserve" : "reserve with no open record");
    scratch_.resize(n);
    return scratch_;
  }
  reserved_ = n;
  if (!out_) {
    scratch_.resize(n);
    return scratch_;
  }
  std::size_t at = out_->size();
  out_->resize(at + n);
  return MutableBytes(out_->data() + at, n);
}

void BlobWriter::commit(std::size_t used) {
  if (!open_ || !reserved_) return misuse("commit without reserve");
  if (used > *reserved_) {
    misuse("commit of more bytes than reserved");
    used = *reserved_;
  }
  if (out_) out_->resize(out_->size() - (*reserved_ - used));
  open_->desc.length += used;
  size_ += used;
  reserved_.reset();
}

Expected<void> BlobWriter::end() {
  if (!open_) misuse("end with no open record");
  if (reserved_) misuse("end before commit of a reserve");
  TERN_TRY(status());
  std::uint64_t pad = padding_for(open_->desc.length);
  if (out_) {
    store_le<std::uint64_t>(out_->data() + base_ + open_->offset + kDescLengthOff, open_->desc.length);
    out_->resize(out_->size() + pad);  // value-initialised: zero padding
  }
  size_ += pad;
  open_.reset();
  return {};
}

Expected<void> BlobWriter::write_record(std::uint16_t typecode, std::uint16_t instance, std::uint32_t flags,
                                        Bytes body) {
  TERN_TRY(begin(typecode, instance, flags));
  append(body);
  return end();
}

Expected<void> BlobWriter::write_header(std::uint32_t producer_major, std::uint32_t producer_minor) {
  std::array<std::byte, kHeaderBodySize> body{};
  encode_header_body({kMagic, kVersion, producer_major, producer_minor}, body.data());
  return write_record(1, 0, 0, body);
}

Expected<void> BlobWriter::write_end() { return write_record(0, 0, 0, {}); }

}  // namespace tern::stream::domctx
