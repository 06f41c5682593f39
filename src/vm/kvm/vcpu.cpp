#include "vm/kvm/vcpu.hpp"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>

namespace tern::vm::kvm {

Expected<std::unique_ptr<Vcpu>> Vcpu::create(int vm_fd, std::uint32_t index, std::size_t run_size) {
  std::unique_ptr<Vcpu> v(new Vcpu);
  v->index_ = index;
  TERN_TRY_ASSIGN(const int fd, kvm_ioctl(vm_fd, KVM_CREATE_VCPU, static_cast<unsigned long>(index),
                                          fmt::format("KVM_CREATE_VCPU {}", index)));
  v->fd_.reset(fd);
  void* p = ::mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return errno_error(fmt::format("mapping the kvm_run area of vCPU {}", index), errno);
  v->run_ = static_cast<kvm_run*>(p);
  v->run_size_ = run_size;
  return v;
}

Vcpu::~Vcpu() {
  if (run_ != nullptr) ::munmap(run_, run_size_);
}

Expected<bool> Vcpu::enter() {
  if (::ioctl(fd(), KVM_RUN, 0) == 0) return true;
  if (errno == EINTR || errno == EAGAIN) return false;
  return errno_error(fmt::format("KVM_RUN on vCPU {}", index_), errno);
}

}  // namespace tern::vm::kvm
