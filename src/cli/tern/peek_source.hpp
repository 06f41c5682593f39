// Format detection on inputs that cannot rewind (pipes, stdin): reads the
// first bytes of a source, keeps a copy, and replays them before the rest.
#pragma once

#include <vector>

#include "core/byte_source.hpp"

namespace tern::cli {

class PeekSource final : public ByteSource {
 public:
  // Reads up to `n` bytes from `inner` now; head() returns them.
  static Expected<std::unique_ptr<PeekSource>> create(ByteSource& inner, std::size_t n);

  [[nodiscard]] Bytes head() const { return head_; }
  Expected<Bytes> read(std::size_t n) override;
  Expected<std::uint64_t> skip(std::uint64_t n) override;
  [[nodiscard]] std::uint64_t offset() const override { return inner_.offset() - (head_.size() - pos_); }

 private:
  explicit PeekSource(ByteSource& inner) : inner_(inner) {}
  ByteSource& inner_;
  std::vector<std::byte> head_;
  std::size_t pos_ = 0;            // replayed bytes of head_
  std::vector<std::byte> joined_;  // a read that straddles head_ and inner_
};

}  // namespace tern::cli
