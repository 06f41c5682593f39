// MSR save and restore with per-MSR failure handling. KVM_GET_MSRS and
// KVM_SET_MSRS process entries in order and stop at the first one KVM
// refuses, returning how many they handled; the refused one is skipped (and
// reported) and the rest continue, so one MSR a host cannot take does not
// lose all the others.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "vm/kvm/vcpu.hpp"

namespace tern::vm::kvm {

inline constexpr std::uint32_t kMsrIa32Tsc = 0x10;
inline constexpr std::uint32_t kMsrTscDeadline = 0x6e0;

struct MsrResult {
  std::vector<kvm_msr_entry> entries;  // read (get) or written (set)
  std::vector<std::uint32_t> skipped;  // refused by KVM
};

Expected<MsrResult> get_msrs(const Vcpu& vcpu, std::span<const std::uint32_t> indices);
Expected<MsrResult> set_msrs(const Vcpu& vcpu, std::span<const kvm_msr_entry> entries);

}  // namespace tern::vm::kvm
