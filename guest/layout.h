/* Symbols from linker.ld describing the loaded image, and section markers. */
#ifndef TERN_GUEST_LAYOUT_H
#define TERN_GUEST_LAYOUT_H
#include <stdint.h>

extern char __image_start[]; /* load address (1 MiB) */
extern char __ro_end[];      /* end of .text + .rodata: mapped read-only, user-readable */
extern char __data_end[];    /* end of the file-backed part */
extern char __user_start[];  /* ring-3 read/write data (.bss.user*) */
extern char __user_end[];
extern char __image_end[];   /* end of .bss */

/* Ring-3 read/write data lives in its own page-aligned range. */
#define USER_BSS __attribute__((section(".bss.user")))

#define PAGE_SIZE 4096ul
#define MIB (1024ul * 1024ul)
#define LARGE_PAGE (2 * MIB)

static inline uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
static inline uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }
#endif
