#include "vm/kvm/builtin_guest.hpp"

#include <cstdlib>

#include "vm/kvm/multiboot.hpp"

// Defined by builtin_guest_blob.S around the .incbin'd ELF.
extern "C" const unsigned char tern_guest_elf_begin[];
extern "C" const unsigned char tern_guest_elf_end[];

namespace tern::vm::kvm {

Expected<BuiltinGuest> builtin_guest() {
  if (const char* env = std::getenv("TERN_GUEST_ELF"); env != nullptr && *env != '\0') {
    auto file = read_kernel_file(env);
    if (!file) return std::unexpected(file.error().context("the guest named by TERN_GUEST_ELF"));
    return BuiltinGuest{std::move(*file), env};
  }
  const auto* begin = reinterpret_cast<const std::byte*>(tern_guest_elf_begin);
  const auto* end = reinterpret_cast<const std::byte*>(tern_guest_elf_end);
  return BuiltinGuest{std::vector<std::byte>(begin, end), "the guest built into tern"};
}

}  // namespace tern::vm::kvm
