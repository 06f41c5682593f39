#include "io/input.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tern::io {

FdSource::FdSource(int fd, std::size_t buffer) : fd_(fd), buf_(buffer) {}

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
    ssize_t r = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
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
  struct stat st{};
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
  struct stat st{};
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
