// Abstract input of byte streams. Readers in stream/ pull exact-size views:
// a memory or mmap source hands out views into its data (zero copy); an fd
// source fills an internal buffer. A view stays valid until the next call.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "core/bytes.hpp"
#include "core/error.hpp"

namespace tern {

class ByteSource {
 public:
  static constexpr std::size_t kReadIntoStep = 1 << 20;  // default read_into's read() size

  virtual ~ByteSource() = default;

  // Returns the next n bytes; fewer only when the input ends first.
  virtual Expected<Bytes> read(std::size_t n) = 0;

  // Reads the next bytes into `parts`, front to back, filling each in turn;
  // returns how many were read (fewer only when the input ends first). For
  // consumers that know where bulk data belongs (a migration destination
  // puts page payloads straight into guest memory): an fd source reads into
  // the parts directly, without a pass through its buffer. This default
  // copies from read().
  virtual Expected<std::uint64_t> read_into(std::span<const MutableBytes> parts) {
    std::uint64_t done = 0;
    for (MutableBytes part : parts) {
      while (!part.empty()) {
        TERN_TRY_ASSIGN(Bytes b, read(part.size() < kReadIntoStep ? part.size() : kReadIntoStep));
        if (b.empty()) return done;
        std::memcpy(part.data(), b.data(), b.size());
        part = part.subspan(b.size());
        done += b.size();
      }
    }
    return done;
  }

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
