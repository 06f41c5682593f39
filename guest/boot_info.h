/* What the kernel keeps from the Multiboot information structure. It is
 * copied out at boot because the loader's copy lives in memory the final
 * page tables do not promise to map. */
#ifndef TERN_GUEST_BOOT_INFO_H
#define TERN_GUEST_BOOT_INFO_H
#include <stdint.h>

#define BOOT_MAX_RANGES 64
#define BOOT_CMDLINE_MAX 512

struct mem_range {
  uint64_t base;
  uint64_t length;
  uint32_t type; /* Multiboot: 1 = available RAM */
};

struct boot_info {
  char cmdline[BOOT_CMDLINE_MAX];
  struct mem_range ranges[BOOT_MAX_RANGES];
  unsigned nranges;
  uint64_t available_bytes; /* sum of type-1 ranges */
  uint64_t ram_top;         /* end of the highest type-1 range */
  int from_mmap;            /* 1: full memory map, 0: mem_lower/mem_upper only */
};

/* Returns NULL or a message saying what is wrong with the information. */
const char *boot_info_parse(uint64_t info_addr, struct boot_info *out);

/* True if [base, base+len) lies entirely inside one available range. */
int boot_info_is_ram(const struct boot_info *bi, uint64_t base, uint64_t len);
#endif
