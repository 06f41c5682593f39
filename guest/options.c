#include "options.h"

#include <stddef.h>

#include "format.h"

const char *io_mode_name(enum io_mode m) {
  switch (m) {
  case IO_SYSCALL: return "syscall";
  case IO_DIRECT: return "direct";
  case IO_GP: return "gp";
  }
  return "?";
}

const char *fault_mode_name(enum fault_mode m) {
  switch (m) {
  case FAULT_NONE: return "none";
  case FAULT_UD: return "ud";
  case FAULT_PF: return "pf";
  }
  return "?";
}

static int word_eq(const char *s, size_t n, const char *lit) {
  size_t i = 0;
  for (; i < n; i++)
    if (lit[i] != s[i]) return 0;
  return lit[i] == '\0';
}

/* Copies a word (truncated) into buf for error messages. */
static const char *word_copy(const char *s, size_t n, char *buf, size_t cap) {
  size_t i = 0;
  for (; i < n && i + 1 < cap; i++) buf[i] = s[i];
  buf[i] = '\0';
  return buf;
}

/* Decimal or 0x-prefixed hexadecimal, whole word, no overflow. */
static int parse_u64(const char *s, size_t n, uint64_t *out) {
  unsigned base = 10;
  if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
    n -= 2;
  }
  if (n == 0) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned d;
    char c = s[i];
    if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
    else if (base == 16 && c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
    else return 0;
    if (v > (UINT64_MAX - d) / base) return 0;
    v = v * base + d;
  }
  *out = v;
  return 1;
}

int options_parse(const char *cmdline, struct guest_options *opt, char *err, unsigned errcap) {
  *opt = (struct guest_options){.passes = 3,
                                .mib = 8,
                                .io = IO_SYSCALL,
                                .fault = FAULT_NONE,
                                .balloon_period = OPT_DEFAULT_BALLOON_PERIOD};
  const char *p = cmdline;
  char quoted[48];
  int first = 1;
  while (*p != '\0') {
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\0') break;
    const char *w = p;
    while (*p != '\0' && *p != ' ' && *p != '\t') p++;
    size_t wn = (size_t)(p - w);
    size_t kn = 0;
    while (kn < wn && w[kn] != '=') kn++;
    if (kn == wn) {
      if (first) {
        first = 0;
        continue;
      }
      format(err, errcap, "'%s' is not key=value", word_copy(w, wn, quoted, sizeof quoted));
      return 0;
    }
    first = 0;
    const char *v = w + kn + 1;
    size_t vn = wn - kn - 1;
    uint64_t num = 0;
    int numeric = parse_u64(v, vn, &num);

    if (word_eq(w, kn, "io")) {
      if (word_eq(v, vn, "syscall")) opt->io = IO_SYSCALL;
      else if (word_eq(v, vn, "direct")) opt->io = IO_DIRECT;
      else if (word_eq(v, vn, "gp")) opt->io = IO_GP;
      else goto bad_value;
      continue;
    }
    if (word_eq(w, kn, "fault")) {
      if (word_eq(v, vn, "none")) opt->fault = FAULT_NONE;
      else if (word_eq(v, vn, "ud")) opt->fault = FAULT_UD;
      else if (word_eq(v, vn, "pf")) opt->fault = FAULT_PF;
      else goto bad_value;
      continue;
    }
    if (word_eq(w, kn, "balloon")) { /* balloon=N[,PERIOD] */
      size_t cn = 0;
      while (cn < vn && v[cn] != ',') cn++;
      if (!parse_u64(v, cn, &opt->balloon_pages)) goto bad_value;
      opt->balloon_period = OPT_DEFAULT_BALLOON_PERIOD;
      if (cn < vn && !parse_u64(v + cn + 1, vn - cn - 1, &opt->balloon_period)) goto bad_value;
      continue;
    }
    uint64_t *slot = NULL;
    if (word_eq(w, kn, "passes")) slot = &opt->passes;
    else if (word_eq(w, kn, "mib")) slot = &opt->mib;
    else if (word_eq(w, kn, "base")) slot = &opt->base, opt->base_set = 1;
    else if (word_eq(w, kn, "ws")) slot = &opt->ws, opt->ws_set = 1;
    else if (word_eq(w, kn, "pause")) slot = &opt->pause_us;
    else if (word_eq(w, kn, "inject")) slot = &opt->inject;
    else if (word_eq(w, kn, "bbase")) slot = &opt->balloon_base, opt->bbase_set = 1;
    else goto bad_key;
    if (!numeric) goto bad_value;
    *slot = num;
    continue;

  bad_value:
    format(err, errcap, "bad value in '%s'", word_copy(w, wn, quoted, sizeof quoted));
    return 0;
  bad_key:
    format(err, errcap, "unknown option '%s'", word_copy(w, wn, quoted, sizeof quoted));
    return 0;
  }

  if (opt->mib == 0 || opt->mib > OPT_MAX_MIB) {
    format(err, errcap, "mib=%lu out of range 1..%u", opt->mib, OPT_MAX_MIB);
    return 0;
  }
  if (!opt->ws_set) opt->ws = opt->mib;
  if (opt->ws == 0 || opt->ws > opt->mib) {
    format(err, errcap, "ws=%lu out of range 1..mib (%lu)", opt->ws, opt->mib);
    return 0;
  }
  if (opt->base_set && (opt->base & 0xfff) != 0) {
    format(err, errcap, "base=0x%lx is not 4 KiB aligned", opt->base);
    return 0;
  }
  if (opt->balloon_pages > OPT_MAX_BALLOON_PAGES) {
    format(err, errcap, "balloon=%lu out of range 0..%u", opt->balloon_pages, OPT_MAX_BALLOON_PAGES);
    return 0;
  }
  if (opt->balloon_period == 0) {
    format(err, errcap, "balloon period must be at least 1");
    return 0;
  }
  if (opt->bbase_set && (opt->balloon_base & 0xfff) != 0) {
    format(err, errcap, "bbase=0x%lx is not 4 KiB aligned", opt->balloon_base);
    return 0;
  }
  if (opt->pause_us > OPT_MAX_PAUSE_US) {
    format(err, errcap, "pause=%lu above %lu us", opt->pause_us, OPT_MAX_PAUSE_US);
    return 0;
  }
  return 1;
}
