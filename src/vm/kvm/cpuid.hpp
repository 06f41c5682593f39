// The CPUID table each vCPU gets: KVM's supported leaves with the per-vCPU
// topology fields filled in, plus the hypervisor timing leaf 0x40000010
// (TSC and local-APIC-timer kHz, the VMware/KVM convention) so a guest can
// time itself without calibrating against the PIT. And the restore-side
// check that a saved table asks for nothing this host lacks.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "stream/domctx/records_kvm.hpp"
#include "vm/kvm/vcpu.hpp"

namespace tern::vm::kvm {

[[nodiscard]] std::vector<kvm_cpuid_entry2> guest_cpuid(
    const std::vector<kvm_cpuid_entry2>& supported, std::uint32_t vcpu_index,
    std::uint32_t tsc_khz);

Expected<void> set_cpuid(const Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& entries);

[[nodiscard]] stream::domctx::CpuidList to_record(const std::vector<kvm_cpuid_entry2>& entries);
[[nodiscard]] std::vector<kvm_cpuid_entry2> from_record(const stream::domctx::CpuidList& list);

// Fails (Errc::unsupported) naming the first feature bit `wanted` sets that
// `supported` does not ("CPUID 0x7.0 EBX bit 16 (avx512f)"). Only feature
// registers are compared: topology, cache and hypervisor leaves describe
// the machine, not instructions the guest may execute.
Expected<void> check_cpuid_features(const std::vector<kvm_cpuid_entry2>& wanted,
                                    const std::vector<kvm_cpuid_entry2>& supported);

}  // namespace tern::vm::kvm
