// Multiboot v1 loading (the spec's facts: header magic 0x1BADB002 in the
// first 8 KiB, 4-byte aligned; the "a.out kludge" address fields when flag
// bit 16 is set, else the ELF program headers; the information structure
// with memory bounds, memory map and command line; entry in 32-bit protected
// mode with eax = 0x2BADB002 and ebx = the information's address).
//
// Parsing is separate from loading so the image is checked completely
// before guest memory is touched.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "vm/kvm/guest_memory.hpp"

namespace tern::vm::kvm {

inline constexpr std::uint32_t kMultibootHeaderMagic = 0x1BADB002;
inline constexpr std::uint32_t kMultibootBootMagic = 0x2BADB002;

// Where the loader puts its information: low memory, below the EBDA.
inline constexpr std::uint64_t kBootInfoAddr = 0x9000;
inline constexpr std::uint64_t kBootMmapAddr = 0x9100;
inline constexpr std::uint64_t kBootNameAddr = 0x9800;
inline constexpr std::uint64_t kBootCmdlineAddr = 0xa000;
inline constexpr std::size_t kBootCmdlineMax = 0x10000;  // including the NUL
inline constexpr std::uint64_t kEbdaStart = 0x9fc00;
inline constexpr std::uint64_t kHighMemoryStart = 0x100000;

// How to find the image's segments.
enum class MultibootFormat {
  automatic,       // the spec's rule: address fields if flag bit 16, else ELF
  elf,             // the ELF program headers even if the address fields are valid
  address_fields,  // the address fields (fails if flag bit 16 is clear)
};

struct LoadSegment {
  std::uint64_t gpa = 0;            // physical load address
  std::span<const std::byte> file;  // bytes copied there
  std::uint64_t mem_size = 0;       // >= file.size(); the rest is zeroed
};

struct MultibootImage {
  std::uint32_t header_offset = 0;  // file offset of the Multiboot header
  std::uint32_t flags = 0;
  std::uint32_t entry = 0;  // physical entry point
  std::vector<LoadSegment> segments;
  bool used_address_fields = false;
};

// Checks and decodes `file` (which must outlive the result). Errors name the
// field and file offset at fault.
Expected<MultibootImage> parse_multiboot(std::span<const std::byte> file, MultibootFormat format);

struct BootEntry {
  std::uint32_t eip = 0;
  std::uint32_t ebx = 0;  // the information structure
};

// Copies the segments and writes the information structure (memory bounds
// and map from memory's populated frames, command line, loader name) into
// guest memory, refusing overlaps with guest RAM holes or with each other.
Expected<BootEntry> load_multiboot(const MultibootImage& image, GuestMemory& memory,
                                   std::string_view cmdline);

// Reads a whole kernel file.
Expected<std::vector<std::byte>> read_kernel_file(const std::string& path);

}  // namespace tern::vm::kvm
