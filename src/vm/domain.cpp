#include "vm/domain.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "vm/backends.hpp"

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
  return backend == Backend::kvm ? create_kvm_domain(config) : create_sim_domain(config);
}

}  // namespace tern::vm
