/* Ring-0 services shared by the kernel files. */
#ifndef TERN_GUEST_KERNEL_H
#define TERN_GUEST_KERNEL_H
#include <stddef.h>
#include <stdint.h>

void serial_init(void);
void serial_write(const char *s, size_t n);
void kprint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes value to the exit port; if nothing stops the VM there, halts. */
_Noreturn void guest_exit(uint32_t value);

void cpu_init(void);
/* rflags IOPL field for ring 3 */
#define RFLAGS_IOPL3 (3ull << 12)
#define RFLAGS_RESERVED1 (1ull << 1)

/* Number of ring-3 in/out instructions emulated by the #GP handler. */
uint64_t trap_emulated_io_count(void);
/* True if [addr, addr+len) lies in memory ring 3 may read. */
int user_readable(uint64_t addr, uint64_t len);
#endif
