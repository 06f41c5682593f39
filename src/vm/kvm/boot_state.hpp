// The register state a Multiboot v1 loader hands over: 32-bit protected
// mode, paging off, flat 4 GiB code and data segments, interrupts off,
// eax = 0x2BADB002, ebx = the information structure, eip = the entry.
#pragma once

#include "core/error.hpp"
#include "vm/kvm/multiboot.hpp"
#include "vm/kvm/vcpu.hpp"

namespace tern::vm::kvm {

Expected<void> set_multiboot_entry_state(const Vcpu& vcpu, const BootEntry& entry);

}  // namespace tern::vm::kvm
