// KVM memory slots and their dirty logs. With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2
// enabled, KVM_GET_DIRTY_LOG only reads the log and KVM_CLEAR_DIRTY_LOG
// re-arms write protection for exactly the frames that were reported, so a
// frame written between the two calls is reported again next time. Without
// it, KVM_GET_DIRTY_LOG does both at once.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "vm/dirty_bitmap.hpp"
#include "vm/kvm/guest_memory.hpp"

namespace tern::vm::kvm {

class DirtyLog {
 public:
  DirtyLog(int vm_fd, GuestMemory& memory, bool manual_protect)
      : vm_fd_(vm_fd), memory_(memory), manual_protect_(manual_protect) {}

  // Registers every RAM slot with KVM (no logging).
  Expected<void> register_slots();
  Expected<void> start();
  // Frames the guest wrote since start() or the previous collect(), plus
  // those the VMM wrote or whose presence changed (GuestMemory's record).
  Expected<DirtyBitmap> collect();
  Expected<void> stop();
  [[nodiscard]] bool active() const { return active_; }

 private:
  Expected<void> set_slot_flags(bool log);
  int vm_fd_;
  GuestMemory& memory_;
  bool manual_protect_;
  bool active_ = false;
  std::vector<std::vector<std::uint64_t>> bitmaps_;  // per slot, reused
};

}  // namespace tern::vm::kvm
