// One KVM vCPU: its fd and the shared kvm_run page through which KVM_RUN
// reports exits. Owned by the domain; driven by one runner thread.
#pragma once

#include <cstdint>
#include <memory>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "vm/kvm/kvm_system.hpp"

namespace tern::vm::kvm {

class Vcpu {
 public:
  static Expected<std::unique_ptr<Vcpu>> create(int vm_fd, std::uint32_t index,
                                                std::size_t run_size);
  ~Vcpu();
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] std::uint32_t index() const { return index_; }
  [[nodiscard]] kvm_run* run() const { return run_; }

  // One KVM_RUN. true: the vCPU exited for run()->exit_reason; false: it
  // was interrupted (a signal or immediate_exit) before or while running.
  Expected<bool> enter();

  // ioctl naming this vCPU in errors.
  template <typename T>
  Expected<int> io(unsigned long request, T* arg, std::string_view what) const {
    auto r = kvm_ioctl(fd(), request, static_cast<void*>(arg), what);
    if (!r) return std::unexpected(r.error().context(fmt::format("vCPU {}", index_)));
    return r;
  }

 private:
  Vcpu() = default;
  UniqueFd fd_;
  std::uint32_t index_ = 0;
  kvm_run* run_ = nullptr;
  std::size_t run_size_ = 0;
};

}  // namespace tern::vm::kvm
