#include "vm/host_ram.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "core/bytes.hpp"
#include "vm/memory_map.hpp"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

namespace tern::vm {

namespace {
constexpr std::uint64_t kHugeAlign = 2 << 20;  // a transparent huge page
}

int populate_writable(std::byte* addr, std::uint64_t len) {
  return ::madvise(addr, len, MADV_POPULATE_WRITE) == 0 ? 0 : errno;
}

Expected<std::unique_ptr<HostRam>> HostRam::create(std::uint64_t bytes) {
  if (bytes == 0 || bytes % kPageSize != 0)
    return make_error(Errc::usage, "guest RAM of {} bytes is not a non-zero multiple of 4 KiB",
                      bytes);
  // Over-map by one huge page and trim both ends to get the alignment.
  void* p = ::mmap(nullptr, bytes + kHugeAlign, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return errno_error(fmt::format("mapping {} bytes of guest RAM", bytes), errno);
  auto* raw = static_cast<std::byte*>(p);
  auto* base =
      reinterpret_cast<std::byte*>(align_up(reinterpret_cast<std::uintptr_t>(raw), kHugeAlign));
  if (base > raw) ::munmap(raw, static_cast<std::size_t>(base - raw));
  if (const std::size_t tail = kHugeAlign - static_cast<std::size_t>(base - raw); tail > 0)
    ::munmap(base + bytes, tail);
  return std::unique_ptr<HostRam>(new HostRam(base, bytes));
}

HostRam::~HostRam() {
  if (base_ != nullptr) ::munmap(base_, bytes_);
}

Expected<void> HostRam::populate() {
  if (base_ == nullptr) return make_error(Errc::usage, "guest RAM: populate() after take()");
  for (std::uint64_t off = populated_; off < bytes_; off += kHugeAlign) {
    const std::uint64_t n = std::min(kHugeAlign, bytes_ - off);
    if (const int e = populate_writable(base_ + off, n); e != 0) {
      if (e == EINVAL)
        return make_error(Errc::unsupported,
                          "pre-faulting guest RAM needs MADV_POPULATE_WRITE (Linux 5.14 or later)");
      return errno_error(
          fmt::format("pre-faulting guest RAM at offset {:#x} of {:#x} bytes", off, bytes_), e);
    }
    populated_ = off + n;
  }
  return {};
}

std::byte* HostRam::take() { return std::exchange(base_, nullptr); }

}  // namespace tern::vm
