/* GDT (TSS descriptor), TSS and IDT. */
#include <stdint.h>

#include "abi.h"
#include "kernel.h"

struct tss {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
} __attribute__((packed));

struct idt_entry {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset_mid;
  uint32_t offset_high;
  uint32_t reserved;
} __attribute__((packed));

struct table_ptr {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed));

extern uint64_t gdt[];
extern char kernel_stack_top[];
extern const uint64_t trap_entries[32];
extern const uint64_t trap_entry_syscall;

static struct tss tss __attribute__((aligned(16)));
static struct idt_entry idt[256] __attribute__((aligned(16)));
/* Separate stack for #DF and #MC so a broken kernel stack still reports. */
static uint8_t ist1_stack[8192] __attribute__((aligned(16)));

#define GATE_INTERRUPT_DPL0 0x8e
#define GATE_INTERRUPT_DPL3 0xee

static void set_gate(unsigned vec, uint64_t handler, uint8_t type_attr, uint8_t ist) {
  idt[vec] = (struct idt_entry){
      .offset_low = (uint16_t)handler,
      .selector = SEL_KERNEL_CS,
      .ist = ist,
      .type_attr = type_attr,
      .offset_mid = (uint16_t)(handler >> 16),
      .offset_high = (uint32_t)(handler >> 32),
  };
}

void cpu_init(void) {
  tss.rsp[0] = (uint64_t)kernel_stack_top; /* ring 3 -> ring 0 */
  tss.ist[0] = (uint64_t)(ist1_stack + sizeof ist1_stack);
  tss.iomap_base = sizeof tss; /* no I/O bitmap: IOPL alone decides */

  uint64_t base = (uint64_t)&tss, limit = sizeof tss - 1;
  gdt[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) /* present, 64-bit TSS */
                     | (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
  gdt[SEL_TSS / 8 + 1] = base >> 32;
  __asm__ volatile("ltr %w0" ::"r"((uint16_t)SEL_TSS));

  for (unsigned v = 0; v < 32; v++) set_gate(v, trap_entries[v], GATE_INTERRUPT_DPL0, (v == 8 || v == 18) ? 1 : 0);
  set_gate(SYSCALL_VECTOR, trap_entry_syscall, GATE_INTERRUPT_DPL3, 0);
  struct table_ptr p = {sizeof idt - 1, (uint64_t)idt};
  __asm__ volatile("lidt %0" ::"m"(p));

  /* Mask the legacy PICs: the guest takes no interrupts, and their default
   * vectors would collide with exceptions. */
  __asm__ volatile("outb %%al, $0x21; outb %%al, $0xa1" ::"a"(0xff));
}
