// Writes domain-context records straight into the output blob. A record is
// opened with begin(), filled with any number of append() or reserve() +
// commit() calls, and closed with end(), which patches the descriptor's
// length in place: producers need not know the size in advance, never walk
// their state twice and never stage the body in a second buffer (the review
// of seed 000's v2 patch). A dry-run writer counts the exact same bytes
// without storing them.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "stream/domctx/descriptor.hpp"

namespace tern::stream::domctx {

class BlobWriter {
 public:
  // Appends records to `out` (which may already hold data; offsets in
  // errors are relative to the start of the blob this writer began).
  explicit BlobWriter(std::vector<std::byte>& out) : out_(&out), base_(out.size()) {}

  // Counts bytes only; reserve() hands out a scratch area.
  [[nodiscard]] static BlobWriter dry_run() { return BlobWriter(); }

  // Opens a record. Fails if one is already open or an earlier misuse was
  // recorded.
  Expected<void> begin(std::uint16_t typecode, std::uint16_t instance, std::uint32_t flags = 0);

  // Body data. Misuse (no open record, unmatched commit) is recorded and
  // reported by the next begin()/end()/finish() rather than crashing.
  void append(Bytes b);
  template <typename T>
    requires std::is_integral_v<T>
  void append_le(T v) {
    std::byte b[sizeof(T)];
    store_le<T>(b, v);
    append(Bytes(b, sizeof b));
  }
  // A writable span of n bytes at the current end of the body, valid until
  // the next append/reserve/commit/end. commit(used) keeps the first `used`.
  MutableBytes reserve(std::size_t n);
  void commit(std::size_t used);

  // Closes the record: patches the length, writes zero padding.
  Expected<void> end();

  // Writes whole records (HEADER, END, or a body already in memory).
  Expected<void> write_record(std::uint16_t typecode, std::uint16_t instance, std::uint32_t flags, Bytes body);
  Expected<void> write_header(std::uint32_t producer_major, std::uint32_t producer_minor);
  Expected<void> write_end();

  // Bytes produced so far (exact in dry-run mode too).
  [[nodiscard]] std::uint64_t size() const { return size_; }
  [[nodiscard]] bool record_open() const { return open_.has_value(); }
  [[nodiscard]] bool dry() const { return out_ == nullptr; }
  // Reports (and clears nothing of) any recorded misuse.
  [[nodiscard]] Expected<void> status() const;

 private:
  BlobWriter() = default;
  void misuse(std::string what);

  struct Open {
    Descriptor desc;
    std::uint64_t offset;  // descriptor offset within the blob
  };
  std::vector<std::byte>* out_ = nullptr;
  std::size_t base_ = 0;
  std::uint64_t size_ = 0;
  std::optional<Open> open_;
  std::optional<std::size_t> reserved_;  // size of an uncommitted reserve()
  std::vector<std::byte> scratch_;       // dry-run reserve() target
  std::optional<std::string> misuse_;
};

}  // namespace tern::stream::domctx
