// The built-in guest's memory pattern (guest/user.h), the same math in C++:
// each 8-byte word at guest-physical address `addr` written in pass `pass`
// holds the splitmix64 finalizer of addr ^ pass * 0x9e3779b97f4a7c15, so a
// page that comes back stale, moved or zeroed mismatches. Tests also use it
// to check guest memory from the host side.
#pragma once

#include <cstdint>

namespace tern::vm::sim {

[[nodiscard]] constexpr std::uint64_t pattern_word(std::uint64_t pass, std::uint64_t addr) {
  std::uint64_t z = addr ^ (pass * 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace tern::vm::sim
