/* The ring-3 workload: writes pattern_word(pass, address) over the region,
 * verifies every earlier write before each new pass, reports on COM1 and
 * exits through port 0xf4 with the error count.
 *
 * Runs in ring 3: it may touch only the region, its own .bss.user data and
 * the read-only text. Port I/O goes through io_out/io_in, which follow the
 * io= option (syscall, direct, gp). */
#include <stdarg.h>
#include <stddef.h>

#include "abi.h"
#include "format.h"
#include "io.h"
#include "layout.h"
#include "user.h"

struct user_args user_args USER_BSS;
uint8_t user_stack[USER_STACK_SIZE] USER_BSS __attribute__((aligned(16)));
/* The pass that last wrote each MiB of the region (0 = never written). */
static uint64_t chunk_pass[OPT_MAX_MIB] USER_BSS;
static enum io_mode io_mode USER_BSS;

/* Balloon (balloon=N[,PERIOD], README.md): what ring 3 knows about each page
 * of the balloon area. ABSENT: given to the VMM. UNTOUCHED: present, never
 * written by us. Otherwise the page holds pattern_word(BALLOON_TAG_BASE +
 * step, address) written at balloon step (state - 2). */
#define BALLOON_ABSENT 0u
#define BALLOON_UNTOUCHED 1u
#define BALLOON_TAG_BASE (1ull << 48) /* never a pass number a run reaches */
#define BALLOON_SEED 0x62616c6c6f6f6e31ull
static uint32_t balloon_state[OPT_MAX_BALLOON_PAGES] USER_BSS;
static struct balloon_request balloon_req USER_BSS __attribute__((aligned(8)));
static int balloon_on USER_BSS;
static uint64_t balloon_steps USER_BSS, balloon_removed USER_BSS, balloon_returned USER_BSS;
static uint64_t balloon_errors USER_BSS; /* stale pages and refused requests */
static uint64_t pages_written USER_BSS;

static uint64_t sys3(uint64_t nr, uint64_t a, uint64_t b, uint64_t c) {
  uint64_t ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "memory");
  return ret;
}

static void io_out(uint16_t port, unsigned size, uint32_t v) {
  if (io_mode == IO_SYSCALL) sys3(SYS_PORT_OUT, port, size, v);
  else port_out(port, size, v); /* #GP-emulated by ring 0 if it faults */
}

static uint32_t io_in(uint16_t port, unsigned size) {
  if (io_mode == IO_SYSCALL) return (uint32_t)sys3(SYS_PORT_IN, port, size, 0);
  return port_in(port, size);
}

static void console_write(const char *s, size_t n) {
  if (io_mode == IO_SYSCALL) {
    sys3(SYS_WRITE, (uint64_t)s, n, 0); /* one trap per line */
    return;
  }
  for (size_t i = 0; i < n; i++) {
    for (unsigned t = 0; t < 100000 && (io_in(PORT_COM1_LSR, 1) & 0x20) == 0; t++) __asm__ volatile("pause");
    io_out(PORT_COM1, 1, (uint8_t)s[i]);
  }
}

static void uprint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void uprint(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  size_t n = format_v(buf, sizeof buf, fmt, ap);
  va_end(ap);
  console_write(buf, n);
}

static _Noreturn void user_exit(uint32_t value) {
  if (io_mode != IO_SYSCALL) io_out(PORT_EXIT, 4, value);
  sys3(SYS_EXIT, value, 0, 0); /* also halts if the exit port did nothing */
  for (;;) __asm__ volatile("pause");
}

static void write_page(uint64_t addr, uint64_t pass) {
  volatile uint64_t *w = (volatile uint64_t *)addr;
  for (uint64_t i = 0; i < PAGE_SIZE / 8; i++) w[i] = pattern_word(pass, addr + i * 8);
}

/* One request to the VMM: a single 32-bit OUT of the block's address. */
static uint32_t balloon_request(uint32_t command, uint64_t pfn) {
  balloon_req.command = command;
  balloon_req.status = BALLOON_STATUS_NONE;
  balloon_req.first_pfn = pfn;
  balloon_req.count = 1;
  __asm__ volatile("" ::: "memory");
  io_out(PORT_BALLOON_REQUEST, 4, (uint32_t)(uint64_t)&balloon_req);
  __asm__ volatile("" ::: "memory");
  return *(volatile uint32_t *)&balloon_req.status;
}

static void balloon_refused(const char *what, uint64_t addr, uint32_t status) {
  uprint("tern-guest: balloon: %s of page 0x%lx failed (status 0x%x), ballooning off\n", what, addr, status);
  balloon_errors++;
  balloon_on = 0;
}

/* One step (seed 002's moving memory map): a pseudo-random balloon page is
 * given to the VMM if present, or taken back, checked to read zero and
 * written with its tag if absent. */
static void balloon_step(const struct guest_options *o) {
  uint64_t step = balloon_steps++;
  uint64_t k = pattern_word(BALLOON_SEED, step) % o->balloon_pages;
  uint64_t addr = o->balloon_base + k * PAGE_SIZE;
  if (balloon_state[k] != BALLOON_ABSENT) {
    uint32_t st = balloon_request(BALLOON_REMOVE, addr / PAGE_SIZE);
    if (st != BALLOON_STATUS_OK) {
      balloon_refused("remove", addr, st);
      return;
    }
    balloon_state[k] = BALLOON_ABSENT;
    balloon_removed++;
    return;
  }
  uint32_t st = balloon_request(BALLOON_RETURN, addr / PAGE_SIZE);
  if (st != BALLOON_STATUS_OK) {
    balloon_refused("return", addr, st);
    return;
  }
  /* A page given back must read zero: anything else is stale data. */
  const volatile uint64_t *w = (const volatile uint64_t *)addr;
  uint64_t stale = 0;
  for (uint64_t i = 0; i < PAGE_SIZE / 8; i++) stale += w[i] != 0;
  if (stale != 0) {
    uprint("tern-guest: balloon: page 0x%lx came back with %lu non-zero words\n", addr, stale);
    balloon_errors += stale;
  }
  write_page(addr, BALLOON_TAG_BASE + step);
  balloon_state[k] = (uint32_t)(step + 2);
  balloon_returned++;
}

static void write_chunk(const struct guest_options *o, uint64_t addr, uint64_t pass) {
  for (uint64_t p = 0; p < MIB / PAGE_SIZE; p++) {
    write_page(addr + p * PAGE_SIZE, pass);
    if (balloon_on && ++pages_written % o->balloon_period == 0) balloon_step(o);
  }
}

/* Returns the number of mismatching words in [addr, addr+len); reports the first few. */
static uint64_t verify_range(uint64_t addr, uint64_t len, uint64_t pass, uint64_t *reported) {
  const volatile uint64_t *w = (const volatile uint64_t *)addr;
  uint64_t errors = 0;
  for (uint64_t i = 0; i < len / 8; i++) {
    uint64_t want = pattern_word(pass, addr + i * 8), got = w[i];
    if (got != want) {
      errors++;
      if (*reported < 4) {
        (*reported)++;
        uprint("tern-guest: mismatch at 0x%lx: expected 0x%016lx (pass %lu), found 0x%016lx\n", addr + i * 8, want,
               pass, got);
      }
    }
  }
  return errors;
}

/* Verifies every MiB written so far against the pass that wrote it. */
static uint64_t verify_region(const struct guest_options *o, uint64_t *verified_mib) {
  uint64_t errors = 0, reported = 0;
  *verified_mib = 0;
  for (uint64_t c = 0; c < o->mib; c++) {
    if (chunk_pass[c] == 0) continue;
    errors += verify_range(o->base + c * MIB, MIB, chunk_pass[c], &reported);
    (*verified_mib)++;
  }
  for (uint64_t k = 0; balloon_on && k < o->balloon_pages; k++)
    if (balloon_state[k] > BALLOON_UNTOUCHED)
      errors += verify_range(o->balloon_base + k * PAGE_SIZE, PAGE_SIZE, BALLOON_TAG_BASE + balloon_state[k] - 2,
                             &reported);
  return errors;
}

static void pause_between_passes(const struct user_args *a) {
  if (a->opt.pause_us == 0 || a->tsc_hz == 0) return;
  uint64_t ticks = a->opt.pause_us * (a->tsc_hz / 1000000ull), start = rdtsc();
  while (rdtsc() - start < ticks) __asm__ volatile("pause");
}

_Noreturn void user_main(const struct user_args *a) {
  const struct guest_options *o = &a->opt;
  io_mode = o->io;
  uprint("tern-guest: ring 3 workload running\n");

  if (o->balloon_pages != 0) {
    uint32_t sig = io_in(PORT_HYPERCALL_SIGNATURE, 4);
    if (sig == HYPERCALL_SIGNATURE) {
      balloon_on = 1;
      for (uint64_t k = 0; k < o->balloon_pages; k++) balloon_state[k] = BALLOON_UNTOUCHED;
      uprint("tern-guest: balloon: %lu pages at 0x%lx, a step every %lu pages written\n", o->balloon_pages,
             o->balloon_base, o->balloon_period);
    } else {
      uprint("tern-guest: balloon: no tern VMM (port 0x%x reads 0x%x), ballooning off\n", PORT_HYPERCALL_SIGNATURE,
             sig);
    }
  }

  if (o->fault == FAULT_UD) __asm__ volatile("ud2");
  if (o->fault == FAULT_PF) *(volatile uint64_t *)a->kernel_probe = 0; /* must fault: supervisor page */

  uint64_t total_errors = 0, pass;
  for (pass = 1; o->passes == 0 || pass <= o->passes; pass++) {
    uint64_t verified_mib;
    uint64_t errors = pass > 1 ? verify_region(o, &verified_mib) : (verified_mib = 0);

    /* This pass writes ws MiB, starting where the previous one stopped. */
    uint64_t first = ((pass - 1) % o->mib) * o->ws % o->mib;
    for (uint64_t i = 0; i < o->ws; i++) {
      uint64_t c = (first + i) % o->mib;
      write_chunk(o, o->base + c * MIB, pass);
      chunk_pass[c] = pass;
    }
    if (o->inject == pass) {
      volatile uint64_t *victim = (volatile uint64_t *)(o->base + first * MIB + MIB / 2);
      *victim ^= 1ull << (pass % 64);
      uprint("tern-guest: injected a flipped bit at 0x%lx after pass %lu\n", (uint64_t)victim, pass);
    }
    errors += balloon_errors;
    balloon_errors = 0;
    total_errors += errors;
    uprint("pass %lu: wrote %lu MiB, verified %lu MiB, %lu errors\n", pass, o->ws, verified_mib, errors);
    pause_between_passes(a);
  }

  uint64_t verified_mib, errors = verify_region(o, &verified_mib) + balloon_errors;
  total_errors += errors;
  uprint("final: verified %lu MiB, %lu errors\n", verified_mib, errors);
  if (balloon_steps != 0) {
    uint64_t absent = 0;
    for (uint64_t k = 0; k < o->balloon_pages; k++) absent += balloon_state[k] == BALLOON_ABSENT;
    uprint("balloon: %lu steps, %lu pages removed, %lu returned, %lu absent now\n", balloon_steps, balloon_removed,
           balloon_returned, absent);
  }
  uprint("tern-guest: done, passes=%lu errors=%lu\n", pass - 1, total_errors);
  user_exit(total_errors > EXIT_ERRORS_MAX ? EXIT_ERRORS_MAX : (uint32_t)total_errors);
}
