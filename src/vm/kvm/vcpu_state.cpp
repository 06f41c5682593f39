#include "vm/kvm/vcpu_state.hpp"

#include <algorithm>
#include <cstring>

#include "vm/kvm/cpuid.hpp"
#include "vm/kvm/msrs.hpp"

namespace tern::vm::kvm {

using stream::domctx::MsrEntry;
using stream::domctx::MsrList;
using stream::domctx::TscKhz;
using stream::domctx::VcpuState;
using stream::domctx::XsaveArea;

namespace {

template <typename T>
Expected<T> get(const Vcpu& v, unsigned long request, std::string_view what) {
  T value{};
  TERN_TRY(v.io(request, &value, what));
  return value;
}

template <typename T>
Expected<void> put(const Vcpu& v, unsigned long request, const T& value, std::string_view what) {
  T copy = value;  // the ioctls take non-const pointers
  TERN_TRY(v.io(request, &copy, what));
  return {};
}

kvm_sregs sregs_from_sregs2(const kvm_sregs2& s2) {
  kvm_sregs s{};
  s.cs = s2.cs, s.ds = s2.ds, s.es = s2.es, s.fs = s2.fs, s.gs = s2.gs, s.ss = s2.ss;
  s.tr = s2.tr, s.ldt = s2.ldt, s.gdt = s2.gdt, s.idt = s2.idt;
  s.cr0 = s2.cr0, s.cr2 = s2.cr2, s.cr3 = s2.cr3, s.cr4 = s2.cr4, s.cr8 = s2.cr8;
  s.efer = s2.efer, s.apic_base = s2.apic_base;
  return s;  // no pending interrupt in the bitmap: SREGS2 has none either
}

}  // namespace

Expected<VcpuState> save_vcpu_state(const Vcpu& v, const StateCaps& caps,
                                    const std::vector<std::uint32_t>& msr_indices,
                                    const std::vector<kvm_cpuid_entry2>& cpuid) {
  VcpuState s;
  s.cpuid = to_record(cpuid);
  TERN_TRY_ASSIGN(const int khz,
                  v.io(KVM_GET_TSC_KHZ, static_cast<void*>(nullptr), "KVM_GET_TSC_KHZ"));
  s.tsc_khz = TscKhz{static_cast<std::uint32_t>(khz)};
  TERN_TRY_ASSIGN(s.regs, get<kvm_regs>(v, KVM_GET_REGS, "KVM_GET_REGS"));
  if (caps.sregs2) {
    TERN_TRY_ASSIGN(s.sregs2, get<kvm_sregs2>(v, KVM_GET_SREGS2, "KVM_GET_SREGS2"));
  } else {
    TERN_TRY_ASSIGN(s.sregs, get<kvm_sregs>(v, KVM_GET_SREGS, "KVM_GET_SREGS"));
  }
  XsaveArea xs;
  xs.bytes.resize(caps.xsave2 ? caps.xsave_size : kXsaveLegacy);
  TERN_TRY(v.io(caps.xsave2 ? kIocGetXsave2 : kIocGetXsave, xs.bytes.data(),
                caps.xsave2 ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE"));
  s.xsave = std::move(xs);
  TERN_TRY_ASSIGN(s.xcrs, get<kvm_xcrs>(v, KVM_GET_XCRS, "KVM_GET_XCRS"));
  TERN_TRY_ASSIGN(s.debugregs, get<kvm_debugregs>(v, KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS"));
  TERN_TRY_ASSIGN(s.lapic, get<kvm_lapic_state>(v, KVM_GET_LAPIC, "KVM_GET_LAPIC"));
  TERN_TRY_ASSIGN(s.events, get<kvm_vcpu_events>(v, KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS"));
  TERN_TRY_ASSIGN(s.mp_state, get<kvm_mp_state>(v, KVM_GET_MP_STATE, "KVM_GET_MP_STATE"));
  TERN_TRY_ASSIGN(const MsrResult msrs, get_msrs(v, msr_indices));
  MsrList list;
  for (const kvm_msr_entry& e : msrs.entries) list.entries.push_back(MsrEntry{e.index, e.data});
  s.msrs = std::move(list);
  return s;
}

Expected<std::vector<std::uint32_t>> load_vcpu_state(
    const Vcpu& v, const StateCaps& caps, const VcpuState& s,
    const std::vector<kvm_cpuid_entry2>& current_cpuid, bool has_run) {
  if (s.cpuid) {
    if (!has_run) {
      TERN_TRY(set_cpuid(v, from_record(*s.cpuid)));
    } else if (*s.cpuid != to_record(current_cpuid)) {
      return make_error(
          Errc::unsupported,
          "vCPU {}: the saved CPUID differs from the one this vCPU ran with, and KVM cannot change "
          "it after the first KVM_RUN (restore into a fresh domain instead)",
          v.index());
    }
  }
  if (s.tsc_khz && s.tsc_khz->khz != 0) {
    TERN_TRY_ASSIGN(const int now,
                    v.io(KVM_GET_TSC_KHZ, static_cast<void*>(nullptr), "KVM_GET_TSC_KHZ"));
    if (static_cast<std::uint32_t>(now) != s.tsc_khz->khz)
      TERN_TRY(v.io(KVM_SET_TSC_KHZ,
                    reinterpret_cast<void*>(static_cast<unsigned long>(s.tsc_khz->khz)),
                    "KVM_SET_TSC_KHZ"));
  }
  if (s.sregs2) {
    if (caps.sregs2)
      TERN_TRY(put(v, KVM_SET_SREGS2, *s.sregs2, "KVM_SET_SREGS2"));
    else
      TERN_TRY(put(v, KVM_SET_SREGS, sregs_from_sregs2(*s.sregs2), "KVM_SET_SREGS"));
  } else if (s.sregs) {
    TERN_TRY(put(v, KVM_SET_SREGS, *s.sregs, "KVM_SET_SREGS"));
  }
  if (s.regs) TERN_TRY(put(v, KVM_SET_REGS, *s.regs, "KVM_SET_REGS"));
  if (s.xcrs) TERN_TRY(put(v, KVM_SET_XCRS, *s.xcrs, "KVM_SET_XCRS"));
  if (s.xsave) {
    // KVM reads its own XSAVE size; a smaller saved area (fewer dynamic
    // features) is zero-extended. check_state() refused larger ones.
    std::vector<std::byte> area(std::max(caps.xsave_size, s.xsave->bytes.size()));
    std::memcpy(area.data(), s.xsave->bytes.data(), s.xsave->bytes.size());
    TERN_TRY(v.io(kIocSetXsave, area.data(), "KVM_SET_XSAVE"));
  }
  std::vector<kvm_msr_entry> msrs, deadline;
  if (s.msrs)
    for (const MsrEntry& e : s.msrs->entries) {
      kvm_msr_entry k{};
      k.index = e.index;
      k.data = e.value;
      (e.index == kMsrTscDeadline ? deadline : msrs).push_back(k);
    }
  std::vector<std::uint32_t> skipped;
  TERN_TRY_ASSIGN(MsrResult first, set_msrs(v, msrs));
  skipped = std::move(first.skipped);
  if (s.events) TERN_TRY(put(v, KVM_SET_VCPU_EVENTS, *s.events, "KVM_SET_VCPU_EVENTS"));
  if (s.mp_state) TERN_TRY(put(v, KVM_SET_MP_STATE, *s.mp_state, "KVM_SET_MP_STATE"));
  if (s.lapic) TERN_TRY(put(v, KVM_SET_LAPIC, *s.lapic, "KVM_SET_LAPIC"));
  if (s.debugregs) TERN_TRY(put(v, KVM_SET_DEBUGREGS, *s.debugregs, "KVM_SET_DEBUGREGS"));
  TERN_TRY_ASSIGN(MsrResult last, set_msrs(v, deadline));
  skipped.insert(skipped.end(), last.skipped.begin(), last.skipped.end());
  return skipped;
}

}  // namespace tern::vm::kvm
