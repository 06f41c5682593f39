/* TSC frequency, needed to turn pause=USEC into TSC ticks in ring 3. */
#ifndef TERN_GUEST_TSC_H
#define TERN_GUEST_TSC_H
#include <stdint.h>

/* Returns ticks per second; *source names how it was found. */
uint64_t tsc_frequency(const char **source);
#endif
