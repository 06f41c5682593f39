// The Multiboot v1 loader of the KVM backend, without /dev/kvm: it loads
// into GuestMemory (a memfd), so the same bytes a vCPU would see are checked.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "core/bytes.hpp"
#include "vm/kvm/builtin_guest.hpp"
#include "vm/kvm/multiboot.hpp"

namespace tern::vm::kvm {
namespace {

std::vector<std::byte> guest_elf() {
  auto g = builtin_guest();
  EXPECT_TRUE(g.has_value()) << (g ? "" : g.error().message());
  return g ? g->elf : std::vector<std::byte>{};
}

std::unique_ptr<GuestMemory> ram(std::uint64_t bytes, bool fill_ff = false) {
  auto m = GuestMemory::create(bytes);
  EXPECT_TRUE(m.has_value());
  for (const RamSlot& s : (*m)->slots()) EXPECT_TRUE((*m)->populate(s.first_pfn(), s.pages()));
  if (fill_ff)  // stale contents the loader must overwrite or zero
    for (std::uint64_t pfn = 0x100; pfn < 0x200; ++pfn)
      std::memset((*m)->page(pfn), 0xff, kPageSize);
  return std::move(*m);
}

std::uint32_t u32_at(GuestMemory& m, std::uint64_t gpa) {
  return load_le<std::uint32_t>(m.page(gpa >> kPageShift) + (gpa & (kPageSize - 1)));
}

TEST(MultibootLoader, AddressFieldsAndElfHeadersLoadTheSameBytes) {
  const auto file = guest_elf();
  auto fields = parse_multiboot(file, MultibootFormat::automatic);
  ASSERT_TRUE(fields.has_value()) << fields.error().message();
  EXPECT_TRUE(fields->used_address_fields);  // flag bit 16 is set: the spec's rule
  auto elf = parse_multiboot(file, MultibootFormat::elf);
  ASSERT_TRUE(elf.has_value()) << elf.error().message();
  EXPECT_FALSE(elf->used_address_fields);
  EXPECT_EQ(fields->entry, elf->entry);
  ASSERT_EQ(fields->segments.size(), 1U);
  ASSERT_EQ(elf->segments.size(), 1U);
  EXPECT_EQ(fields->segments[0].gpa, 0x100000U);
  EXPECT_EQ(fields->segments[0].gpa, elf->segments[0].gpa);
  EXPECT_EQ(fields->segments[0].mem_size, elf->segments[0].mem_size);
  EXPECT_GT(fields->segments[0].mem_size, fields->segments[0].file.size());  // there is a bss

  auto a = ram(16 << 20, true), b = ram(16 << 20, true);
  ASSERT_TRUE(load_multiboot(*fields, *a, "passes=1"));
  ASSERT_TRUE(load_multiboot(*elf, *b, "passes=1"));
  for (std::uint64_t pfn = 0; pfn < (16 << 20) / kPageSize; ++pfn)
    ASSERT_EQ(std::memcmp(a->page(pfn), b->page(pfn), kPageSize), 0) << "frame " << pfn;
  // The bss was zeroed over the stale 0xff bytes.
  const LoadSegment& s = fields->segments[0];
  for (std::uint64_t gpa = s.gpa + s.file.size(); gpa < s.gpa + s.mem_size; ++gpa)
    ASSERT_EQ(std::to_integer<int>(a->page(gpa >> kPageShift)[gpa & (kPageSize - 1)]), 0)
        << "bss at " << gpa;
  // ... and not a byte beyond it.
  EXPECT_EQ(std::to_integer<int>(a->page((s.gpa + s.mem_size) >> kPageShift)[0]), 0xff);
}

TEST(MultibootLoader, InformationStructureDescribesMemoryAndCommandLine) {
  const auto file = guest_elf();
  auto img = parse_multiboot(file, MultibootFormat::automatic);
  ASSERT_TRUE(img.has_value());
  auto m = ram(32 << 20);
  auto entry = load_multiboot(*img, *m, "passes=2 mib=8");
  ASSERT_TRUE(entry.has_value()) << entry.error().message();
  EXPECT_EQ(entry->eip, img->entry);
  const std::uint64_t info = entry->ebx;
  const std::uint32_t flags = u32_at(*m, info);
  EXPECT_EQ(flags & 0x245U, 0x245U);      // memory, command line, memory map, loader name
  EXPECT_EQ(u32_at(*m, info + 4), 639U);  // mem_lower, KiB
  EXPECT_EQ(u32_at(*m, info + 8), (32U << 10) - 1024U);  // mem_upper, KiB above 1 MiB
  const std::uint32_t cmd = u32_at(*m, info + 16);
  EXPECT_STREQ(reinterpret_cast<const char*>(m->page(cmd >> kPageShift) + (cmd & 0xfff)),
               "passes=2 mib=8");
  const std::uint32_t mmap_len = u32_at(*m, info + 44), mmap = u32_at(*m, info + 48);
  ASSERT_EQ(mmap_len, 3U * 24U);
  struct E {
    std::uint64_t base, len;
    std::uint32_t type;
  };
  const E want[] = {{0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0x100000, (32 << 20) - 0x100000, 1}};
  for (int i = 0; i < 3; ++i) {
    const std::byte* e = m->page(mmap >> kPageShift) + (mmap & 0xfff) + i * 24;
    EXPECT_EQ(load_le<std::uint32_t>(e), 20U);
    EXPECT_EQ(load_le<std::uint64_t>(e + 4), want[i].base) << i;
    EXPECT_EQ(load_le<std::uint64_t>(e + 12), want[i].len) << i;
    EXPECT_EQ(load_le<std::uint32_t>(e + 20), want[i].type) << i;
  }
}

TEST(MultibootLoader, RamAbove3GiBStartsAt4GiB) {
  const std::uint64_t size = (3ULL << 30) + (512ULL << 20);
  auto m = ram(size);  // address space only: nothing is touched
  ASSERT_EQ(m->slots().size(), 2U);
  EXPECT_EQ(m->slots()[1].gpa, 0x100000000ULL);
  EXPECT_EQ(m->page(0xc0000), nullptr);  // the 3-4 GiB hole
  EXPECT_NE(m->page(0x100000), nullptr);
  const auto file = guest_elf();  // the image refers into it
  auto img = parse_multiboot(file, MultibootFormat::automatic);
  ASSERT_TRUE(img.has_value());
  auto entry = load_multiboot(*img, *m, "");
  ASSERT_TRUE(entry.has_value());
  const std::uint32_t mmap = u32_at(*m, entry->ebx + 48);
  ASSERT_EQ(u32_at(*m, entry->ebx + 44), 4U * 24U);
  const std::byte* last = m->page(mmap >> kPageShift) + (mmap & 0xfff) + 3 * 24;
  EXPECT_EQ(load_le<std::uint64_t>(last + 4), 0x100000000ULL);
  EXPECT_EQ(load_le<std::uint64_t>(last + 12), 512ULL << 20);
}

TEST(MultibootLoader, RefusesBrokenImagesNamingWhatIsWrong) {
  auto msg = [](std::span<const std::byte> f, MultibootFormat fmt = MultibootFormat::automatic) {
    auto r = parse_multiboot(f, fmt);
    return r ? std::string("accepted") : r.error().message();
  };
  std::vector<std::byte> junk(8192, std::byte{0x90});
  EXPECT_NE(msg(junk).find("no Multiboot v1 header"), std::string::npos);

  const auto good = guest_elf();
  auto find_header = [&](const std::vector<std::byte>& f) {
    for (std::size_t off = 0; off + 12 <= f.size(); off += 4)
      if (load_le<std::uint32_t>(f.data() + off) == kMultibootHeaderMagic) return off;
    return std::size_t{0};
  };
  const std::size_t hdr = find_header(good);
  ASSERT_NE(hdr, 0U);

  auto bad_sum = good;
  store_le<std::uint32_t>(bad_sum.data() + hdr + 8,
                          load_le<std::uint32_t>(bad_sum.data() + hdr + 8) + 1);
  EXPECT_NE(msg(bad_sum).find("no Multiboot v1 header"), std::string::npos);

  auto video = good;  // flag bit 2 (a video mode) with the checksum fixed
  const std::uint32_t flags = load_le<std::uint32_t>(video.data() + hdr + 4) | 4U;
  store_le<std::uint32_t>(video.data() + hdr + 4, flags);
  store_le<std::uint32_t>(video.data() + hdr + 8, 0U - (kMultibootHeaderMagic + flags));
  EXPECT_NE(msg(video).find("bit 2: a video mode"), std::string::npos) << msg(video);

  auto no_fields = good;  // bit 16 clear: the ELF headers are used
  const std::uint32_t f2 = load_le<std::uint32_t>(no_fields.data() + hdr + 4) & ~(1U << 16);
  store_le<std::uint32_t>(no_fields.data() + hdr + 4, f2);
  store_le<std::uint32_t>(no_fields.data() + hdr + 8, 0U - (kMultibootHeaderMagic + f2));
  auto r = parse_multiboot(no_fields, MultibootFormat::automatic);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_FALSE(r->used_address_fields);
  EXPECT_NE(msg(no_fields, MultibootFormat::address_fields).find("flag bit 16 is clear"),
            std::string::npos);

  auto cut = good;  // the load range runs past the end of the file
  cut.resize(hdr + 64);
  EXPECT_NE(msg(cut).find("the load range needs file bytes"), std::string::npos) << msg(cut);

  auto bad_elf = no_fields;  // p_filesz > p_memsz in the ELF program header
  const std::uint32_t phoff = load_le<std::uint32_t>(bad_elf.data() + 28);
  store_le<std::uint32_t>(bad_elf.data() + phoff + 16, 0x7fffffff);
  EXPECT_NE(msg(bad_elf).find("exceeds p_memsz"), std::string::npos) << msg(bad_elf);

  // The image does not fit: the frame that is missing is named.
  auto img = parse_multiboot(good, MultibootFormat::automatic);
  ASSERT_TRUE(img.has_value());
  auto small = ram(1 << 20);
  auto load = load_multiboot(*img, *small, "");
  ASSERT_FALSE(load.has_value());
  EXPECT_NE(load.error().message().find("frame 0x100 is absent"), std::string::npos)
      << load.error().message();
  auto big = ram(16 << 20);
  load = load_multiboot(*img, *big, std::string(kBootCmdlineMax, 'x'));
  ASSERT_FALSE(load.has_value());
  EXPECT_NE(load.error().message().find("command line"), std::string::npos);
}

TEST(BuiltinGuest, IsLinkedIntoTheBinaryAndTernGuestElfOverridesIt) {
  ::unsetenv("TERN_GUEST_ELF");
  auto embedded = builtin_guest();
  ASSERT_TRUE(embedded.has_value()) << embedded.error().message();
  EXPECT_EQ(embedded->origin, "the guest built into tern");
  auto image = parse_multiboot(embedded->elf, MultibootFormat::automatic);
  ASSERT_TRUE(image.has_value()) << image.error().message();

  // The override is read from the file it names, and a bad name is an error
  // that says where the name came from, not a silent fall back.
  ::setenv("TERN_GUEST_ELF", "/nonexistent/tern-guest.elf", 1);
  auto missing = builtin_guest();
  ::unsetenv("TERN_GUEST_ELF");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("TERN_GUEST_ELF"), std::string::npos);
  EXPECT_NE(missing.error().message().find("/nonexistent/tern-guest.elf"), std::string::npos);
}

}  // namespace
}  // namespace tern::vm::kvm
