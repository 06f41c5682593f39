#include "vm/kvm/balloon.hpp"

#include <array>
#include <cstring>

#include "core/bytes.hpp"
#include "core/log.hpp"

namespace tern::vm::kvm {

std::uint32_t BalloonDevice::read(std::uint16_t port, unsigned size) const {
  if (port == kPortSignature && size == 4) return kHypercallSignature;
  return 0xffffffffu;  // nothing else is readable: like an unclaimed port
}

void BalloonDevice::write(std::uint16_t port, unsigned size, std::uint32_t addr) {
  if (port != kPortRequest || size != 4) return;
  ++requests_;
  // The block must lie in one populated frame: it is read and written in place.
  const std::uint64_t pfn = addr >> kPageShift;
  if (addr % 8 != 0 || (addr & (kPageSize - 1)) + kBalloonRequestSize > kPageSize ||
      !memory_.populated(pfn)) {
    log::warn(
        "balloon: request block at {:#x} is not 8-byte aligned inside one populated page; ignored",
        addr);
    return;
  }
  std::byte* block = memory_.page(pfn) + (addr & (kPageSize - 1));
  const auto command = load_le<std::uint32_t>(block);
  const auto first = load_le<std::uint64_t>(block + 8);
  const auto count = load_le<std::uint64_t>(block + 16);
  const bool covers_block = pfn >= first && pfn - first < count;  // it would vanish under our write
  const std::uint32_t status = covers_block ? kStatusBadRange : execute(command, first, count);
  store_le<std::uint32_t>(block + 4, status);
  memory_.mark_written(pfn, 1);  // the VMM wrote guest memory: KVM's log does not see it
}

std::uint32_t BalloonDevice::execute(std::uint32_t command, std::uint64_t first,
                                     std::uint64_t count) {
  if (command != kBalloonRemove && command != kBalloonReturn) return kStatusBadCommand;
  auto r =
      command == kBalloonRemove ? memory_.depopulate(first, count) : memory_.populate(first, count);
  if (!r) {
    log::warn("balloon: {}", r.error().message());
    return r.error().code() == Errc::usage ? kStatusBadRange : kStatusFailed;
  }
  (command == kBalloonRemove ? removed_ : returned_) += count;
  return kStatusOk;
}

}  // namespace tern::vm::kvm
