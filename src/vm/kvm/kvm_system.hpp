// The host's KVM: /dev/kvm, its capabilities, and what it lets a guest see
// (supported CPUID, saveable MSRs). One per domain; read-only after open().
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "stream/domctx/records_kvm.hpp"
#include "vm/kvm/kvm_abi.hpp"

namespace tern::vm::kvm {

// ioctl() that names the request in its error ("KVM_SET_SREGS2 on vCPU 1:
// Invalid argument"). Returns the ioctl's non-negative result.
Expected<int> kvm_ioctl(int fd, unsigned long request, void* arg, std::string_view what);
inline Expected<int> kvm_ioctl(int fd, unsigned long request, unsigned long arg,
                               std::string_view what) {
  return kvm_ioctl(fd, request, reinterpret_cast<void*>(arg), what);
}

class KvmSystem {
 public:
  // Opens /dev/kvm (or $TERN_KVM_DEVICE), checks the capabilities tern
  // needs and, with `tables`, reads the tables below. Reading them costs a
  // few hundred microseconds (the kernel executes CPUID for every leaf), so
  // a domain creates its VM first and reads them with read_tables() later.
  static Expected<KvmSystem> open(bool tables = true);
  Expected<void> read_tables();

  [[nodiscard]] int fd() const { return fd_.get(); }
  // KVM_CHECK_EXTENSION on /dev/kvm (0 when absent).
  [[nodiscard]] int extension(int cap) const;
  [[nodiscard]] std::size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }
  // KVM_GET_SUPPORTED_CPUID: every leaf KVM can present to a guest.
  [[nodiscard]] const std::vector<kvm_cpuid_entry2>& supported_cpuid() const { return cpuid_; }
  // KVM_GET_MSR_INDEX_LIST: the MSRs a VMM saves and restores.
  [[nodiscard]] const std::vector<std::uint32_t>& msr_indices() const { return msrs_; }

 private:
  UniqueFd fd_;
  std::size_t vcpu_mmap_size_ = 0;
  std::vector<kvm_cpuid_entry2> cpuid_;
  std::vector<std::uint32_t> msrs_;
};

// Leaf `function`.`index` in a KVM CPUID table (nullptr when absent); the
// index only matters for leaves flagged KVM_CPUID_FLAG_SIGNIFCANT_INDEX.
const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& table,
                                   std::uint32_t function, std::uint32_t index = 0);

}  // namespace tern::vm::kvm
