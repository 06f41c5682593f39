/* A small printf-style formatter shared by ring 0 and ring 3 (it uses no
 * globals, so it runs from the read-only, user-readable text).
 * Directives: %% %c %s %d %u %x, with optional '0' flag, width and 'l'
 * (64-bit). Output is truncated to cap-1 bytes and always terminated. */
#ifndef TERN_GUEST_FORMAT_H
#define TERN_GUEST_FORMAT_H
#include <stdarg.h>
#include <stddef.h>

size_t format_v(char *buf, size_t cap, const char *fmt, va_list ap);
size_t format(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
