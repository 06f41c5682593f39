#include "vm/kvm/boot_state.hpp"

namespace tern::vm::kvm {

namespace {

kvm_segment flat(std::uint16_t selector, std::uint8_t type) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = 1;  // 32-bit
  s.s = 1;   // code/data
  s.l = 0;
  s.g = 1;  // 4 KiB granularity
  return s;
}

constexpr std::uint8_t kCodeExecReadAccessed = 0xb, kDataReadWriteAccessed = 0x3, kTss32Busy = 0xb;
constexpr std::uint64_t kCr0Pe = 1u << 0, kCr0Et = 1u << 4;
constexpr std::uint64_t kRflagsReserved = 1u << 1;

}  // namespace

Expected<void> set_multiboot_entry_state(const Vcpu& v, const BootEntry& entry) {
  kvm_sregs s{};
  TERN_TRY(v.io(KVM_GET_SREGS, &s, "KVM_GET_SREGS"));
  s.cs = flat(0x08, kCodeExecReadAccessed);
  s.ds = s.es = s.fs = s.gs = s.ss = flat(0x10, kDataReadWriteAccessed);
  // The guest loads its own GDT, IDT and TR before it needs them; these only
  // have to be consistent for VM entry.
  s.tr = kvm_segment{};
  s.tr.limit = 0xffff;
  s.tr.type = kTss32Busy;
  s.tr.present = 1;
  s.ldt = kvm_segment{};
  s.ldt.unusable = 1;
  s.ldt.type = 2;
  s.gdt = kvm_dtable{0, 0xffff, {}};
  s.idt = kvm_dtable{0, 0xffff, {}};
  s.cr0 = kCr0Pe | kCr0Et;
  s.cr2 = s.cr3 = s.cr4 = 0;
  s.efer = 0;
  TERN_TRY(v.io(KVM_SET_SREGS, &s, "KVM_SET_SREGS"));

  kvm_regs r{};
  r.rax = kMultibootBootMagic;
  r.rbx = entry.ebx;
  r.rip = entry.eip;
  r.rflags = kRflagsReserved;
  TERN_TRY(v.io(KVM_SET_REGS, &r, "KVM_SET_REGS"));
  return {};
}

}  // namespace tern::vm::kvm
