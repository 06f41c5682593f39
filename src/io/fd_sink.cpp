#include "io/fd_sink.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace tern::io {

Expected<void> FdSink::write_gather(std::span<const Bytes> parts) {
  constexpr std::size_t kMaxIov = IOV_MAX;
  iovec iov[kMaxIov];
  std::size_t next = 0;    // next part not yet in iov
  std::size_t n_iov = 0;   // iov entries pending
  std::size_t first = 0;   // first pending iov entry
  for (;;) {
    // Refill the iov array from parts (skipping empty ones).
    if (first == n_iov) {
      first = n_iov = 0;
      while (next < parts.size() && n_iov < kMaxIov) {
        Bytes p = parts[next++];
        if (p.empty()) continue;
        iov[n_iov++] = {const_cast<std::byte*>(p.data()), p.size()};
      }
      if (n_iov == 0) return {};
    }
    ssize_t w = ::writev(fd_, iov + first, static_cast<int>(n_iov - first));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno_error("write", errno);
    }
    written_ += static_cast<std::uint64_t>(w);
    auto left = static_cast<std::size_t>(w);
    while (left > 0 && first < n_iov) {
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
}

AtomicFileSink::AtomicFileSink(UniqueFd fd, std::string path, std::string tmp)
    : FdSink(fd.get()), owned_(std::move(fd)), path_(std::move(path)), tmp_(std::move(tmp)) {}

Expected<std::unique_ptr<AtomicFileSink>> AtomicFileSink::create(const std::string& path) {
  std::string tmpl = path + ".partial-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) return errno_error("create " + tmpl, errno);
  ::fchmod(fd, 0644);
  return std::unique_ptr<AtomicFileSink>(
      new AtomicFileSink(UniqueFd(fd), path, std::string(buf.data())));
}

AtomicFileSink::~AtomicFileSink() {
  if (!committed_) ::unlink(tmp_.c_str());
}

Expected<void> AtomicFileSink::commit() {
  if (committed_) return {};
  if (::fsync(owned_.get()) != 0 && errno != EINVAL) return errno_error("fsync " + tmp_, errno);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return errno_error("rename to " + path_, errno);
  committed_ = true;
  return {};
}

Expected<OutputFile> OutputFile::open(const std::string& path) {
  OutputFile out;
  if (path == "-") {
    out.stdout_ = std::make_unique<FdSink>(STDOUT_FILENO);
  } else {
    TERN_TRY_ASSIGN(out.atomic_, AtomicFileSink::create(path));
  }
  return out;
}

}  // namespace tern::io
