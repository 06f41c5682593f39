// Abstract output of byte streams. Format writers in stream/ only see this
// interface, so they stay free of OS calls; io/ provides fd/file/socket sinks.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/bytes.hpp"
#include "core/error.hpp"

namespace tern {

class ByteSink {
 public:
  virtual ~ByteSink() = default;

  // Writes all parts, in order. Sinks over fds hand the parts to writev
  // directly, so page payloads go out straight from guest memory.
  virtual Expected<void> write_gather(std::span<const Bytes> parts) = 0;

  Expected<void> write(Bytes b) { return write_gather(std::span<const Bytes>(&b, 1)); }

  [[nodiscard]] virtual std::uint64_t bytes_written() const = 0;
};

// Appends to a vector (tests, in-memory blobs such as a domain-context image).
class VectorSink final : public ByteSink {
 public:
  Expected<void> write_gather(std::span<const Bytes> parts) override {
    for (Bytes p : parts) data_.insert(data_.end(), p.begin(), p.end());
    return {};
  }
  [[nodiscard]] std::uint64_t bytes_written() const override { return data_.size(); }
  [[nodiscard]] const std::vector<std::byte>& data() const { return data_; }
  std::vector<std::byte> take() { return std::move(data_); }

 private:
  std::vector<std::byte> data_;
};

// Counts bytes and discards them: dry runs that must report an exact size.
class CountingSink final : public ByteSink {
 public:
  Expected<void> write_gather(std::span<const Bytes> parts) override {
    for (Bytes p : parts) n_ += p.size();
    return {};
  }
  [[nodiscard]] std::uint64_t bytes_written() const override { return n_; }

 private:
  std::uint64_t n_ = 0;
};

}  // namespace tern
