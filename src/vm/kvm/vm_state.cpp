#include "vm/kvm/vm_state.hpp"

#include <cstring>

#include "vm/kvm/kvm_system.hpp"

namespace tern::vm::kvm {

namespace {

Expected<kvm_pic_state> get_pic(int vm, std::uint32_t chip) {
  kvm_irqchip c{};
  c.chip_id = chip;
  TERN_TRY(kvm_ioctl(vm, KVM_GET_IRQCHIP, &c,
                     chip == KVM_IRQCHIP_PIC_MASTER ? "KVM_GET_IRQCHIP (master PIC)"
                                                    : "KVM_GET_IRQCHIP (slave PIC)"));
  return c.chip.pic;
}

Expected<void> set_pic(int vm, std::uint32_t chip, const kvm_pic_state& pic) {
  kvm_irqchip c{};
  c.chip_id = chip;
  c.chip.pic = pic;
  TERN_TRY(kvm_ioctl(vm, KVM_SET_IRQCHIP, &c,
                     chip == KVM_IRQCHIP_PIC_MASTER ? "KVM_SET_IRQCHIP (master PIC)"
                                                    : "KVM_SET_IRQCHIP (slave PIC)"));
  return {};
}

}  // namespace

Expected<void> save_vm_devices(int vm, stream::domctx::VmState& out) {
  TERN_TRY_ASSIGN(out.pic_master, get_pic(vm, KVM_IRQCHIP_PIC_MASTER));
  TERN_TRY_ASSIGN(out.pic_slave, get_pic(vm, KVM_IRQCHIP_PIC_SLAVE));
  kvm_irqchip io{};
  io.chip_id = KVM_IRQCHIP_IOAPIC;
  TERN_TRY(kvm_ioctl(vm, KVM_GET_IRQCHIP, &io, "KVM_GET_IRQCHIP (IOAPIC)"));
  out.ioapic = io.chip.ioapic;
  kvm_pit_state2 pit{};
  TERN_TRY(kvm_ioctl(vm, KVM_GET_PIT2, &pit, "KVM_GET_PIT2"));
  out.pit = pit;
  return {};
}

Expected<void> load_vm_devices(int vm, const stream::domctx::VmState& in) {
  if (in.pic_master) TERN_TRY(set_pic(vm, KVM_IRQCHIP_PIC_MASTER, *in.pic_master));
  if (in.pic_slave) TERN_TRY(set_pic(vm, KVM_IRQCHIP_PIC_SLAVE, *in.pic_slave));
  if (in.ioapic) {
    kvm_irqchip io{};
    io.chip_id = KVM_IRQCHIP_IOAPIC;
    io.chip.ioapic = *in.ioapic;
    TERN_TRY(kvm_ioctl(vm, KVM_SET_IRQCHIP, &io, "KVM_SET_IRQCHIP (IOAPIC)"));
  }
  if (in.pit) {
    kvm_pit_state2 pit = *in.pit;
    TERN_TRY(kvm_ioctl(vm, KVM_SET_PIT2, &pit, "KVM_SET_PIT2"));
  }
  return {};
}

Expected<kvm_clock_data> get_clock(int vm) {
  kvm_clock_data c{};
  TERN_TRY(kvm_ioctl(vm, KVM_GET_CLOCK, &c, "KVM_GET_CLOCK"));
  return c;
}

Expected<void> set_clock(int vm, const kvm_clock_data& clock) {
  // Only the clock value: with KVM_CLOCK_REALTIME KVM would add the wall
  // time that passed since the save, but guest time stands still while a
  // domain is paused or saved (its TSC is restored as saved too).
  kvm_clock_data c{};
  c.clock = clock.clock;
  TERN_TRY(kvm_ioctl(vm, KVM_SET_CLOCK, &c, "KVM_SET_CLOCK"));
  return {};
}

}  // namespace tern::vm::kvm
