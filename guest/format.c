#include "format.h"

#include <stdint.h>

struct out {
  char *buf;
  size_t cap;
  size_t len;
};

static void put(struct out *o, char c) {
  if (o->len + 1 < o->cap) o->buf[o->len] = c;
  o->len++;
}

static void put_number(struct out *o, uint64_t v, unsigned base, int negative, unsigned width, char pad) {
  char digits[24];
  unsigned n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v != 0);
  if (negative) digits[n++] = '-';
  while (width > n) {
    put(o, pad);
    width--;
  }
  while (n > 0) put(o, digits[--n]);
}

size_t format_v(char *buf, size_t cap, const char *fmt, va_list ap) {
  struct out o = {buf, cap, 0};
  for (const char *p = fmt; *p != '\0'; p++) {
    if (*p != '%') {
      put(&o, *p);
      continue;
    }
    p++;
    char pad = ' ';
    unsigned width = 0;
    int is_long = 0;
    if (*p == '0') {
      pad = '0';
      p++;
    }
    while (*p >= '0' && *p <= '9') width = width * 10 + (unsigned)(*p++ - '0');
    while (*p == 'l') {
      is_long = 1;
      p++;
    }
    switch (*p) {
    case '%': put(&o, '%'); break;
    case 'c': put(&o, (char)va_arg(ap, int)); break;
    case 's': {
      const char *s = va_arg(ap, const char *);
      if (s == NULL) s = "(null)";
      size_t n = 0;
      while (s[n] != '\0') n++;
      for (; width > n; width--) put(&o, ' ');
      while (*s != '\0') put(&o, *s++);
      break;
    }
    case 'd': {
      int64_t v = is_long ? va_arg(ap, int64_t) : va_arg(ap, int);
      uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
      put_number(&o, mag, 10, v < 0, width, pad);
      break;
    }
    case 'u':
      put_number(&o, is_long ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, 0, width, pad);
      break;
    case 'x':
      put_number(&o, is_long ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, 0, width, pad);
      break;
    case '\0': p--; break; /* a trailing '%' prints nothing */
    default:
      put(&o, '%');
      put(&o, *p);
      break;
    }
  }
  if (cap > 0) buf[o.len < cap ? o.len : cap - 1] = '\0';
  return o.len < cap ? o.len : (cap > 0 ? cap - 1 : 0);
}

size_t format(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = format_v(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}
