#include "io/input.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

namespace tern::io {

FdSource::FdSource(int fd, std::size_t buffer) : fd_(fd), buf_(buffer) {}

long FdSource::read_some(iovec* iov, int count) {
  if (busy_poll_.count() > 0) {
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = static_cast<std::size_t>(count);
    std::optional<std::chrono::steady_clock::time_point> until;  // set at the first miss
    for (;;) {
      const long r = ::recvmsg(fd_, &m, MSG_DONTWAIT);
      if (r >= 0) return r;
      if (errno == ENOTSOCK) {
        busy_poll_ = {};  // a pipe or file: plain blocking reads from now on
        break;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) return r;
      const auto now = std::chrono::steady_clock::now();
      if (!until) until = now + busy_poll_;
      if (now >= *until) break;
      ::sched_yield();
    }
  }
  return ::readv(fd_, iov, count);
}

Expected<void> FdSource::fill(std::size_t want) {
  if (end_ - begin_ >= want || eof_) return {};
  if (buf_.size() - begin_ < want) {
    // Compact, and grow if one request is larger than the buffer.
    std::size_t have = end_ - begin_;
    if (buf_.size() < want) {
      std::vector<std::byte> bigger(want);
      std::memcpy(bigger.data(), buf_.data() + begin_, have);
      buf_.swap(bigger);
    } else {
      std::memmove(buf_.data(), buf_.data() + begin_, have);
    }
    begin_ = 0;
    end_ = have;
  }
  while (end_ - begin_ < want) {
    const std::size_t room = buf_.size() - end_;
    const std::size_t ahead = std::max(want - (end_ - begin_), read_ahead_);
    iovec one{buf_.data() + end_, std::min(room, ahead)};
    const long r = read_some(&one, 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_error("read", errno);
    }
    if (r == 0) {
      eof_ = true;
      break;
    }
    end_ += static_cast<std::size_t>(r);
  }
  return {};
}

Expected<Bytes> FdSource::read(std::size_t n) {
  TERN_TRY(fill(n));
  std::size_t take = std::min(n, end_ - begin_);
  Bytes out(buf_.data() + begin_, take);
  begin_ += take;
  offset_ += take;
  return out;
}

Expected<std::uint64_t> FdSource::read_into(std::span<const MutableBytes> parts) {
  std::uint64_t done = 0;
  std::size_t i = 0;
  std::size_t in_part = 0;  // bytes of parts[i] already filled
  // What the buffer holds goes first.
  while (i < parts.size() && begin_ < end_) {
    const std::size_t take = std::min(parts[i].size() - in_part, end_ - begin_);
    std::memcpy(parts[i].data() + in_part, buf_.data() + begin_, take);
    begin_ += take;
    in_part += take;
    done += take;
    if (in_part == parts[i].size()) {
      ++i;
      in_part = 0;
    }
  }
  // The rest straight from the fd, as many parts per readv as IOV_MAX allows.
  constexpr std::size_t kMaxIov = 1024;
  std::array<iovec, kMaxIov> iov{};
  while (i < parts.size() && !eof_) {
    if (parts[i].size() == in_part) {
      ++i;
      in_part = 0;
      continue;
    }
    std::size_t n = 0;
    for (std::size_t j = i; j < parts.size() && n < kMaxIov; ++j) {
      const std::size_t skip = j == i ? in_part : 0;
      if (parts[j].size() == skip) continue;
      iov[n++] = iovec{parts[j].data() + skip, parts[j].size() - skip};
    }
    const long r = read_some(iov.data(), static_cast<int>(n));
    if (r < 0) {
      if (errno == EINTR) continue;
      offset_ += done;
      return errno_error("read", errno);
    }
    if (r == 0) {
      eof_ = true;
      break;
    }
    auto got = static_cast<std::uint64_t>(r);
    done += got;
    while (got > 0) {  // advance (i, in_part) over what arrived
      const std::size_t take = std::min<std::uint64_t>(got, parts[i].size() - in_part);
      in_part += take;
      got -= take;
      if (in_part == parts[i].size()) {
        ++i;
        in_part = 0;
      }
    }
  }
  offset_ += done;
  return done;
}

Expected<std::uint64_t> FdSource::skip(std::uint64_t n) {
  std::uint64_t done = 0;
  while (done < n) {
    if (begin_ == end_) {
      if (eof_) break;
      begin_ = end_ = 0;
      TERN_TRY(fill(1));
      if (begin_ == end_) break;
    }
    std::uint64_t take = std::min<std::uint64_t>(n - done, end_ - begin_);
    begin_ += take;
    done += take;
  }
  offset_ += done;
  return done;
}

Expected<MappedFile> MappedFile::map_fd(int fd, const std::string& name) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("stat " + name, errno);
  auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) return MappedFile(nullptr, 0);
  void* a = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (a == MAP_FAILED) return errno_error("mmap " + name, errno);
  ::madvise(a, size, MADV_SEQUENTIAL);
  return MappedFile(a, size);
}

Expected<MappedFile> MappedFile::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("open " + path, errno);
  return map_fd(fd.get(), path);
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}

MappedFile::~MappedFile() {
  if (addr_ != nullptr) ::munmap(addr_, size_);
}

Expected<InputFile> InputFile::open(const std::string& path) {
  InputFile in;
  in.name_ = path == "-" ? "<stdin>" : path;
  int fd = STDIN_FILENO;
  if (path != "-") {
    in.fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.fd_) return errno_error("open " + path, errno);
    fd = in.fd_.get();
  }
  in.raw_fd_ = fd;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("stat " + in.name_, errno);
  if (S_ISREG(st.st_mode)) {
    TERN_TRY_ASSIGN(auto m, MappedFile::map_fd(fd, in.name_));
    in.map_ = std::make_unique<MappedFile>(std::move(m));
    in.source_ = std::make_unique<MemorySource>(in.map_->bytes());
  } else {
    in.source_ = std::make_unique<FdSource>(fd);
  }
  return in;
}

}  // namespace tern::io
