/* Command-line flag values (cli/flags.h). */
#include "cli/flags.h"
#include "core/duration.h"
#include "core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cg_cli_flag_count(const char *cmd, const char *flag, const char *arg, int64_t min, int64_t max,
                      int64_t *out)
{
    char *end;
    errno = 0;
    long long n = arg[0] >= '0' && arg[0] <= '9' ? strtoll(arg, &end, 10) : -1;
    if (n < 0 || errno || *end || n < min || n > max) {
        fprintf(stderr, "crossgate %s: %s wants %" PRId64 "..%" PRId64 ", got \"%s\"\n", cmd, flag,
                min, max, arg);
        return -1;
    }
    *out = n;
    return 0;
}

/* "0", "250ms", "5s", "1m", "2h": the largest unit the value is a whole number of. */
static void say_ms(char *out, size_t cap, uint64_t ms)
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms && ms % units[i].ms == 0) {
            snprintf(out, cap, "%" PRIu64 "%s", ms / units[i].ms, units[i].unit);
            return;
        }
    snprintf(out, cap, ms ? "%" PRIu64 "ms" : "%" PRIu64, ms);
}

int cg_cli_flag_duration_ms(const char *cmd, const char *flag, const char *arg, uint64_t min_ms,
                            uint64_t max_ms, uint32_t *out)
{
    uint64_t ms;
    if (max_ms > UINT32_MAX) max_ms = UINT32_MAX;
    if (cg_duration_parse_ms(arg, strlen(arg), CG_DURATION_BARE_SECONDS, &ms) || ms < min_ms ||
        ms > max_ms) {
        char lo[32], hi[32];
        say_ms(lo, sizeof(lo), min_ms);
        say_ms(hi, sizeof(hi), max_ms);
        fprintf(
            stderr,
            "crossgate %s: %s wants a duration from %s to %s, such as 5s or 250ms, got \"%s\"\n",
            cmd, flag, lo, hi, arg);
        return -1;
    }
    *out = (uint32_t)ms;
    return 0;
}

int cg_cli_flag_log_level(const char *cmd, const char *arg)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"debug", CG_LOG_DEBUG},
                  {"info", CG_LOG_INFO},
                  {"warn", CG_LOG_WARN},
                  {"error", CG_LOG_ERROR}};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (!strcmp(arg, levels[i].name)) {
            cg_log_level = levels[i].level;
            return 0;
        }
    fprintf(stderr, "crossgate %s: --log-level wants debug, info, warn or error, got \"%s\"\n", cmd,
            arg);
    return -1;
}
