// ByteSink over a file descriptor (file, pipe, socket). Gathers parts into
// writev calls (at most IOV_MAX each), finishing partial writes and EINTR.
#pragma once

#include <memory>
#include <string>

#include "core/byte_sink.hpp"
#include "core/unique_fd.hpp"

namespace tern::io {

class FdSink : public ByteSink {
 public:
  explicit FdSink(int fd) : fd_(fd) {}  // does not own fd
  Expected<void> write_gather(std::span<const Bytes> parts) override;
  [[nodiscard]] std::uint64_t bytes_written() const override { return written_; }
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_;
  std::uint64_t written_ = 0;
};

// Writes PATH.partial-XXXXXX next to PATH and renames it over PATH only on
// commit(): a failed or interrupted save never leaves a file that looks
// complete. Destroying an uncommitted sink removes the partial file.
class AtomicFileSink final : public FdSink {
 public:
  static Expected<std::unique_ptr<AtomicFileSink>> create(const std::string& path);
  ~AtomicFileSink() override;
  Expected<void> commit();  // fsync + rename

 private:
  AtomicFileSink(UniqueFd fd, std::string path, std::string tmp);
  UniqueFd owned_;
  std::string path_;
  std::string tmp_;
  bool committed_ = false;
};

// "-" means stdout; anything else is an AtomicFileSink. commit() is a no-op
// for stdout.
class OutputFile {
 public:
  static Expected<OutputFile> open(const std::string& path);
  ByteSink& sink() { return atomic_ ? static_cast<ByteSink&>(*atomic_) : *stdout_; }
  Expected<void> commit() { return atomic_ ? atomic_->commit() : Expected<void>{}; }

 private:
  std::unique_ptr<AtomicFileSink> atomic_;
  std::unique_ptr<FdSink> stdout_;
};

}  // namespace tern::io
