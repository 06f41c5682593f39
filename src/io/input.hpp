// Opening inputs: a regular file is mmap'd (readers get zero-copy views and
// page payloads are never copied); pipes, sockets and "-" (stdin) are read
// through a growing buffer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/byte_source.hpp"
#include "core/unique_fd.hpp"

namespace tern::io {

// Reads an fd through an internal buffer. Does not own the fd.
class FdSource final : public ByteSource {
 public:
  explicit FdSource(int fd, std::size_t buffer = 1 << 20);
  Expected<Bytes> read(std::size_t n) override;
  // Buffered bytes first, then readv() straight into the parts.
  Expected<std::uint64_t> read_into(std::span<const MutableBytes> parts) override;
  Expected<std::uint64_t> skip(std::uint64_t n) override;
  [[nodiscard]] std::uint64_t offset() const override { return offset_; }

  // Caps each buffered read at max(request, n) bytes (default: the buffer):
  // a consumer that takes bulk data with read_into() keeps its read-ahead
  // small, so little of that data passes through the buffer.
  void set_read_ahead(std::size_t n) { read_ahead_ = n; }

 private:
  Expected<void> fill(std::size_t want);  // make at least `want` bytes available (or EOF)
  int fd_;
  std::vector<std::byte> buf_;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes are buf_[begin_, end_)
  std::uint64_t offset_ = 0;
  bool eof_ = false;
  std::size_t read_ahead_ = SIZE_MAX;
};

// A read-only mapping of a whole file.
class MappedFile {
 public:
  static Expected<MappedFile> open(const std::string& path);
  static Expected<MappedFile> map_fd(int fd, const std::string& name);
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&&) = delete;
  MappedFile(const MappedFile&) = delete;
  ~MappedFile();
  [[nodiscard]] Bytes bytes() const { return {static_cast<const std::byte*>(addr_), size_}; }

 private:
  MappedFile(void* a, std::size_t n) : addr_(a), size_(n) {}
  void* addr_ = nullptr;
  std::size_t size_ = 0;
};

// An opened input of any kind: path or "-".
class InputFile {
 public:
  static Expected<InputFile> open(const std::string& path);
  ByteSource& source() { return *source_; }
  // The whole file when it is mapped (regular files), else empty.
  [[nodiscard]] Bytes mapped() const { return map_ ? map_->bytes() : Bytes{}; }
  [[nodiscard]] bool is_mapped() const { return map_ != nullptr; }
  // The descriptor read (stdin's for "-"); valid while this object lives.
  [[nodiscard]] int fd() const { return raw_fd_; }
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  std::string name_;
  UniqueFd fd_;
  int raw_fd_ = -1;
  std::unique_ptr<MappedFile> map_;
  std::unique_ptr<ByteSource> source_;
};

}  // namespace tern::io
