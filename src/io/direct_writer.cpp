#include "io/direct_writer.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace tern::io {

namespace {

constexpr std::uint64_t kMinSizeAhead = 64ULL << 20;

bool aligned(std::uint64_t v) { return v % kDirectAlign == 0; }

// Drops the first `n` bytes of `iov` (entries fully consumed become empty).
void advance(std::vector<iovec>& iov, std::uint64_t n) {
  for (iovec& v : iov) {
    if (n == 0) break;
    const std::uint64_t take = std::min<std::uint64_t>(n, v.iov_len);
    v.iov_base = static_cast<char*>(v.iov_base) + take;
    v.iov_len -= take;
    n -= take;
  }
  std::erase_if(iov, [](const iovec& v) { return v.iov_len == 0; });
}

bool iov_aligned(const std::vector<iovec>& iov) {
  return std::all_of(iov.begin(), iov.end(), [](const iovec& v) {
    return aligned(v.iov_len) && aligned(reinterpret_cast<std::uintptr_t>(v.iov_base));
  });
}

// pwritev of all of `iov` at `off`, finishing partial writes; on failure
// returns the errno and leaves in `done` what was written.
int pwrite_all(int fd, std::vector<iovec> iov, std::uint64_t off, std::uint64_t& done) {
  done = 0;
  while (!iov.empty()) {
    const int cnt = static_cast<int>(std::min<std::size_t>(iov.size(), IOV_MAX));
    const ssize_t w = ::pwritev(fd, iov.data(), cnt, static_cast<off_t>(off + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;  // no progress: report instead of spinning
    done += static_cast<std::uint64_t>(w);
    advance(iov, static_cast<std::uint64_t>(w));
  }
  return 0;
}

}  // namespace

DirectWriter::DirectWriter(UniqueFd direct_fd, int fallback_fd, unsigned depth, std::string name)
    : direct_fd_(std::move(direct_fd)),
      fallback_fd_(fallback_fd),
      name_(std::move(name)),
      depth_(std::min(depth, kMaxDepth)) {
  if (depth_ > 1 && direct_fd_.valid()) {
    aio_context_t ctx = 0;
    // No AIO (ENOSYS, or aio-max-nr reached): synchronous O_DIRECT writes.
    if (::syscall(SYS_io_setup, depth_, &ctx) == 0) aio_ctx_ = ctx;
  }
}

DirectWriter::~DirectWriter() {
  if (aio_ctx_ != 0) {
    (void)drain();  // the parts' memory must not be read after this object is gone
    ::syscall(SYS_io_destroy, static_cast<aio_context_t>(aio_ctx_));
  }
}

Expected<void> DirectWriter::keep_size_ahead(std::uint64_t end) {
  if (end <= size_ahead_) return {};
  const std::uint64_t want = std::max({end, size_ahead_ * 2, kMinSizeAhead});
  if (::ftruncate(fallback_fd_, static_cast<off_t>(want)) != 0)
    return errno_error(fmt::format("sizing {} to {} bytes", name_, want), errno);
  size_ahead_ = want;
  return {};
}

Expected<void> DirectWriter::write_sync(std::vector<iovec>& iov, std::uint64_t off) {
  std::uint64_t done = 0;
  if (direct_fd_.valid() && aligned(off) && iov_aligned(iov)) {
    const int err = pwrite_all(direct_fd_.get(), iov, off, done);
    direct_bytes_ += done;
    if (err == 0) return {};
    if (err != EINVAL)
      return errno_error(fmt::format("write {} at offset {} (O_DIRECT)", name_, off + done), err);
    // The file system takes O_DIRECT at open but not these writes: the rest
    // of the file goes through the page cache.
    direct_fd_.reset();
    advance(iov, done);
    off += done;
  }
  const int err = pwrite_all(fallback_fd_, iov, off, done);
  if (err != 0) return errno_error(fmt::format("write {} at offset {}", name_, off + done), err);
  return {};
}

Expected<void> DirectWriter::write(std::span<const Bytes> parts, std::uint64_t off, bool async) {
  if (error_) return std::unexpected(*error_);
  std::vector<iovec> iov;
  std::uint64_t len = 0;
  iov.reserve(parts.size());
  for (Bytes p : parts) {
    iov.push_back({const_cast<std::byte*>(p.data()), p.size()});
    len += p.size();
  }
  if (len == 0) return {};
  if (direct_fd_.valid()) TERN_TRY(keep_size_ahead(off + len));
  if (!async || aio_ctx_ == 0 || !direct_fd_.valid()) {
    TERN_TRY(drain());
    return write_sync(iov, off);
  }
  // One request per IOV_MAX entries (the kernel's limit for a vector).
  for (std::size_t i = 0; i < iov.size(); i += IOV_MAX) {
    const std::size_t n = std::min<std::size_t>(IOV_MAX, iov.size() - i);
    std::vector<iovec> part(iov.begin() + static_cast<std::ptrdiff_t>(i),
                            iov.begin() + static_cast<std::ptrdiff_t>(i + n));
    std::uint64_t part_len = 0;
    for (const iovec& v : part) part_len += v.iov_len;
    TERN_TRY(submit(std::move(part), off, part_len));
    off += part_len;
  }
  return {};
}

Expected<void> DirectWriter::submit(std::vector<iovec> iov, std::uint64_t off, std::uint64_t len) {
  while (in_flight_ >= depth_) TERN_TRY(reap(1));
  const auto it =
      std::find_if(slots_.begin(), slots_.begin() + depth_, [](const Slot& s) { return !s.busy; });
  const auto index = static_cast<std::uint64_t>(it - slots_.begin());
  Slot& s = *it;
  s.iov = std::move(iov);
  s.off = off;
  s.len = len;
  iocb cb{};
  cb.aio_data = index;
  cb.aio_lio_opcode = IOCB_CMD_PWRITEV;
  cb.aio_fildes = static_cast<std::uint32_t>(direct_fd_.get());
  cb.aio_buf = reinterpret_cast<std::uintptr_t>(s.iov.data());
  cb.aio_nbytes = s.iov.size();
  cb.aio_offset = static_cast<std::int64_t>(off);
  iocb* list[1] = {&cb};
  for (;;) {
    const long r = ::syscall(SYS_io_submit, static_cast<aio_context_t>(aio_ctx_), 1L, list);
    if (r == 1) break;
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN && in_flight_ > 0) {
      TERN_TRY(reap(1));
      continue;
    }
    // The kernel would not queue it: write it now instead.
    return write_sync(s.iov, off);
  }
  s.busy = true;
  ++in_flight_;
  return {};
}

Expected<void> DirectWriter::reap(unsigned at_least) {
  std::array<io_event, kMaxDepth> ev{};
  long n;
  do {
    n = ::syscall(SYS_io_getevents, static_cast<aio_context_t>(aio_ctx_), long{at_least},
                  long{in_flight_}, ev.data(), nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno_error(fmt::format("waiting for writes to {}", name_), errno);
  for (long i = 0; i < n; ++i) {
    Slot& s = slots_[ev[static_cast<std::size_t>(i)].data];
    const std::int64_t res = ev[static_cast<std::size_t>(i)].res;
    s.busy = false;
    --in_flight_;
    if (res >= 0 && static_cast<std::uint64_t>(res) == s.len) {
      direct_bytes_ += s.len;
      continue;
    }
    auto r = res >= 0 ? complete_rest(s, static_cast<std::uint64_t>(res), 0)
                      : complete_rest(s, 0, static_cast<int>(-res));
    if (!r && !error_) error_ = r.error();
  }
  return {};
}

Expected<void> DirectWriter::complete_rest(Slot& s, std::uint64_t done, int err) {
  if (err != 0 && err != EINVAL)
    return errno_error(fmt::format("write {} at offset {} (O_DIRECT)", name_, s.off), err);
  if (err == EINVAL) direct_fd_.reset();  // as in write_sync: buffered from now on
  direct_bytes_ += done;
  advance(s.iov, done);
  return write_sync(s.iov, s.off + done);
}

Expected<void> DirectWriter::drain() {
  while (in_flight_ > 0) TERN_TRY(reap(in_flight_));
  if (error_) return std::unexpected(*error_);
  return {};
}

Expected<void> DirectWriter::finish(std::uint64_t size) {
  TERN_TRY(drain());
  if (size_ahead_ > size && ::ftruncate(fallback_fd_, static_cast<off_t>(size)) != 0)
    return errno_error(fmt::format("sizing {} to {} bytes", name_, size), errno);
  size_ahead_ = size;
  return {};
}

}  // namespace tern::io
