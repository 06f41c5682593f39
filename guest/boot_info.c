#include "boot_info.h"

#include <stddef.h>

/* Multiboot v1 information structure (the fields we read). */
struct mb_info {
  uint32_t flags;
  uint32_t mem_lower; /* KiB below 1 MiB, flag bit 0 */
  uint32_t mem_upper; /* KiB above 1 MiB, flag bit 0 */
  uint32_t boot_device;
  uint32_t cmdline; /* flag bit 2 */
  uint32_t mods_count;
  uint32_t mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length; /* flag bit 6 */
  uint32_t mmap_addr;
} __attribute__((packed));

/* Each entry is preceded by its size, which does not count itself. */
struct mb_mmap_entry {
  uint32_t size;
  uint64_t base;
  uint64_t length;
  uint32_t type;
} __attribute__((packed));

#define MB_INFO_MEMORY (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MMAP (1u << 6)

static void add_range(struct boot_info *bi, uint64_t base, uint64_t length, uint32_t type) {
  if (length == 0 || bi->nranges == BOOT_MAX_RANGES) return;
  bi->ranges[bi->nranges++] = (struct mem_range){base, length, type};
  if (type == 1) {
    bi->available_bytes += length;
    if (base + length > bi->ram_top) bi->ram_top = base + length;
  }
}

const char *boot_info_parse(uint64_t info_addr, struct boot_info *bi) {
  const struct mb_info *mi = (const struct mb_info *)info_addr;
  bi->nranges = 0;
  bi->available_bytes = 0;
  bi->ram_top = 0;
  bi->cmdline[0] = '\0';

  if (mi->flags & MB_INFO_CMDLINE) {
    const char *s = (const char *)(uint64_t)mi->cmdline;
    size_t n = 0;
    while (s[n] != '\0') {
      if (n + 1 == BOOT_CMDLINE_MAX) return "command line longer than 511 bytes";
      bi->cmdline[n] = s[n];
      n++;
    }
    bi->cmdline[n] = '\0';
  }

  if (mi->flags & MB_INFO_MMAP) {
    bi->from_mmap = 1;
    uint64_t p = mi->mmap_addr, end = (uint64_t)mi->mmap_addr + mi->mmap_length;
    while (p + sizeof(struct mb_mmap_entry) <= end) {
      const struct mb_mmap_entry *e = (const struct mb_mmap_entry *)p;
      if (e->size < 20) return "memory map entry shorter than 20 bytes";
      add_range(bi, e->base, e->length, e->type);
      p += (uint64_t)e->size + 4;
    }
  } else if (mi->flags & MB_INFO_MEMORY) {
    bi->from_mmap = 0;
    add_range(bi, 0, (uint64_t)mi->mem_lower * 1024, 1);
    add_range(bi, 0x100000, (uint64_t)mi->mem_upper * 1024, 1);
  } else {
    return "loader gave neither a memory map nor mem_lower/mem_upper";
  }
  if (bi->available_bytes == 0) return "no available RAM in the memory information";
  return NULL;
}

int boot_info_is_ram(const struct boot_info *bi, uint64_t base, uint64_t len) {
  if (base + len < base) return 0;
  for (unsigned i = 0; i < bi->nranges; i++) {
    const struct mem_range *r = &bi->ranges[i];
    if (r->type == 1 && base >= r->base && base + len <= r->base + r->length) return 1;
  }
  return 0;
}
