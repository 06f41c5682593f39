#include "vm/kvm/port_bus.hpp"

#include <linux/kvm.h>

#include <cstring>

namespace tern::vm::kvm {

std::optional<std::uint32_t> PortBus::handle(kvm_run& run) {
  const unsigned size = run.io.size;
  auto* data = reinterpret_cast<std::uint8_t*>(&run) + run.io.data_offset;
  std::optional<std::uint32_t> exit;
  // String I/O (rep ins/outs) arrives as `count` items back to back.
  for (std::uint32_t i = 0; i < run.io.count; ++i, data += size) {
    if (run.io.direction == KVM_EXIT_IO_OUT) {
      std::uint32_t v = 0;
      std::memcpy(&v, data, size);
      if (write(run.io.port, size, v) && !exit) exit = v;
    } else {
      const std::uint32_t v = read(run.io.port, size);
      std::memcpy(data, &v, size);
    }
  }
  return exit;
}

std::uint32_t PortBus::read(std::uint16_t port, unsigned size) {
  if (port >= kCom1Base && port < kCom1Base + kCom1Ports) return uart_.read(port - kCom1Base);
  if (port >= kHypercallBase && port < kHypercallBase + kHypercallPorts)
    return balloon_.read(port, size);
  return 0xffffffffu;
}

bool PortBus::write(std::uint16_t port, unsigned size, std::uint32_t value) {
  if (port >= kCom1Base && port < kCom1Base + kCom1Ports) {
    uart_.write(port - kCom1Base, static_cast<std::uint8_t>(value));
    return false;
  }
  if (port == kExitPort) return true;
  if (port >= kHypercallBase && port < kHypercallBase + kHypercallPorts)
    balloon_.write(port, size, value);
  return false;
}

}  // namespace tern::vm::kvm
