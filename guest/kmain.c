/* Ring-0 start-up: read the Multiboot information and the command line,
 * check the workload region, build page tables, and drop to ring 3.
 * Kept short on purpose: under PVM every ring-0 instruction is emulated. */
#include <stdint.h>

#include "abi.h"
#include "boot_info.h"
#include "format.h"
#include "io.h"
#include "kernel.h"
#include "layout.h"
#include "options.h"
#include "paging.h"
#include "tsc.h"
#include "user.h"

void kmain(uint32_t magic, uint64_t info);
void enter_user(uint64_t rip, uint64_t rsp, uint64_t rflags, uint64_t arg) __attribute__((noreturn));

static struct boot_info boot_info;

static _Noreturn void fail(uint32_t code, const char *what, const char *why) {
  kprint("tern-guest: %s: %s\n", what, why);
  guest_exit(code);
}

static void print_memory(const struct boot_info *bi) {
  for (unsigned i = 0; i < bi->nranges; i++) {
    const struct mem_range *r = &bi->ranges[i];
    kprint("tern-guest: mem 0x%012lx-0x%012lx %s\n", r->base, r->base + r->length - 1,
           r->type == 1 ? "available" : "reserved");
  }
}

void kmain(uint32_t magic, uint64_t info) {
  serial_init();
  cpu_init();
  if (magic != MB_BOOT_MAGIC) {
    kprint("tern-guest: boot magic 0x%x is not Multiboot's 0x%x\n", magic, MB_BOOT_MAGIC);
    guest_exit(EXIT_INTERNAL);
  }
  const char *why = boot_info_parse(info, &boot_info);
  if (why != NULL) fail(EXIT_INTERNAL, "multiboot info", why);

  struct guest_options opt;
  char err[128];
  if (!options_parse(boot_info.cmdline, &opt, err, sizeof err)) fail(EXIT_BAD_CONFIG, "bad command line", err);

  uint64_t image_start = (uint64_t)__image_start, image_end = (uint64_t)__image_end;
  if (!opt.base_set) opt.base = align_up(image_end, LARGE_PAGE);
  uint64_t len = opt.mib * MIB;
  if (!boot_info_is_ram(&boot_info, opt.base, len) || opt.base + len > PAGING_MAP_LIMIT) {
    kprint("tern-guest: region 0x%lx-0x%lx (%lu MiB) is not inside one available RAM range below 0x%lx\n", opt.base,
           opt.base + len - 1, opt.mib, PAGING_MAP_LIMIT);
    print_memory(&boot_info);
    guest_exit(EXIT_BAD_CONFIG);
  }
  if (opt.base < image_end && opt.base + len > image_start)
    fail(EXIT_BAD_CONFIG, "bad region", "overlaps the guest image");
  uint64_t blen = opt.balloon_pages * PAGE_SIZE;
  if (blen != 0) {
    if (!opt.bbase_set) opt.balloon_base = opt.base + len;
    if (!boot_info_is_ram(&boot_info, opt.balloon_base, blen) || opt.balloon_base + blen > PAGING_MAP_LIMIT) {
      kprint("tern-guest: balloon 0x%lx-0x%lx (%lu pages) is not inside one available RAM range below 0x%lx\n",
             opt.balloon_base, opt.balloon_base + blen - 1, opt.balloon_pages, PAGING_MAP_LIMIT);
      print_memory(&boot_info);
      guest_exit(EXIT_BAD_CONFIG);
    }
    if ((opt.balloon_base < image_end && opt.balloon_base + blen > image_start) ||
        (opt.balloon_base < opt.base + len && opt.balloon_base + blen > opt.base))
      fail(EXIT_BAD_CONFIG, "bad balloon", "overlaps the region or the guest image");
  }
  char balloon_desc[64] = "";
  if (blen != 0)
    format(balloon_desc, sizeof balloon_desc, " balloon=%lu,%lu bbase=0x%lx", opt.balloon_pages, opt.balloon_period,
           opt.balloon_base);

  kprint("tern-guest: start passes=%lu mib=%lu ws=%lu base=0x%lx pause=%luus inject=%lu io=%s fault=%s%s"
         " | memory: %lu MiB available in %u ranges (%s), top 0x%lx, image 0x%lx-0x%lx\n",
         opt.passes, opt.mib, opt.ws, opt.base, opt.pause_us, opt.inject, io_mode_name(opt.io),
         fault_mode_name(opt.fault), balloon_desc, boot_info.available_bytes / MIB, boot_info.nranges,
         boot_info.from_mmap ? "mmap" : "mem_lower/upper", boot_info.ram_top, image_start, image_end);
  print_memory(&boot_info);

  why = paging_init(&boot_info, opt.base, len, opt.balloon_base, blen);
  if (why != NULL) fail(EXIT_INTERNAL, "paging", why);

  user_args.opt = opt;
  user_args.kernel_probe = (uint64_t)&boot_info;
  user_args.tsc_hz = 0;
  if (opt.pause_us != 0) {
    const char *source;
    user_args.tsc_hz = tsc_frequency(&source);
    kprint("tern-guest: tsc %lu kHz (%s)\n", user_args.tsc_hz / 1000, source);
  }

  /* IOPL 3 lets ring 3 do port I/O itself (io=direct); io=gp drops it so
   * every ring-3 in/out takes the #GP emulation path. IF stays clear. */
  uint64_t rflags = RFLAGS_RESERVED1 | (opt.io == IO_GP ? 0 : RFLAGS_IOPL3);
  kprint("tern-guest: entering ring 3 (io=%s, iopl=%u)\n", io_mode_name(opt.io), opt.io == IO_GP ? 0u : 3u);
  /* The stack top is 16-byte aligned; -8 mimics the pushed return address. */
  enter_user((uint64_t)user_main, (uint64_t)(user_stack + USER_STACK_SIZE) - 8, rflags, (uint64_t)&user_args);
}
