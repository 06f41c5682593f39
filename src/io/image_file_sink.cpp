#include "io/image_file_sink.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace tern::io {

namespace {

// O_DIRECT needs the buffer, the file offset and the length aligned to the
// device's logical block (512 or 4096 bytes): a page satisfies every device.
constexpr std::uint64_t kDirectAlign = 4096;

bool aligned(std::uint64_t v) { return v % kDirectAlign == 0; }

// pwritev of all of iov[0..n) at `off`, finishing partial writes.
// Returns the bytes written before an error (and the errno) so a caller can
// continue another way.
struct WriteResult {
  std::uint64_t done = 0;
  int err = 0;
};

WriteResult pwrite_all(int fd, iovec* iov, std::size_t n, std::uint64_t off) {
  WriteResult r;
  std::size_t first = 0;
  while (first < n) {
    const int cnt = static_cast<int>(std::min<std::size_t>(n - first, IOV_MAX));
    const ssize_t w = ::pwritev(fd, iov + first, cnt, static_cast<off_t>(off + r.done));
    if (w < 0) {
      if (errno == EINTR) continue;
      r.err = errno;
      return r;
    }
    if (w == 0) {
      r.err = EIO;  // no progress: report instead of spinning
      return r;
    }
    r.done += static_cast<std::uint64_t>(w);
    auto left = static_cast<std::size_t>(w);
    while (left > 0 && first < n) {
      if (left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        ++first;
      } else {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
        left = 0;
      }
    }
  }
  return r;
}

}  // namespace

ImageFileSink::ImageFileSink(UniqueFd fd, UniqueFd direct, std::string path, std::string tmp,
                             std::size_t buffer)
    : fd_(std::move(fd)),
      direct_fd_(std::move(direct)),
      path_(std::move(path)),
      tmp_(std::move(tmp)),
      buffer_cap_(buffer) {
  buffer_.reserve(buffer_cap_);
}

Expected<std::unique_ptr<ImageFileSink>> ImageFileSink::create(const std::string& path,
                                                               const Options& opts) {
  std::string tmpl = path + ".partial-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  UniqueFd fd(::mkostemp(buf.data(), O_CLOEXEC));
  if (!fd) return errno_error("create " + tmpl, errno);
  ::fchmod(fd.get(), 0644);
  std::string tmp(buf.data());
  UniqueFd direct;
  // A file system without O_DIRECT (older tmpfs, some FUSE) refuses the open
  // with EINVAL: everything then goes through the page cache.
  if (opts.direct) direct.reset(::open(tmp.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
  return std::unique_ptr<ImageFileSink>(
      new ImageFileSink(std::move(fd), std::move(direct), path, std::move(tmp),
                        std::max<std::size_t>(opts.buffer, 4096)));
}

ImageFileSink::~ImageFileSink() {
  if (!committed_) ::unlink(tmp_.c_str());
}

bool ImageFileSink::direct_eligible(Bytes part) const {
  return direct_fd_.valid() && !part.empty() && aligned(pos_) && aligned(part.size()) &&
         aligned(reinterpret_cast<std::uintptr_t>(part.data()));
}

Expected<void> ImageFileSink::flush_buffer() {
  if (buffer_.empty()) return {};
  iovec iov{buffer_.data(), buffer_.size()};
  const std::uint64_t off = pos_ - buffer_.size();
  const WriteResult r = pwrite_all(fd_.get(), &iov, 1, off);
  if (r.err != 0) return errno_error(fmt::format("write {} at offset {}", tmp_, off), r.err);
  buffer_.clear();
  return {};
}

Expected<void> ImageFileSink::write_direct(std::span<const Bytes> parts, std::uint64_t off) {
  std::vector<iovec> iov;
  iov.reserve(parts.size());
  for (Bytes p : parts) iov.push_back({const_cast<std::byte*>(p.data()), p.size()});
  WriteResult r{};
  if (direct_fd_.valid()) {
    r = pwrite_all(direct_fd_.get(), iov.data(), iov.size(), off);
    direct_bytes_ += r.done;
    if (r.err == 0) return {};
    if (r.err != EINVAL)
      return errno_error(fmt::format("write {} at offset {} (O_DIRECT)", tmp_, off + r.done),
                         r.err);
    // This file system takes O_DIRECT at open but not these writes: the
    // rest of the image goes through the page cache.
    direct_fd_.reset();
  }
  // pwrite_all advanced `iov` past what was written.
  std::size_t first = 0;
  while (first < iov.size() && iov[first].iov_len == 0) ++first;
  const WriteResult b = pwrite_all(fd_.get(), iov.data() + first, iov.size() - first, off + r.done);
  if (b.err != 0)
    return errno_error(fmt::format("write {} at offset {}", tmp_, off + r.done + b.done), b.err);
  return {};
}

Expected<void> ImageFileSink::write_gather(std::span<const Bytes> parts) {
  std::size_t i = 0;
  while (i < parts.size()) {
    if (direct_eligible(parts[i])) {
      // The parts that follow are aligned too while each is a block multiple.
      std::size_t j = i;
      std::uint64_t len = 0;
      while (j < parts.size() && !parts[j].empty() && aligned(parts[j].size()) &&
             aligned(reinterpret_cast<std::uintptr_t>(parts[j].data()))) {
        len += parts[j].size();
        ++j;
      }
      TERN_TRY(flush_buffer());  // ends at pos_, block-aligned
      TERN_TRY(write_direct(parts.subspan(i, j - i), pos_));
      pos_ += len;
      i = j;
      continue;
    }
    const Bytes p = parts[i++];
    buffer_.insert(buffer_.end(), p.begin(), p.end());
    pos_ += p.size();
    if (buffer_.size() >= buffer_cap_) TERN_TRY(flush_buffer());
  }
  return {};
}

Expected<void> ImageFileSink::commit() {
  if (committed_) return {};
  TERN_TRY(flush_buffer());
  // One fsync covers both descriptors' writes: it flushes the inode's dirty
  // pages and metadata and the device's write cache (where O_DIRECT data may
  // still sit).
  if (::fsync(fd_.get()) != 0) return errno_error("fsync " + tmp_, errno);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return errno_error("rename to " + path_, errno);
  committed_ = true;
  return {};
}

}  // namespace tern::io
