// A vCPU's architectural state as domain-context records: read while every
// vCPU is paused, written in the order KVM's dependencies need:
//   CPUID, TSC frequency, SREGS, REGS, XCRS, XSAVE, MSRs (with IA32_TSC,
//   without TSC_DEADLINE), VCPU_EVENTS, MP_STATE, LAPIC, DEBUGREGS,
//   and last the TSC_DEADLINE MSR.
// CPUID first: KVM sizes the XSAVE area, the MSRs it accepts and the APIC
// model from it. The TSC frequency before the TSC MSR, which is counted in
// it. SREGS (EFER, CR4, APIC base) before the MSRs and the LAPIC, which the
// APIC base enables. REGS before VCPU_EVENTS so an injected event lands on
// the restored RIP. TSC_DEADLINE after both the TSC and the LAPIC: it is
// armed relative to the TSC and only takes effect in TSC-deadline mode.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "stream/domctx/state_image.hpp"
#include "vm/kvm/vcpu.hpp"

namespace tern::vm::kvm {

// What this host's KVM offers for state transfer.
struct StateCaps {
  bool sregs2 = false;
  bool xsave2 = false;
  std::size_t xsave_size = kXsaveLegacy;  // KVM_CAP_XSAVE2's answer, at least 4096
  bool tsc_scaling = false;               // KVM_CAP_TSC_CONTROL
};

Expected<stream::domctx::VcpuState> save_vcpu_state(const Vcpu& vcpu, const StateCaps& caps,
                                                    const std::vector<std::uint32_t>& msr_indices,
                                                    const std::vector<kvm_cpuid_entry2>& cpuid);

// Applies every part `s` has; MSRs KVM refuses are skipped and returned.
// `current_cpuid` is what the vCPU was given; once it has run, KVM accepts
// no other table, so an equal one is not set again and a different one is
// refused.
Expected<std::vector<std::uint32_t>> load_vcpu_state(
    const Vcpu& vcpu, const StateCaps& caps, const stream::domctx::VcpuState& s,
    const std::vector<kvm_cpuid_entry2>& current_cpuid, bool has_run);

}  // namespace tern::vm::kvm
