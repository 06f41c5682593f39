// VM-wide device state as domain-context records: the in-kernel PICs and
// IOAPIC, the PIT, and the KVM clock. The clock is handled by the caller:
// it is read once when the vCPUs stop and written just before they run
// again (see KvmDomain::pause/resume), so guest time does not jump.
#pragma once

#include "core/error.hpp"
#include "stream/domctx/state_image.hpp"

namespace tern::vm::kvm {

Expected<void> save_vm_devices(int vm_fd, stream::domctx::VmState& out);
Expected<void> load_vm_devices(int vm_fd, const stream::domctx::VmState& in);

Expected<kvm_clock_data> get_clock(int vm_fd);
Expected<void> set_clock(int vm_fd, const kvm_clock_data& clock);

}  // namespace tern::vm::kvm
