/* The guest's contract with whoever runs it (QEMU, tern's KVM backend):
 * I/O ports, exit values and the Multiboot v1 header constants.
 * Shared by C and assembly; documented in guest/README.md. */
#ifndef TERN_GUEST_ABI_H
#define TERN_GUEST_ABI_H

/* COM1 16550 UART: all console output. */
#define PORT_COM1 0x3f8
#define PORT_COM1_LSR (PORT_COM1 + 5)

/* Exit port (QEMU isa-debug-exit convention, iobase=0xf4 iosize=4): the guest
 * writes one 32-bit value; QEMU exits with status (value << 1) | 1. */
#define PORT_EXIT 0xf4

/* Hypercall ports: tern's VMM-to-guest protocol (README.md, "Balloon
 * protocol"). Nothing else may claim 0x0f40-0x0f4f. */
#define PORT_HYPERCALL_BASE 0x0f40
#define PORT_HYPERCALL_COUNT 16
/* in32: HYPERCALL_SIGNATURE when a tern VMM serves these ports; a machine
 * without them (QEMU) reads all ones, and the guest then does no ballooning. */
#define PORT_HYPERCALL_SIGNATURE (PORT_HYPERCALL_BASE + 0)
#define HYPERCALL_SIGNATURE 0x6e726574u /* "tern" as little-endian bytes */
/* out32: guest-physical address (below 4 GiB, 8-byte aligned, inside one
 * page) of a struct balloon_request. The VMM carries the request out and
 * writes its status into the block before the OUT completes, so a request
 * is one instruction: a pause, save or migration never splits it. */
#define PORT_BALLOON_REQUEST (PORT_HYPERCALL_BASE + 4)

#define BALLOON_REMOVE 1 /* inflate: the VMM takes the frames away from the guest */
#define BALLOON_RETURN 2 /* deflate: the VMM gives them back; they read as zero */

#define BALLOON_STATUS_OK 0
#define BALLOON_STATUS_BAD_COMMAND 1
#define BALLOON_STATUS_BAD_RANGE 2  /* frames outside guest RAM, or covering the block */
#define BALLOON_STATUS_FAILED 3     /* the VMM could not do it */
#define BALLOON_STATUS_NONE 0xffffffffu /* preset by the guest: nobody answered */

#ifndef __ASSEMBLER__
#include <stdint.h>
struct balloon_request {
  uint32_t command;   /* BALLOON_REMOVE or BALLOON_RETURN */
  uint32_t status;    /* written by the VMM */
  uint64_t first_pfn; /* first 4 KiB frame */
  uint64_t count;     /* frames */
};
#endif

/* Values written to PORT_EXIT. */
#define EXIT_OK 0             /* every pass verified clean */
#define EXIT_ERRORS_MAX 0x3f  /* 1..63: mismatching words, saturated at 63 */
#define EXIT_BAD_CONFIG 0x40  /* bad command line or memory layout */
#define EXIT_EXCEPTION 0x41   /* unexpected CPU exception */
#define EXIT_INTERNAL 0x42    /* not booted by Multiboot, no long mode, ... */

/* Multiboot v1. */
#define MB_HEADER_MAGIC 0x1BADB002
#define MB_HEADER_FLAGS 0x00010002 /* bit 1: memory info, bit 16: address fields valid */
#define MB_BOOT_MAGIC 0x2BADB002

/* GDT selectors (see boot.S). */
#define SEL_KERNEL_CS 0x08
#define SEL_KERNEL_DS 0x10
#define SEL_USER_DS (0x18 | 3)
#define SEL_USER_CS (0x20 | 3)
#define SEL_TSS 0x28

/* int 0x80 system calls: rax = number, rdi/rsi/rdx = arguments, rax = result. */
#define SYSCALL_VECTOR 0x80
#define SYS_WRITE 1    /* (buf, len): write bytes to COM1 */
#define SYS_EXIT 2     /* (value): write value to PORT_EXIT, then halt */
#define SYS_PORT_OUT 3 /* (port, size, value) */
#define SYS_PORT_IN 4  /* (port, size) -> value */

#endif
