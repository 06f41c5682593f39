// Opening inputs: a regular file is mmap'd (readers get zero-copy views and
// page payloads are never copied); pipes, sockets and "-" (stdin) are read
// through a growing buffer.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/byte_source.hpp"
#include "core/unique_fd.hpp"

struct iovec;

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

  // On a socket: when no data is there, keep asking (yielding the CPU
  // between tries) for up to `window` before blocking; zero (the default)
  // blocks at once. Segments that arrive while the reader is inside
  // recvmsg() go to the socket's backlog and are processed by the reader
  // when it releases the socket; a reader that sleeps leaves that TCP work
  // to softirq on the sender's core. With sender and receiver on one host
  // (loopback), this moves work off the busier sender. Non-sockets ignore it.
  void set_busy_poll(std::chrono::microseconds window) { busy_poll_ = window; }

 private:
  Expected<void> fill(std::size_t want);  // make at least `want` bytes available (or EOF)
  long read_some(iovec* iov, int count);  // readv(), after the busy poll if set
  int fd_;
  std::vector<std::byte> buf_;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes are buf_[begin_, end_)
  std::uint64_t offset_ = 0;
  bool eof_ = false;
  std::size_t read_ahead_ = SIZE_MAX;
  std::chrono::microseconds busy_poll_{0};
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
