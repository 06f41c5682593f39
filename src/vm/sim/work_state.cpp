#include "vm/sim/work_state.hpp"

namespace tern::vm::sim {

namespace {
// Register slot of each field, in Field order.
constexpr __u64 kvm_regs::*kSlot[kFieldCount] = {
    &kvm_regs::rip, &kvm_regs::rax, &kvm_regs::rbx, &kvm_regs::rcx, &kvm_regs::rdx, &kvm_regs::rsi,
    &kvm_regs::rdi, &kvm_regs::r8,  &kvm_regs::r9,  &kvm_regs::r10, &kvm_regs::r11, &kvm_regs::r12,
};
constexpr std::uint64_t kRflagsFixed = 0x2;  // bit 1 always reads as 1 on x86
}  // namespace

kvm_regs WorkState::to_regs() const {
  kvm_regs r{};
  for (unsigned f = 0; f < kFieldCount; ++f) r.*kSlot[f] = get(static_cast<Field>(f));
  r.r15 = kRegsMagic;
  r.rflags = kRflagsFixed;
  return r;
}

Expected<void> WorkState::check_regs(const kvm_regs& r) {
  if (r.r15 != kRegsMagic)
    return make_error(Errc::unsupported,
                      "vCPU registers were not saved by the sim backend (r15 {:#x}, expected the "
                      "sim marker {:#x}); restore the image with the backend that saved it",
                      r.r15, kRegsMagic);
  if (r.rip == 0 || r.rip > kMaxPhase)
    return make_error(Errc::invalid, "sim vCPU state has unknown workload phase {}", r.rip);
  if (r.rdx > 1) return make_error(Errc::invalid, "sim vCPU state has waiting flag {}", r.rdx);
  return {};
}

void WorkState::from_regs(const kvm_regs& r) {
  for (unsigned f = 0; f < kFieldCount; ++f) set(static_cast<Field>(f), r.*kSlot[f]);
}

}  // namespace tern::vm::sim
