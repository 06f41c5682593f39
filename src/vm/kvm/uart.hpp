// A minimal 16550 UART on COM1 (0x3f8-0x3ff): the transmitter is always
// ready (LSR reports THR and shifter empty), writes to THR go to the
// console, and the other registers simply hold what the guest wrote so a
// driver's probe (scratch register, divisor latch) reads back sensibly.
// No receive path and no interrupts.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "vm/kvm/console.hpp"

namespace tern::vm::kvm {

inline constexpr std::uint16_t kCom1Base = 0x3f8;
inline constexpr std::uint16_t kCom1Ports = 8;

class Uart16550 {
 public:
  explicit Uart16550(Console& console) : console_(console) {}
  // offset: port - kCom1Base (0..7).
  void write(unsigned offset, std::uint8_t value);
  [[nodiscard]] std::uint8_t read(unsigned offset);

 private:
  Console& console_;
  std::mutex mu_;
  std::array<std::uint8_t, 8> regs_{};  // IER, (IIR/FCR), LCR, MCR, LSR, MSR, SCR by offset
  std::uint8_t dll_ = 0x0c, dlm_ = 0;   // divisor latch (9600 baud)
};

}  // namespace tern::vm::kvm
