/* The open-loop schedule of `crossgate load --rate`: request k is due at start + k / rate, from
 * time zero to the deadline. Pure arithmetic over the times it is given, so that the engine's
 * timers and the tests pass the clock in. */
#ifndef CG_TOOLS_LOAD_SCHED_H
#define CG_TOOLS_LOAD_SCHED_H

#include <stdint.h>

typedef struct cg_load_sched {
    uint64_t start_us;    /* time zero (monotonic microseconds) */
    uint64_t deadline_us; /* nothing is due from here on */
    double rate;          /* requests per second, > 0 */
    uint64_t max;         /* requests in the whole run (-n), UINT64_MAX: unbounded */
    uint64_t next;        /* requests handed out so far */
} cg_load_sched_t;

/* When request k is due. */
uint64_t cg_load_sched_time(const cg_load_sched_t *s, uint64_t k);
/* How many requests are due by `now` (the smallest k with cg_load_sched_time(k) > now), at
 * most s->max. */
uint64_t cg_load_sched_due(const cg_load_sched_t *s, uint64_t now);
/* Due by `now` (or by the deadline, when now is past it) and not handed out yet. */
uint64_t cg_load_sched_backlog(const cg_load_sched_t *s, uint64_t now);
/* Hands out the next request due by `now`: returns 1 and its scheduled time in *at, or 0. */
int cg_load_sched_take(cg_load_sched_t *s, uint64_t now, uint64_t *at);
/* When the first request not due by `now` is due; 0 when none is before the deadline. */
uint64_t cg_load_sched_wakeup(const cg_load_sched_t *s, uint64_t now);

#endif
