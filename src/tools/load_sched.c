/* The open-loop schedule of `crossgate load` (load_sched.h). */
#include "tools/load_sched.h"

uint64_t cg_load_sched_time(const cg_load_sched_t *s, uint64_t k)
{
    return s->start_us + (uint64_t)((double)k * 1e6 / s->rate);
}

uint64_t cg_load_sched_due(const cg_load_sched_t *s, uint64_t now)
{
    if (now < s->start_us) return 0;
    uint64_t k = (uint64_t)((double)(now - s->start_us) * s->rate / 1e6) + 1;
    while (k > 0 && cg_load_sched_time(s, k - 1) > now) k--;
    while (cg_load_sched_time(s, k) <= now) k++;
    return k < s->max ? k : s->max;
}

/* Due by now, but never past the deadline. */
static uint64_t due_in_run(const cg_load_sched_t *s, uint64_t now)
{
    return cg_load_sched_due(s, now < s->deadline_us ? now : s->deadline_us - 1);
}

uint64_t cg_load_sched_backlog(const cg_load_sched_t *s, uint64_t now)
{
    uint64_t due = due_in_run(s, now);
    return due > s->next ? due - s->next : 0;
}

int cg_load_sched_take(cg_load_sched_t *s, uint64_t now, uint64_t *at)
{
    if (s->next >= due_in_run(s, now)) return 0;
    *at = cg_load_sched_time(s, s->next++);
    return 1;
}

uint64_t cg_load_sched_wakeup(const cg_load_sched_t *s, uint64_t now)
{
    uint64_t due = cg_load_sched_due(s, now);
    if (due >= s->max) return 0;
    uint64_t at = cg_load_sched_time(s, due);
    return at < s->deadline_us ? at : 0;
}
