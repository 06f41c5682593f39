#include "tsc.h"

#include "io.h"

/* Hypervisor timing leaf 0x40000010 (KVM/VMware convention): EAX = TSC kHz. */
static uint64_t from_hypervisor_leaf(void) {
  uint32_t r[4];
  cpuid(1, 0, r);
  if ((r[2] & (1u << 31)) == 0) return 0; /* no hypervisor */
  cpuid(0x40000000, 0, r);
  if (r[0] < 0x40000010) return 0;
  cpuid(0x40000010, 0, r);
  return (uint64_t)r[0] * 1000;
}

/* CPUID 0x15: TSC = crystal * EBX / EAX, when the crystal is reported. */
static uint64_t from_cpuid15(void) {
  uint32_t r[4];
  cpuid(0, 0, r);
  if (r[0] < 0x15) return 0;
  cpuid(0x15, 0, r);
  if (r[0] == 0 || r[1] == 0 || r[2] == 0) return 0;
  return (uint64_t)r[2] * r[1] / r[0];
}

/* Count TSC ticks while PIT channel 2 counts down 10 ms (mode 0, gate on,
 * speaker off; port 0x61 bit 5 goes high at terminal count). Bounded, so a
 * VMM without a PIT makes it fail rather than hang. */
static uint64_t from_pit(void) {
  const uint16_t count = 11932; /* 1193182 Hz / 100 */
  outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));
  outb(0x43, 0xb0);
  outb(0x42, (uint8_t)count);
  outb(0x42, (uint8_t)(count >> 8));
  uint64_t t0 = rdtsc();
  for (unsigned long i = 0; i < 50000000ul; i++) {
    if (inb(0x61) & 0x20) {
      uint64_t ticks = rdtsc() - t0;
      return ticks > 1000 ? ticks * 100 : 0;
    }
  }
  return 0;
}

uint64_t tsc_frequency(const char **source) {
  uint64_t hz;
  if ((hz = from_hypervisor_leaf()) != 0) {
    *source = "cpuid 0x40000010";
    return hz;
  }
  if ((hz = from_cpuid15()) != 0) {
    *source = "cpuid 0x15";
    return hz;
  }
  if ((hz = from_pit()) != 0) {
    *source = "pit";
    return hz;
  }
  *source = "assumed (no calibration source)";
  return 1000000000ull;
}
