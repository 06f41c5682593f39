#include "cli/tern/peek_source.hpp"

#include <memory>

namespace tern::cli {

Expected<std::unique_ptr<PeekSource>> PeekSource::create(ByteSource& inner, std::size_t n) {
  std::unique_ptr<PeekSource> p(new PeekSource(inner));
  TERN_TRY_ASSIGN(Bytes b, inner.read(n));
  p->head_.assign(b.begin(), b.end());
  return p;
}

Expected<Bytes> PeekSource::read(std::size_t n) {
  std::size_t left = head_.size() - pos_;
  if (left == 0) return inner_.read(n);
  if (n <= left) {
    Bytes out(head_.data() + pos_, n);
    pos_ += n;
    return out;
  }
  TERN_TRY_ASSIGN(Bytes more, inner_.read(n - left));
  joined_.assign(head_.begin() + static_cast<long>(pos_), head_.end());
  joined_.insert(joined_.end(), more.begin(), more.end());
  pos_ = head_.size();
  return Bytes(joined_);
}

Expected<std::uint64_t> PeekSource::skip(std::uint64_t n) {
  std::uint64_t left = head_.size() - pos_;
  std::uint64_t from_head = n < left ? n : left;
  pos_ += static_cast<std::size_t>(from_head);
  if (from_head == n) return n;
  TERN_TRY_ASSIGN(std::uint64_t rest, inner_.skip(n - from_head));
  return from_head + rest;
}

}  // namespace tern::cli
