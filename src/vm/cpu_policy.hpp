// The CPU a guest sees, as CPUID leaves, and the check a restore makes
// before touching anything: every feature bit the image's CPU had must be
// present on this host, or the restored guest could execute an instruction
// this CPU does not have. Backend-neutral: both backends run guest code on
// the host CPU, so the host's CPUID is the ceiling for either.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "stream/domctx/records_kvm.hpp"

namespace tern::vm {

using stream::domctx::CpuidEntry;

// KVM_CPUID_FLAG_SIGNIFCANT_INDEX: `index` (the subleaf) is meaningful.
inline constexpr std::uint32_t kCpuidFlagSubleaf = 1;

// The host's feature leaves (0, 1, 7.0, 0xd.1, 0x80000000, 0x80000001,
// 0x80000007, 0x80000008 where the CPU has them), read with the CPUID
// instruction. Leaves carrying per-CPU values (APIC ids) are included as
// read; check_cpu_policy() compares only feature registers.
[[nodiscard]] std::vector<CpuidEntry> host_cpu_policy();

// Fails (Errc::unsupported) when `wanted` has a feature bit the host lacks,
// naming each missing feature ("avx512f (CPUID 0x7.0 EBX bit 16)"). Leaves
// the host does not have at all are missing features too if any of their
// feature bits is set. Bits that describe the OS or the hypervisor rather
// than the CPU (OSXSAVE, OSPKE, "hypervisor present") are not compared.
Expected<void> check_cpu_policy(std::span<const CpuidEntry> wanted,
                                std::span<const CpuidEntry> host);
inline Expected<void> check_cpu_policy(std::span<const CpuidEntry> wanted) {
  return check_cpu_policy(wanted, host_cpu_policy());
}

}  // namespace tern::vm
