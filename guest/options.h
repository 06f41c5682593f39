/* Multiboot command line options (key=value words; see README.md). */
#ifndef TERN_GUEST_OPTIONS_H
#define TERN_GUEST_OPTIONS_H
#include <stdint.h>

enum io_mode {
  IO_SYSCALL, /* ring 3 asks ring 0 (int 0x80) to do port I/O: the default */
  IO_DIRECT,  /* ring 3 executes in/out itself with IOPL 3; #GP is emulated */
  IO_GP,      /* IOPL 0: every ring-3 in/out raises #GP and is emulated */
};

enum fault_mode { FAULT_NONE, FAULT_UD, FAULT_PF };

#define OPT_MAX_MIB 16384u
#define OPT_MAX_PAUSE_US 1000000000ul
#define OPT_MAX_BALLOON_PAGES 65536u
#define OPT_DEFAULT_BALLOON_PERIOD 64u

struct guest_options {
  uint64_t passes;   /* 0 = forever */
  uint64_t mib;      /* region size */
  uint64_t base;     /* region start (valid if base_set) */
  uint64_t ws;       /* MiB written per pass (valid if ws_set) */
  uint64_t pause_us; /* pause between passes */
  uint64_t inject;   /* 0 = none, else flip one word after writing that pass */
  enum io_mode io;
  enum fault_mode fault;
  uint64_t balloon_pages;  /* 0 = no balloon */
  uint64_t balloon_period; /* one balloon step every this many pages written */
  uint64_t balloon_base;   /* valid if bbase_set; kmain resolves the default */
  int base_set, ws_set, bbase_set;
};

/* Parses cmdline into opt (defaults first). On failure returns 0 and writes a
 * message to err. The first word is skipped if it has no '=' (loaders put the
 * kernel's path there). */
int options_parse(const char *cmdline, struct guest_options *opt, char *err, unsigned errcap);
const char *io_mode_name(enum io_mode m);
const char *fault_mode_name(enum fault_mode m);
#endif
