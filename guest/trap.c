/* Ring-0 trap handling: int 0x80 system calls, emulation of ring-3 port I/O
 * that raised #GP, and reporting of every other exception (fatal). */
#include "trap.h"

#include "abi.h"
#include "io.h"
#include "kernel.h"
#include "layout.h"

static uint64_t emulated_io;

uint64_t trap_emulated_io_count(void) { return emulated_io; }

static int in_range(uint64_t addr, uint64_t len, uint64_t start, uint64_t end) {
  return addr >= start && addr + len >= addr && addr + len <= end;
}

int user_readable(uint64_t addr, uint64_t len) {
  return in_range(addr, len, (uint64_t)__image_start, (uint64_t)__ro_end) ||
         in_range(addr, len, (uint64_t)__user_start, (uint64_t)__user_end);
}

static int guest_port(uint64_t port) {
  return (port >= PORT_COM1 && port < PORT_COM1 + 8) || port == PORT_EXIT ||
         (port >= PORT_HYPERCALL_BASE && port < PORT_HYPERCALL_BASE + PORT_HYPERCALL_COUNT);
}

static int valid_size(uint64_t size) { return size == 1 || size == 2 || size == 4; }

static uint64_t syscall(struct trap_frame *f) {
  switch (f->rax) {
  case SYS_WRITE:
    if (!user_readable(f->rdi, f->rsi)) return (uint64_t)-1;
    serial_write((const char *)f->rdi, f->rsi);
    return f->rsi;
  case SYS_EXIT: guest_exit((uint32_t)f->rdi);
  case SYS_PORT_OUT:
    if (!guest_port(f->rdi) || !valid_size(f->rsi)) return (uint64_t)-1;
    port_out((uint16_t)f->rdi, (unsigned)f->rsi, (uint32_t)f->rdx);
    return 0;
  case SYS_PORT_IN:
    if (!guest_port(f->rdi) || !valid_size(f->rsi)) return (uint64_t)-1;
    return port_in((uint16_t)f->rdi, (unsigned)f->rsi);
  }
  return (uint64_t)-1;
}

/* Decodes the ring-3 instruction at rip; if it is a non-string in/out
 * (E4-E7, EC-EF, optional 66/REX prefixes), performs it and steps over it.
 * With IOPL 3 these do not fault on bare hardware, but they did under PVM
 * in one guest, so the guest does them here on ring 3's behalf. */
static int emulate_port_io(struct trap_frame *f) {
  if ((f->cs & 3) != 3 || f->error != 0 || !user_readable(f->rip, 6)) return 0;
  const uint8_t *p = (const uint8_t *)f->rip;
  unsigned n = 0, wide = 4;
  while (n < 4 && (p[n] == 0x66 || (p[n] & 0xf0) == 0x40)) {
    if (p[n] == 0x66) wide = 2;
    n++;
  }
  uint8_t op = p[n++];
  unsigned size = (op & 1) ? wide : 1;
  int is_in;
  uint16_t port;
  switch (op) {
  case 0xe4: case 0xe5: is_in = 1; port = p[n++]; break;
  case 0xe6: case 0xe7: is_in = 0; port = p[n++]; break;
  case 0xec: case 0xed: is_in = 1; port = (uint16_t)f->rdx; break;
  case 0xee: case 0xef: is_in = 0; port = (uint16_t)f->rdx; break;
  default: return 0;
  }
  if (is_in) {
    uint64_t v = port_in(port, size);
    if (size == 1) f->rax = (f->rax & ~0xffull) | v;
    else if (size == 2) f->rax = (f->rax & ~0xffffull) | v;
    else f->rax = v; /* 32-bit destination zero-extends */
  } else {
    port_out(port, size, (uint32_t)f->rax);
  }
  f->rip += n;
  emulated_io++;
  return 1;
}

/* Under PVM (this project's /dev/kvm) a ring-3 `int 0x80` raises #UD
 * instead of entering the IDT gate: the host reserves that vector for its
 * own 32-bit system calls. If the faulting ring-3 instruction is `int 0x80`
 * (CD 80), this is the system call it meant: do it and step over it. */
static int emulate_int80(struct trap_frame *f) {
  if ((f->cs & 3) != 3 || !user_readable(f->rip, 2)) return 0;
  const uint8_t *p = (const uint8_t *)f->rip;
  if (p[0] != 0xcd || p[1] != SYSCALL_VECTOR) return 0;
  f->rip += 2;
  f->rax = syscall(f);
  return 1;
}

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "?15",
    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "?22", "?23", "?24", "?25", "?26", "?27", "#HV", "#VC", "#SX", "?31"};

void trap_dispatch(struct trap_frame *f) {
  if (f->vector == SYSCALL_VECTOR) {
    f->rax = syscall(f);
    return;
  }
  if (f->vector == 13 && emulate_port_io(f)) return;
  if (f->vector == 6 && emulate_int80(f)) return;

  kprint("tern-guest: exception %lu (%s) error=0x%lx rip=0x%lx cs=0x%lx rflags=0x%lx rsp=0x%lx cr2=0x%lx ring=%lu\n",
         f->vector, f->vector < 32 ? exception_names[f->vector] : "?", f->error, f->rip, f->cs, f->rflags, f->rsp,
         read_cr2(), f->cs & 3);
  guest_exit(EXIT_EXCEPTION);
}
