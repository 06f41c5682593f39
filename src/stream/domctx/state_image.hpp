// A typed in-memory copy of everything the standard records describe: one
// VcpuState per vCPU and one VmState. register_state_image() binds a
// registry's save/load handlers to it, so a backend (or the simulator, or a
// tool) fills the image from its own state, saves it, and a load fills it
// back. Absent (nullopt) parts are not saved.
#pragma once

#include <optional>
#include <vector>

#include "stream/domctx/domain.hpp"
#include "stream/domctx/records_kvm.hpp"
#include "stream/domctx/records_xen.hpp"
#include "stream/domctx/registry.hpp"

namespace tern::stream::domctx {

struct VcpuState {
  std::optional<kvm_regs> regs;
  std::optional<kvm_sregs> sregs;
  std::optional<kvm_sregs2> sregs2;
  std::optional<XsaveArea> xsave;
  std::optional<kvm_xcrs> xcrs;
  std::optional<kvm_debugregs> debugregs;
  std::optional<kvm_lapic_state> lapic;
  std::optional<kvm_vcpu_events> events;
  std::optional<kvm_mp_state> mp_state;
  std::optional<MsrList> msrs;
  std::optional<CpuidList> cpuid;
  std::optional<TscKhz> tsc_khz;
};

struct VmState {
  std::optional<kvm_pic_state> pic_master;
  std::optional<kvm_pic_state> pic_slave;
  std::optional<kvm_ioapic_state> ioapic;
  std::optional<kvm_pit_state2> pit;
  std::optional<kvm_clock_data> clock;
  std::optional<SharedInfo> shared_info;
  std::optional<TscInfo> tsc_info;
};

struct StateImage {
  std::vector<VcpuState> vcpus;
  VmState vm;
  [[nodiscard]] DomainShape shape() const { return {static_cast<std::uint32_t>(vcpus.size())}; }
};

// Fixed KVM structures compare byte-wise, the others by value.
[[nodiscard]] bool operator==(const VcpuState& a, const VcpuState& b);
[[nodiscard]] bool operator==(const VmState& a, const VmState& b);
[[nodiscard]] bool operator==(const StateImage& a, const StateImage& b);

// Registers every standard type with handlers reading from / writing into
// `img` (which must outlive the registry's use). A load for a vCPU beyond
// img.vcpus is an error.
Expected<void> register_state_image(Registry& reg, StateImage& img);

}  // namespace tern::stream::domctx
