// The parts of the KVM ioctl ABI that <linux/kvm.h> gets wrong in C++.
//
// Structures ending in a flexible array (kvm_msrs, kvm_msr_list, kvm_cpuid2,
// kvm_xsave, kvm_signal_mask) declare it with __DECLARE_FLEX_ARRAY, whose
// empty placeholder struct has size 1 in C++ (0 in C). In C++ that moves
// the array (kvm_msrs::entries sits at 16 instead of 8) and changes the
// size encoded in the ioctl numbers, so the kernel answers EINVAL. This file
// defines those ioctls with the C sizes and lays the buffers out by hand;
// nothing else in src/vm/kvm/ may use the affected macros or members.
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace tern::vm::kvm {

// Sizes of the fixed headers as the kernel (C) sees them.
inline constexpr std::size_t kMsrListHeader = 4;   // u32 nmsrs
inline constexpr std::size_t kMsrsHeader = 8;      // u32 nmsrs, u32 pad
inline constexpr std::size_t kCpuid2Header = 8;    // u32 nent, u32 padding
inline constexpr std::size_t kXsaveLegacy = 4096;  // u32 region[1024]

inline constexpr unsigned long kIocGetMsrIndexList =
    _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x02, kMsrListHeader);
inline constexpr unsigned long kIocGetSupportedCpuid =
    _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, kCpuid2Header);
inline constexpr unsigned long kIocGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, kMsrsHeader);
inline constexpr unsigned long kIocSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, kMsrsHeader);
inline constexpr unsigned long kIocSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, kCpuid2Header);
inline constexpr unsigned long kIocGetCpuid2 =
    _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x91, kCpuid2Header);
inline constexpr unsigned long kIocGetXsave = _IOC(_IOC_READ, KVMIO, 0xa4, kXsaveLegacy);
inline constexpr unsigned long kIocSetXsave = _IOC(_IOC_WRITE, KVMIO, 0xa5, kXsaveLegacy);
inline constexpr unsigned long kIocGetXsave2 = _IOC(_IOC_READ, KVMIO, 0xcf, kXsaveLegacy);

static_assert(sizeof(kvm_msr_entry) == 16);
static_assert(sizeof(kvm_cpuid_entry2) == 40);

// A kernel buffer "header + count entries", 8-byte aligned.
template <typename Entry>
class FlexBuffer {
 public:
  FlexBuffer(std::size_t header, std::size_t capacity)
      : header_(header), words_((header + capacity * sizeof(Entry) + 7) / 8, 0) {}
  [[nodiscard]] void* data() { return words_.data(); }
  [[nodiscard]] std::uint32_t count() const {
    std::uint32_t n;
    std::memcpy(&n, words_.data(), sizeof n);
    return n;
  }
  void set_count(std::uint32_t n) { std::memcpy(words_.data(), &n, sizeof n); }
  [[nodiscard]] Entry* entries() {
    return reinterpret_cast<Entry*>(reinterpret_cast<std::byte*>(words_.data()) + header_);
  }
  [[nodiscard]] std::size_t capacity() const {
    return (words_.size() * 8 - header_) / sizeof(Entry);
  }

 private:
  std::size_t header_;
  std::vector<std::uint64_t> words_;
};

// KVM_GET_MSR_INDEX_LIST: the header is 4 bytes, so u32 indices follow at 4.
using MsrIndexBuffer = FlexBuffer<std::uint32_t>;
using MsrBuffer = FlexBuffer<kvm_msr_entry>;
using CpuidBuffer = FlexBuffer<kvm_cpuid_entry2>;

}  // namespace tern::vm::kvm
