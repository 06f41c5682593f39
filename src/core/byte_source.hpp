// Abstract input of byte streams. Readers in stream/ pull exact-size views:
// a memory or mmap source hands out views into its data (zero copy); an fd
// source fills an internal buffer. A view stays valid until the next call.
#pragma once

#include <cstdint>

#include "core/bytes.hpp"
#include "core/error.hpp"

namespace tern {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // Returns the next n bytes; fewer only when the input ends first.
  virtual Expected<Bytes> read(std::size_t n) = 0;

  // Skips up to n bytes (page payloads a verifier need not look at);
  // returns how many were skipped (fewer only at end of input).
  virtual Expected<std::uint64_t> skip(std::uint64_t n) = 0;

  // Bytes consumed so far: the offset of the next byte, for error messages.
  [[nodiscard]] virtual std::uint64_t offset() const = 0;
};

// A source over bytes already in memory (tests, fuzzers, mmap'd files).
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(Bytes data) : data_(data) {}

  Expected<Bytes> read(std::size_t n) override {
    std::size_t take = n < data_.size() - pos_ ? n : data_.size() - pos_;
    Bytes out = data_.subspan(pos_, take);
    pos_ += take;
    return out;
  }
  Expected<std::uint64_t> skip(std::uint64_t n) override {
    std::uint64_t left = data_.size() - pos_;
    std::uint64_t take = n < left ? n : left;
    pos_ += take;
    return take;
  }
  [[nodiscard]] std::uint64_t offset() const override { return pos_; }

 private:
  Bytes data_;
  std::size_t pos_ = 0;
};

}  // namespace tern
