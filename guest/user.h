/* Interface between the kernel and the ring-3 workload. */
#ifndef TERN_GUEST_USER_H
#define TERN_GUEST_USER_H
#include <stdint.h>

#include "options.h"

struct user_args {
  struct guest_options opt; /* opt.base is the resolved region start */
  uint64_t tsc_hz;          /* 0 if not calibrated (pause=0) */
  uint64_t kernel_probe;    /* a kernel-only address, for fault=pf */
};

/* Lives in ring-3 memory; the kernel fills it in before entering ring 3. */
extern struct user_args user_args;
#define USER_STACK_SIZE 16384
extern uint8_t user_stack[USER_STACK_SIZE];

_Noreturn void user_main(const struct user_args *args);

/* The per-word pattern: a pure function of (pass, address), the splitmix64
 * finalizer over both, so pages moved, lost or stale all show up. */
static inline uint64_t pattern_word(uint64_t pass, uint64_t addr) {
  uint64_t z = addr ^ (pass * 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
#endif
