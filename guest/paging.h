/* Final identity-mapped page tables (replacing the boot tables).
 * Kernel-only RAM: supervisor read/write; image text+rodata: read-only and
 * ring-3 readable; ring-3 data and the workload region: user read/write.
 * Page 0 is left unmapped to catch null pointers. */
#ifndef TERN_GUEST_PAGING_H
#define TERN_GUEST_PAGING_H
#include <stdint.h>

#include "boot_info.h"

/* RAM above this is not mapped (bounds the static page-table pool). */
#define PAGING_MAP_LIMIT (64ul << 30)

/* Returns NULL or a message. The balloon area (len 0: none) is user
 * read/write like the region. */
const char *paging_init(const struct boot_info *bi, uint64_t region_base, uint64_t region_len, uint64_t balloon_base,
                        uint64_t balloon_len);
#endif
