/* Durations as people write them ("250ms", "1.5s", "1m30s"): the one grammar of resource
 * fields and command-line flags.
 *
 *   duration  = "0" | component { component }
 *   component = number unit
 *   number    = digits [ "." [ digits ] ] | "." digits      (no sign, exponent or spaces)
 *   unit      = "ms" | "s" | "m" | "h"
 *
 * Components add up ("1m30s" is 90 s; "1s1s" is 2 s). The value is rounded to the nearest
 * result unit, halves away from zero ("0.5ms" is 1 ms). Durations beyond 2^53 ms (about
 * 285,000 years) are refused. Digits past the 64th character of a number (leading zeros not
 * counted) are ignored: they are fraction digits, below a double's precision. */
#ifndef CG_CORE_DURATION_H
#define CG_CORE_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Lenient, for command-line flags: a number alone ("5", "1.5") is seconds. */
#define CG_DURATION_BARE_SECONDS 1u

/* Parse s[0..len) (need not be NUL-terminated). Returns 0, CG_EINVAL (not a duration: empty,
 * unknown or missing unit, a sign, bytes after the last unit) or CG_ELIMIT (beyond 2^53 ms). */
int cg_duration_parse_ms(const char *s, size_t len, unsigned flags, uint64_t *out_ms);
int cg_duration_parse_us(const char *s, size_t len, unsigned flags, uint64_t *out_us);

#endif
