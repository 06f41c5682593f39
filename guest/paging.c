#include "paging.h"

#include <stddef.h>

#include "layout.h"

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull

/* 64 page directories cover PAGING_MAP_LIMIT with 2 MiB pages; the rest is
 * for the PML4, a PDPT, and page tables where 4 KiB granularity is needed
 * (the image, unaligned range edges). */
#define POOL_PAGES 80
static uint64_t pool[POOL_PAGES][512] __attribute__((aligned(4096)));
static unsigned pool_used;
static uint64_t *pml4;

static uint64_t *alloc_table(void) {
  if (pool_used == POOL_PAGES) return NULL;
  uint64_t *t = pool[pool_used++];
  for (unsigned i = 0; i < 512; i++) t[i] = 0;
  return t;
}

/* Next-level table for entry e, creating it if absent. Tables are entered
 * with U|W|P: the leaf entry alone decides the access rights. */
static uint64_t *next_table(uint64_t *e) {
  if (*e & PTE_P) return (uint64_t *)(*e & PTE_ADDR);
  uint64_t *t = alloc_table();
  if (t != NULL) *e = (uint64_t)t | PTE_U | PTE_W | PTE_P;
  return t;
}

/* Turns a 2 MiB mapping into a page table with the same rights. */
static uint64_t *split_large(uint64_t *pde) {
  uint64_t *t = alloc_table();
  if (t == NULL) return NULL;
  uint64_t base = *pde & PTE_ADDR & ~(LARGE_PAGE - 1);
  uint64_t rights = *pde & (PTE_U | PTE_W | PTE_P);
  for (unsigned i = 0; i < 512; i++) t[i] = (base + i * PAGE_SIZE) | rights;
  *pde = (uint64_t)t | PTE_U | PTE_W | PTE_P;
  return t;
}

/* Identity-maps [start, end) (page aligned) with rights, replacing whatever
 * was mapped there before. Uses 2 MiB pages where alignment allows. */
static int map_range(uint64_t start, uint64_t end, uint64_t rights) {
  uint64_t a = start;
  while (a < end) {
    uint64_t *pdpt = next_table(&pml4[(a >> 39) & 511]);
    if (pdpt == NULL) return 0;
    uint64_t *pd = next_table(&pdpt[(a >> 30) & 511]);
    if (pd == NULL) return 0;
    uint64_t *pde = &pd[(a >> 21) & 511];
    if ((a & (LARGE_PAGE - 1)) == 0 && end - a >= LARGE_PAGE) {
      *pde = a | rights | PTE_PS; /* a page table that was here is dropped */
      a += LARGE_PAGE;
      continue;
    }
    uint64_t *pt;
    if ((*pde & PTE_P) && (*pde & PTE_PS)) pt = split_large(pde);
    else pt = next_table(pde);
    if (pt == NULL) return 0;
    pt[(a >> 12) & 511] = a | rights;
    a += PAGE_SIZE;
  }
  return 1;
}

const char *paging_init(const struct boot_info *bi, uint64_t region_base, uint64_t region_len, uint64_t balloon_base,
                        uint64_t balloon_len) {
  pml4 = alloc_table();
  if (pml4 == NULL) return "page-table pool exhausted";

  for (unsigned i = 0; i < bi->nranges; i++) {
    const struct mem_range *r = &bi->ranges[i];
    if (r->type != 1) continue;
    uint64_t s = align_up(r->base, PAGE_SIZE), e = align_down(r->base + r->length, PAGE_SIZE);
    if (s < PAGE_SIZE) s = PAGE_SIZE;
    if (e > PAGING_MAP_LIMIT) e = PAGING_MAP_LIMIT;
    if (s < e && !map_range(s, e, PTE_W | PTE_P)) return "page-table pool exhausted mapping RAM";
  }
  /* The image is mapped whatever the memory map says (it is where we run). */
  uint64_t img = (uint64_t)__image_start, ro_end = (uint64_t)__ro_end;
  uint64_t user_s = (uint64_t)__user_start, user_e = (uint64_t)__user_end, end = (uint64_t)__image_end;
  if (!map_range(img, ro_end, PTE_U | PTE_P) || !map_range(ro_end, user_s, PTE_W | PTE_P) ||
      !map_range(user_s, user_e, PTE_U | PTE_W | PTE_P) || !map_range(user_e, end, PTE_W | PTE_P))
    return "page-table pool exhausted mapping the image";
  if (!map_range(region_base, region_base + region_len, PTE_U | PTE_W | PTE_P))
    return "page-table pool exhausted mapping the workload region";
  if (balloon_len != 0 && !map_range(balloon_base, balloon_base + balloon_len, PTE_U | PTE_W | PTE_P))
    return "page-table pool exhausted mapping the balloon area";

  /* CR0.WP: ring 0 honours read-only pages too. */
  uint64_t cr0;
  __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
  __asm__ volatile("mov %0, %%cr0" ::"r"(cr0 | (1ull << 16)));
  __asm__ volatile("mov %0, %%cr3" ::"r"((uint64_t)pml4) : "memory");
  return NULL;
}
