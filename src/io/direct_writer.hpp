// O_DIRECT writes of block-aligned memory to block-aligned file offsets, a
// few in flight at once through Linux native AIO (io_submit), for
// ImageFileSink. One O_DIRECT write at a time leaves the device idle while
// the next batch is prepared; with up to `depth` queued it stays busy.
//
// Where a write cannot go direct it goes through `fallback_fd` (the same
// file opened without O_DIRECT): the file system refused O_DIRECT for it
// (EINVAL: every later write is buffered too), or the kernel offers no AIO
// (then writes are synchronous O_DIRECT pwritev).
//
// ext4 (and others) complete an O_DIRECT write that extends the file
// synchronously, under the inode lock, however it was submitted; so the
// file's size is kept ahead of the writes (ftruncate, growing geometrically)
// and set to the real end by finish().
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <sys/uio.h>

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace tern::io {

inline constexpr std::uint64_t kDirectAlign = 4096;

class DirectWriter {
 public:
  static constexpr unsigned kMaxDepth = 16;
  // `direct_fd` is open with O_DIRECT; `fallback_fd` (not owned) is the same
  // file without it. depth 0 or 1: synchronous writes. `name` is for messages.
  DirectWriter(UniqueFd direct_fd, int fallback_fd, unsigned depth, std::string name);
  ~DirectWriter();
  DirectWriter(const DirectWriter&) = delete;
  DirectWriter& operator=(const DirectWriter&) = delete;

  // Writes `parts` (each block-aligned in memory and a block multiple) at
  // block-aligned `off`. With `async` the write may still be in flight when
  // this returns: the parts' memory must stay valid and unchanged until
  // drain(). Errors of earlier asynchronous writes are reported here too.
  Expected<void> write(std::span<const Bytes> parts, std::uint64_t off, bool async);
  // Waits for every write in flight; reports the first error.
  Expected<void> drain();
  // drain(), then sets the file's size to `size` (undoing the size kept ahead).
  Expected<void> finish(std::uint64_t size);

  [[nodiscard]] bool direct() const { return direct_fd_.valid(); }
  [[nodiscard]] std::uint64_t bytes_direct() const { return direct_bytes_; }

 private:
  struct Slot {
    bool busy = false;
    std::vector<iovec> iov;
    std::uint64_t off = 0;
    std::uint64_t len = 0;
  };
  Expected<void> keep_size_ahead(std::uint64_t end);
  Expected<void> submit(std::vector<iovec> iov, std::uint64_t off, std::uint64_t len);
  Expected<void> reap(unsigned at_least);
  // Completes a write that came back short or failed with EINVAL, synchronously.
  Expected<void> complete_rest(Slot& s, std::uint64_t done, int err);
  Expected<void> write_sync(std::vector<iovec>& iov, std::uint64_t off);

  UniqueFd direct_fd_;
  int fallback_fd_;
  std::string name_;
  unsigned depth_;
  std::uint64_t aio_ctx_ = 0;  // aio_context_t; 0 = no AIO
  std::array<Slot, kMaxDepth> slots_;
  unsigned in_flight_ = 0;
  std::optional<Error> error_;  // first asynchronous failure
  std::uint64_t size_ahead_ = 0;
  std::uint64_t direct_bytes_ = 0;
};

}  // namespace tern::io
