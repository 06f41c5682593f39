// The balloon device behind the guest's reserved hypercall ports
// (guest/abi.h, guest/README.md "Balloon protocol"). The guest writes the
// guest-physical address of a request block to the request port with one
// 32-bit OUT; the VMM reads the block, removes or returns the frames, and
// writes the status back into the block before the OUT completes. One
// instruction carries the whole request, so a pause (or a save, or a
// migration) can never fall between its parts and there is no device
// register state to carry.
#pragma once

#include <atomic>
#include <cstdint>

#include "vm/kvm/guest_memory.hpp"

namespace tern::vm::kvm {

inline constexpr std::uint16_t kHypercallBase = 0x0f40;
inline constexpr std::uint16_t kHypercallPorts = 16;
inline constexpr std::uint16_t kPortSignature = kHypercallBase + 0;  // in32
inline constexpr std::uint16_t kPortRequest = kHypercallBase + 4;    // out32: request block address
inline constexpr std::uint32_t kHypercallSignature = 0x6e726574;  // "tern" in little-endian bytes

// Request block: u32 command, u32 status, u64 first_pfn, u64 count (24 bytes, 8-aligned).
inline constexpr std::size_t kBalloonRequestSize = 24;
inline constexpr std::uint32_t kBalloonRemove = 1;  // inflate: the VMM takes the frames away
inline constexpr std::uint32_t kBalloonReturn = 2;  // deflate: the VMM gives them back, zero-filled
inline constexpr std::uint32_t kStatusOk = 0, kStatusBadCommand = 1, kStatusBadRange = 2,
                               kStatusFailed = 3, kStatusBadBlock = 4;

class BalloonDevice {
 public:
  explicit BalloonDevice(GuestMemory& memory) : memory_(memory) {}
  [[nodiscard]] std::uint32_t read(std::uint16_t port, unsigned size) const;
  void write(std::uint16_t port, unsigned size, std::uint32_t value);

  [[nodiscard]] std::uint64_t removed_pages() const { return removed_.load(); }
  [[nodiscard]] std::uint64_t returned_pages() const { return returned_.load(); }
  [[nodiscard]] std::uint64_t requests() const { return requests_.load(); }

 private:
  std::uint32_t execute(std::uint32_t command, std::uint64_t first, std::uint64_t count);
  GuestMemory& memory_;
  std::atomic<std::uint64_t> removed_{0}, returned_{0}, requests_{0};
};

}  // namespace tern::vm::kvm
