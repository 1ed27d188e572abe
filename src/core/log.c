/* Process log: one write(2) per line so threads never interleave within a line. */
#include "core/log.h"
#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int cg_log_level = CG_LOG_INFO;

void cg_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < cg_log_level) return;
    char line[2048];
    size_t n = cg_clock_format_iso8601(cg_clock_wall_us(), line);
    n += (size_t)snprintf(line + n, sizeof(line) - n, " [%s] ", names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
