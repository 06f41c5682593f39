// Port I/O the VMM emulates (everything else the in-kernel PIC, PIT and
// speaker port handle): COM1, the exit port 0xf4 and the hypercall ports.
// Reads of unclaimed ports return all ones and writes to them are dropped,
// as on a PC with nothing behind the port.
#pragma once

#include <cstdint>
#include <optional>

#include "vm/kvm/balloon.hpp"
#include "vm/kvm/uart.hpp"

struct kvm_run;

namespace tern::vm::kvm {

inline constexpr std::uint16_t kExitPort = 0xf4;

class PortBus {
 public:
  PortBus(Uart16550& uart, BalloonDevice& balloon) : uart_(uart), balloon_(balloon) {}
  // Completes a KVM_EXIT_IO (reads: fills run's data area). Returns the
  // guest's exit value when it wrote the exit port.
  std::optional<std::uint32_t> handle(kvm_run& run);

 private:
  std::uint32_t read(std::uint16_t port, unsigned size);
  // true: the write was to the exit port
  bool write(std::uint16_t port, unsigned size, std::uint32_t value);
  Uart16550& uart_;
  BalloonDevice& balloon_;
};

}  // namespace tern::vm::kvm
