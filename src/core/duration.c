/* The duration grammar of core/duration.h. */
#include "core/duration.h"

#include "core/err.h"

#include <math.h>
#include <stdlib.h>

#define MAX_MS     9007199254740992.0 /* 2^53 */
#define NUMBER_CAP 64

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The number at s[0..len): its length, or 0 when there is none. Leading zeros of the
 * integer part are not significant; past NUMBER_CAP characters only fraction digits are
 * dropped, and an integer part that long reads as infinity (and so as too long). */
static size_t scan_number(const char *s, size_t len, double *v)
{
    size_t n = 0, dots = 0, digits = 0;
    while (n < len && (is_digit(s[n]) || (s[n] == '.' && !dots))) {
        dots += s[n] == '.';
        digits += s[n] != '.';
        n++;
    }
    if (digits == 0) return 0;
    size_t skip = 0;
    while (skip + 1 < n && s[skip] == '0' && s[skip + 1] != '.') skip++;
    char text[NUMBER_CAP + 1];
    size_t keep = n - skip;
    if (keep > NUMBER_CAP) {
        /* past the 64th character only fraction digits can matter, and not to a double */
        size_t dot = 0;
        while (dot < keep && s[skip + dot] != '.') dot++;
        if (dot >= NUMBER_CAP) {
            *v = INFINITY;
            return n;
        }
        keep = NUMBER_CAP;
    }
    for (size_t i = 0; i < keep; i++) text[i] = s[skip + i];
    text[keep] = '\0';
    *v = strtod(text, NULL);
    return n;
}

/* Parses into units of `per_ms` per millisecond (1: ms, 1000: us). */
static int parse(const char *s, size_t len, unsigned flags, double per_ms, uint64_t *out)
{
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 0;
    }
    if (len == 0) return CG_EINVAL;
    double total = 0, v;
    size_t i = 0;
    while (i < len) {
        size_t n = scan_number(s + i, len - i, &v);
        if (n == 0) return CG_EINVAL;
        i += n;
        double unit;
        if (i == len && i == n && (flags & CG_DURATION_BARE_SECONDS))
            unit = 1000;
        else if (i + 1 < len && s[i] == 'm' && s[i + 1] == 's')
            unit = 1, i += 2;
        else if (i < len && s[i] == 's')
            unit = 1000, i++;
        else if (i < len && s[i] == 'm')
            unit = 60000, i++;
        else if (i < len && s[i] == 'h')
            unit = 3600000, i++;
        else
            return CG_EINVAL;
        total += v * unit;
    }
    if (!(total <= MAX_MS)) return CG_ELIMIT;
    *out = (uint64_t)llround(total * per_ms);
    return 0;
}

int cg_duration_parse_ms(const char *s, size_t len, unsigned flags, uint64_t *out_ms)
{
    return parse(s, len, flags, 1, out_ms);
}

int cg_duration_parse_us(const char *s, size_t len, unsigned flags, uint64_t *out_us)
{
    return parse(s, len, flags, 1000, out_us);
}
