/* Signals as loop events: the signals are blocked (threads created afterwards inherit the
 * mask), SIGPIPE is ignored, and each arrival calls back on the loop through a signalfd. */
#ifndef CG_CORE_SIGNALS_H
#define CG_CORE_SIGNALS_H

#include "core/loop.h"

#include <stddef.h>

typedef void (*cg_signal_cb)(cg_loop_t *loop, int signo);

typedef struct cg_signals {
    cg_io_t io;
    cg_signal_cb cb;
} cg_signals_t;

/* Call before creating threads. Returns 0 or CG_E*. */
int cg_signals_start(cg_signals_t *s, cg_loop_t *loop, const int *signals, size_t n, cg_signal_cb cb);
void cg_signals_stop(cg_signals_t *s, cg_loop_t *loop);

#endif
