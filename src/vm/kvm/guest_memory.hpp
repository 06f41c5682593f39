// Guest RAM: one anonymous private mapping in the VMM (2 MiB-aligned;
// advised for transparent huge pages with TERN_GUEST_THP=1), cut into KVM memory slots that leave
// the 3-4 GiB hole for device MMIO (the in-kernel IOAPIC and local APIC
// live at 0xfec00000 / 0xfee00000). The mapping never moves, so page()
// pointers stay valid for the domain's lifetime; a depopulated page is
// dropped (MADV_DONTNEED) and reads as zero, to the VMM and the guest.
//
// Lazy restore (map_file): a private, copy-on-write mapping of an image
// file is placed over the VMM's mapping of some frames (MAP_FIXED). KVM
// resolves guest frames through these host addresses at fault time and
// follows mapping changes through its MMU notifier, so the guest reads the
// file's pages and its writes land in private copies. Depopulating such a
// frame puts anonymous memory back under it first, so it reads zero as any
// other.
//
// It also owns the memory map (which frames are populated, with its
// generation counter) and the record of frames the VMM itself wrote while
// dirty logging is on: KVM's dirty log sees only the guest's writes.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "vm/dirty_bitmap.hpp"
#include "vm/domain.hpp"
#include "vm/host_ram.hpp"
#include "vm/memory_map.hpp"

namespace tern::vm::kvm {

// Guest-physical layout: RAM up to 3 GiB from 0, the rest from 4 GiB.
inline constexpr std::uint64_t kLowRamLimit = 0xc0000000ULL;
inline constexpr std::uint64_t kHighRamBase = 0x100000000ULL;

struct RamSlot {
  std::uint32_t id = 0;      // KVM memory slot number
  std::uint64_t gpa = 0;     // guest-physical start
  std::uint64_t size = 0;    // bytes
  std::uint64_t offset = 0;  // offset in the RAM mapping
  std::byte* host = nullptr;
  [[nodiscard]] std::uint64_t first_pfn() const { return gpa >> kPageShift; }
  [[nodiscard]] std::uint64_t pages() const { return size >> kPageShift; }
};

class GuestMemory {
 public:
  // `ram_bytes` of address space (page multiple), nothing populated yet.
  // Takes `prepared`'s mapping when it is exactly `ram_bytes` (memory made,
  // maybe faulted in, before the domain: HostRam), else maps its own.
  static Expected<std::unique_ptr<GuestMemory>> create(std::uint64_t ram_bytes,
                                                       HostRam* prepared = nullptr);
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  [[nodiscard]] const std::vector<RamSlot>& slots() const { return slots_; }
  [[nodiscard]] std::uint64_t ram_bytes() const { return ram_bytes_; }
  // True when the RAM is a HostRam made before the domain.
  [[nodiscard]] bool uses_prepared_ram() const { return prepared_; }
  // Host address of frame pfn; nullptr outside the slots.
  [[nodiscard]] std::byte* page(std::uint64_t pfn) const;

  [[nodiscard]] MemoryMap map() const;
  [[nodiscard]] std::uint64_t generation() const;
  [[nodiscard]] bool populated(std::uint64_t pfn) const;

  // Fails naming the range when part of it lies outside the slots.
  Expected<void> populate(std::uint64_t first_pfn, std::uint64_t count);
  // Drops the frames' memory (they read zero afterwards).
  Expected<void> depopulate(std::uint64_t first_pfn, std::uint64_t count);

  // Backs populated frames by `fd` from `offset` (Domain::map_file).
  Expected<void> map_file(std::uint64_t first_pfn, std::uint64_t count, int fd,
                          std::uint64_t offset);
  // Domain::next_data_run: pages that were never faulted in (pagemap) and
  // that no file backs.
  [[nodiscard]] FrameRun next_data_run(std::uint64_t pfn) const;
  [[nodiscard]] std::uint64_t file_backed_pages() const;

  // Copies bytes to guest-physical `gpa` (all of it inside guest RAM) and
  // records the frames as written by the VMM.
  Expected<void> write(std::uint64_t gpa, std::span<const std::byte> bytes);
  Expected<void> fill_zero(std::uint64_t gpa, std::uint64_t len);

  // Frames the VMM wrote (or whose presence changed) while logging is on.
  void mark_written(std::uint64_t first_pfn, std::uint64_t count);
  void set_logging(bool on);
  [[nodiscard]] DirtyBitmap take_written();

 private:
  GuestMemory() = default;
  Expected<void> check_range(std::string_view what, std::uint64_t first, std::uint64_t count) const;
  // Calls f(slot, first, count) for the part of [first, first+count) in each slot.
  template <typename F>
  Expected<void> for_slots(std::uint64_t first, std::uint64_t count, F&& f) const;
  [[nodiscard]] const RamSlot* slot_of(std::uint64_t pfn) const;
  // Puts anonymous memory back under the file-backed frames of the range. mu_ held.
  Expected<void> unmap_file(std::uint64_t first, std::uint64_t count);

  bool thp_ = false;  // MADV_HUGEPAGE (TERN_GUEST_THP=1)
  bool prepared_ = false;  // RAM taken from a HostRam
  UniqueFd pagemap_;  // /proc/self/pagemap, for next_data_run (may be closed)
  std::byte* base_ = nullptr;
  std::uint64_t ram_bytes_ = 0;
  std::vector<RamSlot> slots_;

  mutable std::mutex mu_;
  MemoryMap map_;
  MemoryMap file_backed_;  // frames mapped from a file (a set of frames; its generation is unused)
  bool logging_ = false;
  DirtyBitmap written_;
};

}  // namespace tern::vm::kvm
