#include "vm/kvm/multiboot.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "core/bytes.hpp"
#include "core/unique_fd.hpp"

namespace tern::vm::kvm {

namespace {

constexpr std::size_t kHeaderSearch = 8192;
constexpr std::uint32_t kFlagAddressFields = 1u << 16;
// Mandatory flag bits (0-15) this loader honours: 0 (page-align modules: we
// load none) and 1 (memory information: always given). Bit 2 (a video mode)
// and unknown ones must make a loader refuse.
constexpr std::uint32_t kFlagsUnderstood = 0x3;

// Information structure flag bits and offsets.
constexpr std::uint32_t kInfoMemory = 1u << 0, kInfoCmdline = 1u << 2, kInfoMmap = 1u << 6,
                        kInfoLoaderName = 1u << 9;
constexpr std::size_t kInfoSize = 88;
constexpr std::uint32_t kMmapAvailable = 1, kMmapReserved = 2;
constexpr std::size_t kMmapEntrySize =
    24;  // u32 size (20, not counting itself), u64 base, u64 length, u32 type
constexpr std::size_t kMmapMaxEntries = (kBootNameAddr - kBootMmapAddr) / kMmapEntrySize;
constexpr std::string_view kLoaderName = "tern";

std::uint32_t u32(std::span<const std::byte> f, std::size_t off) {
  return load_le<std::uint32_t>(f.data() + off);
}
std::uint16_t u16(std::span<const std::byte> f, std::size_t off) {
  return load_le<std::uint16_t>(f.data() + off);
}
std::uint64_t u64(std::span<const std::byte> f, std::size_t off) {
  return load_le<std::uint64_t>(f.data() + off);
}

Expected<std::vector<LoadSegment>> segments_from_address_fields(std::span<const std::byte> f,
                                                                std::uint32_t hdr,
                                                                std::uint32_t& entry) {
  if (hdr + 32 > f.size())
    return make_error(Errc::invalid, "Multiboot header at {:#x}: address fields cut off", hdr);
  const std::uint32_t header_addr = u32(f, hdr + 12), load_addr = u32(f, hdr + 16);
  const std::uint32_t load_end = u32(f, hdr + 20), bss_end = u32(f, hdr + 24);
  entry = u32(f, hdr + 28);
  if (load_addr > header_addr || header_addr - load_addr > hdr)
    return make_error(Errc::invalid,
                      "Multiboot header at {:#x}: load_addr {:#x} is after header_addr {:#x} or "
                      "before the file start",
                      hdr, load_addr, header_addr);
  const std::uint64_t file_off = hdr - (header_addr - load_addr);
  const std::uint64_t file_len =
      load_end == 0 ? f.size() - file_off : std::uint64_t{load_end} - load_addr;
  if (load_end != 0 && load_end < load_addr)
    return make_error(Errc::invalid,
                      "Multiboot header at {:#x}: load_end_addr {:#x} before load_addr {:#x}", hdr,
                      load_end, load_addr);
  if (file_off + file_len > f.size())
    return make_error(Errc::invalid,
                      "Multiboot header at {:#x}: the load range needs file bytes {:#x}..{:#x}, "
                      "the file has {:#x}",
                      hdr, file_off, file_off + file_len, f.size());
  std::uint64_t mem = file_len;
  if (bss_end != 0) {
    if (bss_end < load_addr + file_len)
      return make_error(Errc::invalid,
                        "Multiboot header at {:#x}: bss_end_addr {:#x} before the loaded end {:#x}",
                        hdr, bss_end, load_addr + file_len);
    mem = bss_end - load_addr;
  }
  return std::vector<LoadSegment>{LoadSegment{load_addr, f.subspan(file_off, file_len), mem}};
}

Expected<std::vector<LoadSegment>> segments_from_elf(std::span<const std::byte> f,
                                                     std::uint32_t& entry) {
  if (f.size() < 52 || u32(f, 0) != 0x464c457fu)
    return make_error(
        Errc::invalid,
        "not an ELF file and the Multiboot header has no address fields (flag bit 16)");
  const auto cls = static_cast<std::uint8_t>(f[4]);
  if (cls != 1 && cls != 2)
    return make_error(Errc::invalid, "ELF class {} at offset 4 is neither 32 nor 64-bit", cls);
  if (static_cast<std::uint8_t>(f[5]) != 1)
    return make_error(Errc::invalid, "ELF at offset 5: not little-endian");
  const bool is64 = cls == 2;
  if (is64 && f.size() < 64)
    return make_error(Errc::invalid, "ELF64 header cut off ({} bytes)", f.size());
  const std::uint16_t type = u16(f, 16), machine = u16(f, 18);
  if (type != 2)
    return make_error(Errc::invalid, "ELF e_type {} at offset 16 is not ET_EXEC", type);
  if (machine != 3 && machine != 62)
    return make_error(Errc::invalid, "ELF e_machine {} at offset 18 is neither i386 nor x86-64",
                      machine);
  const std::uint64_t e_entry = is64 ? u64(f, 24) : u32(f, 24);
  const std::uint64_t phoff = is64 ? u64(f, 32) : u32(f, 28);
  const std::uint16_t phentsize = u16(f, is64 ? 54 : 42), phnum = u16(f, is64 ? 56 : 44);
  const std::size_t want = is64 ? 56 : 32;
  if (phentsize < want)
    return make_error(Errc::invalid, "ELF e_phentsize {} is below {}", phentsize, want);
  if (phoff > f.size() || std::uint64_t{phnum} * phentsize > f.size() - phoff)
    return make_error(Errc::invalid,
                      "ELF program headers at {:#x} ({} x {}) run past the file end {:#x}", phoff,
                      phnum, phentsize, f.size());
  std::vector<LoadSegment> segs;
  bool entry_found = false;
  for (std::uint16_t i = 0; i < phnum; ++i) {
    const std::size_t p = phoff + std::size_t{i} * phentsize;
    if (u32(f, p) != 1) continue;  // PT_LOAD only
    std::uint64_t off, vaddr, paddr, filesz, memsz;
    if (is64) {
      off = u64(f, p + 8), vaddr = u64(f, p + 16), paddr = u64(f, p + 24), filesz = u64(f, p + 32),
      memsz = u64(f, p + 40);
    } else {
      off = u32(f, p + 4), vaddr = u32(f, p + 8), paddr = u32(f, p + 12), filesz = u32(f, p + 16),
      memsz = u32(f, p + 20);
    }
    if (filesz > memsz)
      return make_error(Errc::invalid,
                        "ELF program header {} (at {:#x}): p_filesz {:#x} exceeds p_memsz {:#x}", i,
                        p, filesz, memsz);
    if (off > f.size() || filesz > f.size() - off)
      return make_error(Errc::invalid,
                        "ELF program header {} (at {:#x}): bytes {:#x}+{:#x} run past the file end",
                        i, p, off, filesz);
    if (paddr >= (std::uint64_t{1} << 32) || memsz > (std::uint64_t{1} << 32) - paddr)
      return make_error(Errc::invalid,
                        "ELF program header {} (at {:#x}): {:#x}+{:#x} is not below 4 GiB", i, p,
                        paddr, memsz);
    if (memsz == 0) continue;
    if (e_entry >= vaddr && e_entry - vaddr < memsz) {
      entry = static_cast<std::uint32_t>(e_entry - vaddr + paddr);
      entry_found = true;
    }
    segs.push_back(LoadSegment{paddr, f.subspan(off, filesz), memsz});
  }
  if (segs.empty()) return make_error(Errc::invalid, "ELF file has no loadable (PT_LOAD) segment");
  if (!entry_found)
    return make_error(Errc::invalid, "ELF entry point {:#x} lies in no loadable segment", e_entry);
  return segs;
}

// Available ranges of the memory map: the populated frames, minus the EBDA
// (640 KiB - 1 KiB .. 640 KiB) and the legacy VGA/BIOS area, which are
// reported reserved as on a PC.
struct MmapEntry {
  std::uint64_t base, length;
  std::uint32_t type;
};

std::vector<MmapEntry> memory_map_entries(const MemoryMap& map) {
  std::vector<MmapEntry> out;
  map.for_each([&](const Extent& e) {
    std::uint64_t lo = e.first_pfn << kPageShift, hi = e.end() << kPageShift;
    auto emit = [&](std::uint64_t a, std::uint64_t b) {
      if (a < b) out.push_back({a, b - a, kMmapAvailable});
    };
    if (lo < kHighMemoryStart) {
      emit(lo, std::min(hi, kEbdaStart));
      if (hi > kEbdaStart && lo < 0xa0000)
        out.push_back({std::max(lo, kEbdaStart),
                       std::min(hi, std::uint64_t{0xa0000}) - std::max(lo, kEbdaStart),
                       kMmapReserved});
      lo = std::max(lo, kHighMemoryStart);
    }
    emit(lo, hi);
  });
  return out;
}

bool overlaps(std::uint64_t a, std::uint64_t alen, std::uint64_t b, std::uint64_t blen) {
  return a < b + blen && b < a + alen;
}

}  // namespace

Expected<MultibootImage> parse_multiboot(std::span<const std::byte> f, MultibootFormat format) {
  MultibootImage img;
  bool found = false;
  for (std::size_t off = 0; off + 12 <= std::min(f.size(), kHeaderSearch); off += 4) {
    const std::uint32_t magic = u32(f, off), flags = u32(f, off + 4), sum = u32(f, off + 8);
    if (magic == kMultibootHeaderMagic && static_cast<std::uint32_t>(magic + flags + sum) == 0) {
      img.header_offset = static_cast<std::uint32_t>(off);
      img.flags = flags;
      found = true;
      break;
    }
  }
  if (!found)
    return make_error(
        Errc::invalid,
        "no Multiboot v1 header (magic 0x1BADB002 with a valid checksum) in the first 8 KiB");
  if (const std::uint32_t unknown = img.flags & 0xffffu & ~kFlagsUnderstood; unknown != 0)
    return make_error(Errc::unsupported,
                      "Multiboot header at {:#x}: mandatory flag bits {:#x} are not supported{}",
                      img.header_offset, unknown, (unknown & 4) ? " (bit 2: a video mode)" : "");
  const bool has_fields = (img.flags & kFlagAddressFields) != 0;
  if (format == MultibootFormat::address_fields && !has_fields)
    return make_error(
        Errc::invalid,
        "Multiboot header at {:#x}: flag bit 16 is clear, so there are no address fields",
        img.header_offset);
  img.used_address_fields = format == MultibootFormat::address_fields ||
                            (format == MultibootFormat::automatic && has_fields);
  if (img.used_address_fields) {
    TERN_TRY_ASSIGN(img.segments, segments_from_address_fields(f, img.header_offset, img.entry));
  } else {
    TERN_TRY_ASSIGN(img.segments, segments_from_elf(f, img.entry));
  }
  for (std::size_t i = 0; i < img.segments.size(); ++i)
    for (std::size_t j = i + 1; j < img.segments.size(); ++j)
      if (overlaps(img.segments[i].gpa, img.segments[i].mem_size, img.segments[j].gpa,
                   img.segments[j].mem_size))
        return make_error(Errc::invalid, "segments at {:#x} and {:#x} overlap", img.segments[i].gpa,
                          img.segments[j].gpa);
  return img;
}

Expected<BootEntry> load_multiboot(const MultibootImage& image, GuestMemory& memory,
                                   std::string_view cmdline) {
  if (cmdline.size() + 1 > kBootCmdlineMax)
    return make_error(Errc::usage, "the command line is {} bytes, at most {} fit", cmdline.size(),
                      kBootCmdlineMax - 1);
  if (cmdline.find('\0') != std::string_view::npos)
    return make_error(Errc::usage, "the command line contains a NUL byte");
  const MemoryMap map = memory.map();
  const std::uint64_t boot_area = kBootInfoAddr,
                      boot_len = kBootCmdlineAddr + cmdline.size() + 1 - kBootInfoAddr;
  for (const LoadSegment& s : image.segments) {
    for (std::uint64_t pfn = s.gpa >> kPageShift; pfn <= (s.gpa + s.mem_size - 1) >> kPageShift;
         ++pfn)
      if (!map.contains(pfn))
        return make_error(Errc::usage,
                          "segment {:#x}+{:#x} does not fit in guest RAM (frame {:#x} is absent)",
                          s.gpa, s.mem_size, pfn);
    if (overlaps(s.gpa, s.mem_size, boot_area, boot_len))
      return make_error(Errc::unsupported,
                        "segment {:#x}+{:#x} overlaps the loader's information area {:#x}+{:#x}",
                        s.gpa, s.mem_size, boot_area, boot_len);
  }
  for (std::uint64_t pfn = boot_area >> kPageShift; pfn <= (boot_area + boot_len - 1) >> kPageShift;
       ++pfn)
    if (!map.contains(pfn))
      return make_error(Errc::usage,
                        "guest RAM lacks frame {:#x}, needed for the Multiboot information", pfn);

  for (const LoadSegment& s : image.segments) {
    TERN_TRY(memory.write(s.gpa, s.file));
    TERN_TRY(memory.fill_zero(s.gpa + s.file.size(), s.mem_size - s.file.size()));
  }

  const std::vector<MmapEntry> entries = memory_map_entries(map);
  if (entries.size() > kMmapMaxEntries)
    return make_error(Errc::unsupported, "the memory map has {} ranges, at most {} fit",
                      entries.size(), kMmapMaxEntries);
  std::vector<std::byte> mmap(entries.size() * kMmapEntrySize);
  std::uint64_t upper_end = kHighMemoryStart;  // contiguous RAM from 1 MiB
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::byte* e = mmap.data() + i * kMmapEntrySize;
    store_le<std::uint32_t>(e, kMmapEntrySize - 4);
    store_le<std::uint64_t>(e + 4, entries[i].base);
    store_le<std::uint64_t>(e + 12, entries[i].length);
    store_le<std::uint32_t>(e + 20, entries[i].type);
    if (entries[i].type == kMmapAvailable && entries[i].base <= upper_end &&
        entries[i].base + entries[i].length > upper_end)
      upper_end = entries[i].base + entries[i].length;
  }
  std::uint64_t lower = 0;
  for (const MmapEntry& e : entries)
    if (e.type == kMmapAvailable && e.base == 0) lower = e.length;

  std::vector<std::byte> info(kInfoSize);
  store_le<std::uint32_t>(info.data(), kInfoMemory | kInfoCmdline | kInfoMmap | kInfoLoaderName);
  store_le<std::uint32_t>(info.data() + 4, static_cast<std::uint32_t>(lower / 1024));
  store_le<std::uint32_t>(info.data() + 8,
                          static_cast<std::uint32_t>(std::min<std::uint64_t>(
                              (upper_end - kHighMemoryStart) / 1024, 0xffffffffu)));
  store_le<std::uint32_t>(info.data() + 12, 0xffffffffu);  // boot_device: none
  store_le<std::uint32_t>(info.data() + 16, static_cast<std::uint32_t>(kBootCmdlineAddr));
  store_le<std::uint32_t>(info.data() + 44, static_cast<std::uint32_t>(mmap.size()));
  store_le<std::uint32_t>(info.data() + 48, static_cast<std::uint32_t>(kBootMmapAddr));
  store_le<std::uint32_t>(info.data() + 64, static_cast<std::uint32_t>(kBootNameAddr));

  std::string name(kLoaderName);
  name.push_back('\0');
  std::string cmd(cmdline);
  cmd.push_back('\0');
  TERN_TRY(memory.write(kBootInfoAddr, info));
  TERN_TRY(memory.write(kBootMmapAddr, mmap));
  TERN_TRY(memory.write(kBootNameAddr, as_bytes(name)));
  TERN_TRY(memory.write(kBootCmdlineAddr, as_bytes(cmd)));
  return BootEntry{image.entry, static_cast<std::uint32_t>(kBootInfoAddr)};
}

Expected<std::vector<std::byte>> read_kernel_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error(fmt::format("opening the kernel {}", path), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error(fmt::format("stat {}", path), errno);
  constexpr off_t kMax = off_t{1} << 30;
  if (st.st_size > kMax)
    return make_error(Errc::usage, "kernel {} is {} bytes, larger than 1 GiB", path, st.st_size);
  std::vector<std::byte> data(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(fmt::format("reading the kernel {}", path), errno);
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  data.resize(done);
  return data;
}

}  // namespace tern::vm::kvm
