#include "io/image_file_sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace tern::io {

namespace {

bool aligned(std::uint64_t v) { return v % kDirectAlign == 0; }
bool aligned_part(Bytes p) {
  return !p.empty() && aligned(p.size()) && aligned(reinterpret_cast<std::uintptr_t>(p.data()));
}

}  // namespace

ImageFileSink::ImageFileSink(UniqueFd fd, std::string path, std::string tmp, const Options& opts)
    : fd_(std::move(fd)),
      pipeline_(opts.pipeline),
      path_(std::move(path)),
      tmp_(std::move(tmp)),
      buffer_cap_(std::max<std::size_t>(opts.buffer, kDirectAlign)) {
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
  std::unique_ptr<ImageFileSink> sink(new ImageFileSink(std::move(fd), path, buf.data(), opts));
  if (opts.direct) {
    // A file system without O_DIRECT (older tmpfs, some FUSE) refuses the
    // open with EINVAL: everything then goes through the page cache.
    UniqueFd direct(::open(sink->tmp_.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
    if (direct)
      sink->direct_ = std::make_unique<DirectWriter>(std::move(direct), sink->fd_.get(), opts.depth,
                                                     sink->tmp_);
  }
  return sink;
}

ImageFileSink::~ImageFileSink() {
  direct_.reset();  // waits for writes in flight
  if (!committed_) ::unlink(tmp_.c_str());
}

bool ImageFileSink::direct_eligible(Bytes part) const {
  return direct_ && direct_->direct() && aligned(pos_) && aligned_part(part);
}

Expected<void> ImageFileSink::flush_buffer() {
  const std::uint64_t off = pos_ - buffer_.size();
  std::size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t w = ::pwrite(fd_.get(), buffer_.data() + done, buffer_.size() - done,
                               static_cast<off_t>(off + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      return errno_error(fmt::format("write {} at offset {}", tmp_, off + done),
                         w < 0 ? errno : EIO);
    done += static_cast<std::size_t>(w);
  }
  buffer_.clear();
  return {};
}

Expected<void> ImageFileSink::write_gather(std::span<const Bytes> parts) {
  std::size_t i = 0;
  while (i < parts.size()) {
    if (direct_eligible(parts[i])) {
      // The parts that follow stay aligned while each is a block multiple.
      std::size_t j = i;
      std::uint64_t len = 0;
      while (j < parts.size() && aligned_part(parts[j])) len += parts[j++].size();
      TERN_TRY(flush_buffer());  // it ends at pos_, block-aligned
      TERN_TRY(direct_->write(parts.subspan(i, j - i), pos_, pipeline_));
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

Expected<void> ImageFileSink::drain() { return direct_ ? direct_->drain() : Expected<void>{}; }

Expected<void> ImageFileSink::commit() {
  if (committed_) return {};
  TERN_TRY(flush_buffer());
  if (direct_) TERN_TRY(direct_->finish(pos_));
  // One fsync covers both descriptors' writes: it flushes the inode's dirty
  // pages and metadata and the device's write cache (where O_DIRECT data may
  // still sit).
  if (::fsync(fd_.get()) != 0) return errno_error("fsync " + tmp_, errno);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return errno_error("rename to " + path_, errno);
  committed_ = true;
  return {};
}

}  // namespace tern::io
