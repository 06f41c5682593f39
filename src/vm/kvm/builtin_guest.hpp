#pragma once
// The built-in guest (guest/): the kernel `tern run` boots when none is given.

#include <cstddef>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace tern::vm::kvm {

struct BuiltinGuest {
  std::vector<std::byte> elf;
  std::string origin;  // for messages: the file it came from, or "built into tern"
};

// $TERN_GUEST_ELF when set (to try a rebuilt guest without relinking tern),
// else the copy linked into this binary at build time.
[[nodiscard]] Expected<BuiltinGuest> builtin_guest();

}  // namespace tern::vm::kvm
