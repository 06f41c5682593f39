#include "vm/domain.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "vm/backends.hpp"
#include "vm/kvm/guest_memory.hpp"

namespace tern::vm {

std::string_view backend_name(Backend b) { return b == Backend::kvm ? "kvm" : "sim"; }

std::string_view run_state_name(RunState s) {
  switch (s) {
    case RunState::created:
      return "created";
    case RunState::running:
      return "running";
    case RunState::paused:
      return "paused";
    case RunState::exited:
      return "exited";
    case RunState::failed:
      return "failed";
  }
  return "unknown";
}

std::uint64_t frame_limit(Backend b, const DomainConfig& config) {
  const std::uint64_t space = std::max(config.memory_bytes, config.address_space_bytes);
  if (b == Backend::kvm && space > kvm::kLowRamLimit)
    return (kvm::kHighRamBase + (space - kvm::kLowRamLimit)) >> kPageShift;
  return space >> kPageShift;
}

Backend default_backend() {
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return Backend::sim;
  ::close(fd);
  return Backend::kvm;
}

Expected<std::unique_ptr<Domain>> create_domain(Backend backend, const DomainConfig& config) {
  if (config.vcpus == 0 || config.vcpus > 256)
    return make_error(Errc::usage, "vcpus must be 1..256 (got {})", config.vcpus);
  if (config.memory_bytes == 0 || config.memory_bytes % kPageSize != 0)
    return make_error(Errc::usage, "memory size must be a non-zero multiple of 4 KiB (got {})",
                      config.memory_bytes);
  if (config.address_space_bytes != 0 && (config.address_space_bytes < config.memory_bytes ||
                                          config.address_space_bytes % kPageSize != 0 ||
                                          config.address_space_bytes / kPageSize > kMaxPfn + 1))
    return make_error(Errc::usage,
                      "address space must be a multiple of 4 KiB between the memory size ({}) and "
                      "2^52 bytes (got {})",
                      config.memory_bytes, config.address_space_bytes);
  return backend == Backend::kvm ? create_kvm_domain(config) : create_sim_domain(config);
}

}  // namespace tern::vm

namespace tern::vm {

Expected<void> Domain::map_file(std::uint64_t first_pfn, std::uint64_t count, int, std::uint64_t) {
  return make_error(Errc::unsupported,
                    "the {} backend cannot back frames {:#x}+{:#x} by a file mapping",
                    backend_name(backend()), first_pfn, count);
}

}  // namespace tern::vm
