#include "vm/kvm/uart.hpp"

namespace tern::vm::kvm {

namespace {
constexpr unsigned kThr = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;
constexpr std::uint8_t kLcrDlab = 0x80;
constexpr std::uint8_t kLsrThrEmpty = 0x20, kLsrTxEmpty = 0x40;
constexpr std::uint8_t kIirNoInterrupt = 0x01;
// Modem status: CTS, DSR and DCD asserted (a cable with someone listening).
constexpr std::uint8_t kMsrReady = 0xb0;
}  // namespace

void Uart16550::write(unsigned offset, std::uint8_t value) {
  std::unique_lock lk(mu_);
  const bool dlab = (regs_[kLcr] & kLcrDlab) != 0;
  switch (offset) {
    case kThr:
      if (dlab) {
        dll_ = value;
        return;
      }
      lk.unlock();
      console_.put(static_cast<char>(value));
      return;
    case kIer:
      if (dlab)
        dlm_ = value;
      else
        regs_[kIer] = value & 0x0f;
      return;
    case kIir:
      return;  // FCR: FIFO control, nothing to emulate
    case kLcr:
    case kMcr:
    case kScr:
      regs_[offset] = value;
      return;
    default:
      return;  // LSR and MSR are read-only
  }
}

std::uint8_t Uart16550::read(unsigned offset) {
  std::lock_guard lk(mu_);
  const bool dlab = (regs_[kLcr] & kLcrDlab) != 0;
  switch (offset) {
    case kThr:
      return dlab ? dll_ : 0;  // RBR: nothing ever received
    case kIer:
      return dlab ? dlm_ : regs_[kIer];
    case kIir:
      return kIirNoInterrupt;
    case kLsr:
      return kLsrThrEmpty | kLsrTxEmpty;
    case kMsr:
      return kMsrReady;
    default:
      return offset < regs_.size() ? regs_[offset] : 0xff;
  }
}

}  // namespace tern::vm::kvm
