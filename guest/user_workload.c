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

static void write_chunk(uint64_t addr, uint64_t pass) {
  volatile uint64_t *w = (volatile uint64_t *)addr;
  for (uint64_t i = 0; i < MIB / 8; i++) w[i] = pattern_word(pass, addr + i * 8);
}

/* Returns the number of mismatching words; reports the first few. */
static uint64_t verify_chunk(uint64_t addr, uint64_t pass, uint64_t *reported) {
  const volatile uint64_t *w = (const volatile uint64_t *)addr;
  uint64_t errors = 0;
  for (uint64_t i = 0; i < MIB / 8; i++) {
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
    errors += verify_chunk(o->base + c * MIB, chunk_pass[c], &reported);
    (*verified_mib)++;
  }
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
      write_chunk(o->base + c * MIB, pass);
      chunk_pass[c] = pass;
    }
    if (o->inject == pass) {
      volatile uint64_t *victim = (volatile uint64_t *)(o->base + first * MIB + MIB / 2);
      *victim ^= 1ull << (pass % 64);
      uprint("tern-guest: injected a flipped bit at 0x%lx after pass %lu\n", (uint64_t)victim, pass);
    }
    total_errors += errors;
    uprint("pass %lu: wrote %lu MiB, verified %lu MiB, %lu errors\n", pass, o->ws, verified_mib, errors);
    pause_between_passes(a);
  }

  uint64_t verified_mib, errors = verify_region(o, &verified_mib);
  total_errors += errors;
  uprint("final: verified %lu MiB, %lu errors\n", verified_mib, errors);
  uprint("tern-guest: done, passes=%lu errors=%lu\n", pass - 1, total_errors);
  user_exit(total_errors > EXIT_ERRORS_MAX ? EXIT_ERRORS_MAX : (uint32_t)total_errors);
}
