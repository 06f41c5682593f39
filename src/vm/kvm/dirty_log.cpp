#include "vm/kvm/dirty_log.hpp"

#include <algorithm>

#include "vm/kvm/kvm_system.hpp"

namespace tern::vm::kvm {

Expected<void> DirtyLog::register_slots() { return set_slot_flags(false); }

Expected<void> DirtyLog::set_slot_flags(bool log) {
  for (const RamSlot& s : memory_.slots()) {
    kvm_userspace_memory_region r{};
    r.slot = s.id;
    r.flags = log ? KVM_MEM_LOG_DIRTY_PAGES : 0;
    r.guest_phys_addr = s.gpa;
    r.memory_size = s.size;
    r.userspace_addr = reinterpret_cast<std::uintptr_t>(s.host);
    TERN_TRY(
        kvm_ioctl(vm_fd_, KVM_SET_USER_MEMORY_REGION, &r,
                  fmt::format("KVM_SET_USER_MEMORY_REGION (slot {}, {:#x}+{:#x}, dirty log {})",
                              s.id, s.gpa, s.size, log ? "on" : "off")));
  }
  return {};
}

Expected<void> DirtyLog::start() {
  if (active_) return {};
  bitmaps_.clear();
  for (const RamSlot& s : memory_.slots()) bitmaps_.emplace_back((s.pages() + 63) / 64, 0);
  memory_.set_logging(true);
  if (auto r = set_slot_flags(true); !r) {
    memory_.set_logging(false);
    (void)set_slot_flags(false);
    return r;
  }
  active_ = true;
  return {};
}

Expected<DirtyBitmap> DirtyLog::collect() {
  if (!active_) return make_error(Errc::usage, "collect_dirty() without start_dirty_log()");
  DirtyBitmap out;
  const auto& slots = memory_.slots();
  for (std::size_t i = 0; i < slots.size(); ++i) {
    std::vector<std::uint64_t>& bits = bitmaps_[i];
    std::fill(bits.begin(), bits.end(), 0);
    kvm_dirty_log log{};
    log.slot = slots[i].id;
    log.dirty_bitmap = bits.data();
    TERN_TRY(kvm_ioctl(vm_fd_, KVM_GET_DIRTY_LOG, &log,
                       fmt::format("KVM_GET_DIRTY_LOG (slot {})", slots[i].id)));
    if (std::all_of(bits.begin(), bits.end(), [](std::uint64_t w) { return w == 0; })) continue;
    if (manual_protect_) {
      // Re-protect only the chunks that had dirty frames: KVM walks every
      // page of the range it is given, and most of a large guest is clean.
      constexpr std::uint64_t kChunkWords = 512;  // 32768 pages
      for (std::uint64_t w = 0; w < bits.size(); w += kChunkWords) {
        const std::uint64_t nw = std::min<std::uint64_t>(kChunkWords, bits.size() - w);
        if (std::all_of(bits.begin() + static_cast<std::ptrdiff_t>(w),
                        bits.begin() + static_cast<std::ptrdiff_t>(w + nw),
                        [](std::uint64_t x) { return x == 0; }))
          continue;
        kvm_clear_dirty_log clear{};
        clear.slot = slots[i].id;
        clear.first_page = w * 64;
        // A multiple of 64 pages, or up to the slot's end.
        clear.num_pages =
            static_cast<std::uint32_t>(std::min<std::uint64_t>(nw * 64, slots[i].pages() - w * 64));
        clear.dirty_bitmap = bits.data() + w;
        TERN_TRY(kvm_ioctl(vm_fd_, KVM_CLEAR_DIRTY_LOG, &clear,
                           fmt::format("KVM_CLEAR_DIRTY_LOG (slot {}, pages {:#x}+{:#x})",
                                       slots[i].id, clear.first_page, clear.num_pages)));
      }
    }
    out.set_words(slots[i].first_pfn(), bits.data(), bits.size());
  }
  out.merge(memory_.take_written());
  return out;
}

Expected<void> DirtyLog::stop() {
  if (!active_) return {};
  active_ = false;
  memory_.set_logging(false);
  return set_slot_flags(false);
}

}  // namespace tern::vm::kvm
