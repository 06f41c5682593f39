/* The compiler may emit calls to these even in freestanding code. */
#include <stddef.h>
#include <stdint.h>

void *memset(void *dst, int c, size_t n) {
  uint8_t *d = dst;
  while (n-- > 0) *d++ = (uint8_t)c;
  return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  while (n-- > 0) *d++ = *s++;
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  const uint8_t *x = a, *y = b;
  for (; n > 0; n--, x++, y++)
    if (*x != *y) return *x < *y ? -1 : 1;
  return 0;
}
