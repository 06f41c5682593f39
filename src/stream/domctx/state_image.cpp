#include "stream/domctx/state_image.hpp"

#include <concepts>

namespace tern::stream::domctx {
namespace {

template <typename T>
bool same(const std::optional<T>& a, const std::optional<T>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  if constexpr (std::equality_comparable<T>)
    return *a == *b;
  else
    return same_bytes(*a, *b);
}

// Binds type C to the member of the image `slot` selects for an instance
// (nullptr when the instance does not exist).
template <TypeCode C, typename Slot>
Expected<void> bind(Registry& reg, StateImage& img, Slot slot) {
  using Body = typename Codec<C>::Body;
  auto save = [&img, slot](RecordWriter& w) -> Expected<void> {
    const std::optional<Body>* v = slot(img, w.instance());
    if (!v || !v->has_value()) return {};  // nothing to save for this instance
    TERN_TRY(w.begin());
    Codec<C>::encode(w, **v);
    return w.end();
  };
  auto load = [&img, slot](Bytes body, std::uint16_t instance) -> Expected<void> {
    std::optional<Body>* v = slot(img, instance);
    if (!v) return make_error(Errc::invalid, "instance {} does not exist in this domain", instance);
    TERN_TRY_ASSIGN(*v, Codec<C>::decode(body));
    return {};
  };
  return reg.add_standard(C, std::move(save), std::move(load));
}

template <TypeCode C, auto Member>
Expected<void> bind_vcpu(Registry& reg, StateImage& img) {
  return bind<C>(reg, img, [](auto& im, std::uint16_t i) -> decltype(&(im.vcpus[0].*Member)) {
    return i < im.vcpus.size() ? &(im.vcpus[i].*Member) : nullptr;
  });
}

template <TypeCode C, auto Member>
Expected<void> bind_vm(Registry& reg, StateImage& img) {
  return bind<C>(reg, img, [](auto& im, std::uint16_t i) -> decltype(&(im.vm.*Member)) {
    return i == 0 ? &(im.vm.*Member) : nullptr;
  });
}

}  // namespace

bool operator==(const VcpuState& a, const VcpuState& b) {
  return same(a.regs, b.regs) && same(a.sregs, b.sregs) && same(a.sregs2, b.sregs2) && same(a.xsave, b.xsave) &&
         same(a.xcrs, b.xcrs) && same(a.debugregs, b.debugregs) && same(a.lapic, b.lapic) &&
         same(a.events, b.events) && same(a.mp_state, b.mp_state) && same(a.msrs, b.msrs) &&
         same(a.cpuid, b.cpuid) && same(a.tsc_khz, b.tsc_khz);
}

bool operator==(const VmState& a, const VmState& b) {
  return same(a.pic_master, b.pic_master) && same(a.pic_slave, b.pic_slave) && same(a.ioapic, b.ioapic) &&
         same(a.pit, b.pit) && same(a.clock, b.clock) && same(a.shared_info, b.shared_info) &&
         same(a.tsc_info, b.tsc_info);
}

bool operator==(const StateImage& a, const StateImage& b) { return a.vcpus == b.vcpus && a.vm == b.vm; }

Expected<void> register_state_image(Registry& reg, StateImage& img) {
  TERN_TRY((bind_vcpu<TypeCode::vcpu_regs, &VcpuState::regs>(reg, img)));
  TERN_TRY((bind_vcpu<TypeCode::vcpu_sregs, &VcpuState::sregs>(reg, img)));
  TERN_TRY((bind_vcpu<TypeCode::vcpu_sregs2, &VcpuState::sregs2>(reg, img)));
  TERN_TRY((bind_vcpu<TypeCode::vcpu_xsave, &VcpuState::xsave>(reg, img)));
  TERN_TRY((bind_vcpu<TypeCode::vcpu_xcrs, &VcpuState::xcrs>(reg, img)));
  TERN_TRY((bind_vcpu<TypeCode::vcpu_debugregs, &VcpuState::debugregs>(reg, img)));
  TERN_TRY((bind_vcpu<TypeCode::vcpu_lapic, &VcpuState::lapic>(reg, img)));
  TERN_TRY((bind_vcpu<TypeCode::vcpu_events, &VcpuState::events>(reg, img)));
  TERN_TRY((bind_vcpu<TypeCode::vcpu_mp_state, &VcpuState::mp_state>(reg, img)));
  TERN_TRY((bind_vcpu<TypeCode::vcpu_msrs, &VcpuState::msrs>(reg, img)));
  TERN_TRY((bind_vcpu<TypeCode::vcpu_cpuid, &VcpuState::cpuid>(reg, img)));
  TERN_TRY((bind_vcpu<TypeCode::vcpu_tsc_khz, &VcpuState::tsc_khz>(reg, img)));
  TERN_TRY((bind_vm<TypeCode::pic_master, &VmState::pic_master>(reg, img)));
  TERN_TRY((bind_vm<TypeCode::pic_slave, &VmState::pic_slave>(reg, img)));
  TERN_TRY((bind_vm<TypeCode::ioapic, &VmState::ioapic>(reg, img)));
  TERN_TRY((bind_vm<TypeCode::pit, &VmState::pit>(reg, img)));
  TERN_TRY((bind_vm<TypeCode::kvm_clock, &VmState::clock>(reg, img)));
  TERN_TRY((bind_vm<TypeCode::shared_info, &VmState::shared_info>(reg, img)));
  TERN_TRY((bind_vm<TypeCode::tsc_info, &VmState::tsc_info>(reg, img)));
  return {};
}

}  // namespace tern::stream::domctx
