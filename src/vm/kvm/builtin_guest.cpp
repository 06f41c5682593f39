#include "vm/kvm/builtin_guest.hpp"

#include <cstdlib>

#include "vm/kvm/multiboot.hpp"

#if TERN_EMBEDDED_GUEST
// Defined by builtin_guest_blob.S around the .incbin'd ELF.
extern "C" const unsigned char tern_guest_elf_begin[];
extern "C" const unsigned char tern_guest_elf_end[];
#endif

namespace tern::vm::kvm {

Expected<BuiltinGuest> builtin_guest() {
  if (const char* env = std::getenv("TERN_GUEST_ELF"); env != nullptr && *env != '\0') {
    auto file = read_kernel_file(env);
    if (!file) return std::unexpected(file.error().context("the guest named by TERN_GUEST_ELF"));
    return BuiltinGuest{std::move(*file), env};
  }
#if TERN_EMBEDDED_GUEST
  const auto* begin = reinterpret_cast<const std::byte*>(tern_guest_elf_begin);
  const auto* end = reinterpret_cast<const std::byte*>(tern_guest_elf_end);
  return BuiltinGuest{std::vector<std::byte>(begin, end), "the guest built into tern"};
#else
  return make_error(
      Errc::usage,
      "this build of tern carries no built-in guest: give a kernel or set TERN_GUEST_ELF");
#endif
}

}  // namespace tern::vm::kvm
