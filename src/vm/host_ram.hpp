// Host memory for a guest's RAM: one anonymous private mapping, 2 MiB
// aligned (so transparent huge pages can back it), made either by the
// backend when a domain is created or ahead of time by a migration
// destination (`tern receive --memory SIZE [--prefault]`), which can then
// fault it in before the stream arrives, as QEMU's -incoming with
// -mem-prealloc does: a fresh page costs the kernel an allocation and a
// zeroing the first time it is touched, and a destination that pays that
// inside its receive loop receives several times slower.
//
// A HostRam is used by at most one domain: the domain takes the mapping
// (take()) and unmaps it when it is destroyed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/error.hpp"

namespace tern::vm {

// Faults [addr, addr + len) in, writable (MADV_POPULATE_WRITE): 0, or the
// errno (EINVAL: the kernel predates Linux 5.14 and does not know it).
[[nodiscard]] int populate_writable(std::byte* addr, std::uint64_t len);

class HostRam {
 public:
  // `bytes` (a non-zero multiple of 4 KiB) of address space, nothing
  // faulted in yet (MAP_NORESERVE: memory is committed as it is touched).
  static Expected<std::unique_ptr<HostRam>> create(std::uint64_t bytes);
  ~HostRam();
  HostRam(const HostRam&) = delete;
  HostRam& operator=(const HostRam&) = delete;

  [[nodiscard]] std::uint64_t bytes() const { return bytes_; }
  [[nodiscard]] std::byte* base() const { return base_; }
  // Bytes faulted in by populate().
  [[nodiscard]] std::uint64_t populated_bytes() const { return populated_; }

  // Faults every page in, writable (MADV_POPULATE_WRITE, 2 MiB at a time).
  // Fails naming the offset when the host cannot back the memory; the
  // kernel must know MADV_POPULATE_WRITE (Linux 5.14).
  Expected<void> populate();

  // Hands the mapping to its user, who unmaps it (munmap(base, bytes));
  // this object then owns nothing. nullptr once taken.
  [[nodiscard]] std::byte* take();

 private:
  HostRam(std::byte* base, std::uint64_t bytes) : base_(base), bytes_(bytes) {}
  std::byte* base_;
  std::uint64_t bytes_;
  std::uint64_t populated_ = 0;
};

}  // namespace tern::vm
