// The sink `tern save` writes an image file through. Like AtomicFileSink it
// writes PATH.partial-XXXXXX and renames it over PATH only on commit(), so
// an image appears under its name only when it is complete and durable. It
// differs in how the bytes reach the file:
//
//   - Page payloads (parts that are 4 KiB-aligned in memory, a multiple of
//     4 KiB long, and land on a 4 KiB-aligned file offset: the writer aligns
//     PAGE_DATA payloads in the file) are written with O_DIRECT, straight
//     from guest memory to the device. A buffered write first copies every
//     byte into freshly allocated page-cache pages; on this project's hosts
//     that allocation is the slowest part of a save (freed memory is handed
//     back to the hypervisor, and touching it again faults), and the copy
//     competes with the guest for memory. O_DIRECT has neither cost, and the
//     data is on the device when write() returns.
//   - Everything else (headers, pfn arrays, the state records) is collected
//     in a small buffer and written through the page cache, on a second
//     descriptor without O_DIRECT. Those bytes are a few KiB per 4 MiB of
//     payload, and keeping them cached means a restore on this host right
//     after the save reads the stream's structure without touching the disk.
//     Buffered and direct writes never share a 4 KiB block of the file (a
//     direct part starts and ends block-aligned, and the buffer is written
//     before it).
//
// A file system that refuses O_DIRECT (at open, or with EINVAL on a write)
// gets buffered writes for everything; bytes_direct() says what happened.
// Direct writes are queued a few at a time (DirectWriter, Linux AIO) so the
// device never waits for the next batch.
//
// Without `pipeline`, write_gather() returns only when the caller's memory
// is no longer needed (direct parts written, others copied). With it, direct
// parts may still be in flight: their memory must stay unchanged until
// drain() returns — a saver drains before it resumes the guest. Either way
// commit() (flush, fsync, rename) can run while the guest runs again.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/byte_sink.hpp"
#include "core/unique_fd.hpp"
#include "io/direct_writer.hpp"

namespace tern::io {

class ImageFileSink final : public ByteSink {
 public:
  struct Options {
    bool direct = true;     // false: every byte buffered (as AtomicFileSink)
    bool pipeline = false;  // direct parts stay valid until drain() (see above)
    unsigned depth = 8;     // direct writes in flight (1: one at a time)
    std::size_t buffer = 1 << 20;
  };
  static Expected<std::unique_ptr<ImageFileSink>> create(const std::string& path,
                                                         const Options& opts);
  static Expected<std::unique_ptr<ImageFileSink>> create(const std::string& path) {
    return create(path, Options{});
  }
  ~ImageFileSink() override;
  ImageFileSink(const ImageFileSink&) = delete;
  ImageFileSink& operator=(const ImageFileSink&) = delete;

  Expected<void> write_gather(std::span<const Bytes> parts) override;
  [[nodiscard]] std::uint64_t bytes_written() const override { return pos_; }

  // Waits until no direct write is in flight (the caller's memory is free).
  Expected<void> drain();
  // Writes the buffered bytes, drains, fsyncs, renames over the final path.
  Expected<void> commit();

  [[nodiscard]] std::uint64_t bytes_direct() const { return direct_ ? direct_->bytes_direct() : 0; }
  [[nodiscard]] bool direct_enabled() const { return direct_ && direct_->direct(); }
  [[nodiscard]] const std::string& temp_path() const { return tmp_; }

 private:
  ImageFileSink(UniqueFd fd, std::string path, std::string tmp, const Options& opts);
  [[nodiscard]] bool direct_eligible(Bytes part) const;
  Expected<void> flush_buffer();

  UniqueFd fd_;                           // buffered writes, fsync
  std::unique_ptr<DirectWriter> direct_;  // null when O_DIRECT was refused at open
  bool pipeline_;
  std::string path_;
  std::string tmp_;
  std::size_t buffer_cap_;
  std::vector<std::byte> buffer_;  // bytes for [pos_ - buffer_.size(), pos_)
  std::uint64_t pos_ = 0;
  bool committed_ = false;
};

}  // namespace tern::io
