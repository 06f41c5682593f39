/* COM1 console for ring 0, and the exit path. */
#include <stdarg.h>

#include "abi.h"
#include "format.h"
#include "io.h"
#include "kernel.h"

void serial_init(void) {
  outb(PORT_COM1 + 1, 0x00); /* no interrupts */
  outb(PORT_COM1 + 3, 0x80); /* DLAB */
  outb(PORT_COM1 + 0, 0x01); /* divisor 1: 115200 baud */
  outb(PORT_COM1 + 1, 0x00);
  outb(PORT_COM1 + 3, 0x03); /* 8N1 */
  outb(PORT_COM1 + 2, 0xc7); /* FIFO on, cleared */
  outb(PORT_COM1 + 4, 0x03); /* DTR | RTS */
}

static void serial_putc(char c) {
  /* Bounded wait for the transmitter; a VMM without a UART model reads 0xff. */
  for (unsigned i = 0; i < 100000 && (inb(PORT_COM1_LSR) & 0x20) == 0; i++) __asm__ volatile("pause");
  outb(PORT_COM1, (uint8_t)c);
}

void serial_write(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) serial_putc(s[i]);
}

void kprint(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  size_t n = format_v(buf, sizeof buf, fmt, ap);
  va_end(ap);
  serial_write(buf, n);
}

_Noreturn void guest_exit(uint32_t value) {
  outl(PORT_EXIT, value);
  kprint("tern-guest: exit port 0x%x ignored, halting\n", PORT_EXIT);
  halt_forever();
}
