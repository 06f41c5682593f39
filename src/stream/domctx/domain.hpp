// What the framework needs to know about a domain to save or load it: how
// many vCPUs it has (per-vCPU records use instances 0..vcpu_count-1).
#pragma once

#include <cstdint>

namespace tern::stream::domctx {

inline constexpr std::uint32_t kMaxVcpus = 65536;  // instance is a u16

struct DomainShape {
  std::uint32_t vcpu_count = 0;
};

}  // namespace tern::stream::domctx
