/* Command-line flag values, read the same way by every command: a count, a duration, a log
 * level. Each prints "crossgate CMD: --FLAG wants ..., got \"ARG\"" on stderr and returns -1
 * when the value is refused; 0 and *out otherwise. */
#ifndef CG_CLI_FLAGS_H
#define CG_CLI_FLAGS_H

#include <stdint.h>

/* A decimal integer in [min, max]; no sign, no suffix, nothing after it. */
int cg_cli_flag_count(const char *cmd, const char *flag, const char *arg, int64_t min, int64_t max,
                      int64_t *out);
/* A duration (core/duration.h, a bare number is seconds) in [min_ms, max_ms] milliseconds. */
int cg_cli_flag_duration_ms(const char *cmd, const char *flag, const char *arg, uint64_t min_ms,
                            uint64_t max_ms, uint32_t *out);
/* debug, info, warn or error, which becomes the process's log level. */
int cg_cli_flag_log_level(const char *cmd, const char *arg);

#endif
