/* Clocks: monotonic for timers and durations, wall for logs. */
#ifndef CG_CORE_CLOCK_H
#define CG_CORE_CLOCK_H

#include <stdint.h>
#include <stddef.h>

uint64_t cg_clock_mono_us(void);
uint64_t cg_clock_wall_us(void);
/* Formats a wall time as 2006-01-02T15:04:05.000Z into out (at least 25 bytes). */
size_t cg_clock_format_iso8601(uint64_t wall_us, char *out);

#endif
