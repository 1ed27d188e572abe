/* Tests of the endpoint stats registry: one entry per (destination, endpoint), found again by
 * every later compile, visited newest first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/list.h"
#include "proxy/config.h"

#include <stdio.h>
#include <string.h>

enum { NDESTS = 40, NEPS = 500 };

typedef struct visit {
    cg_ep_stats_t **seen;
    size_t n;
    int in_order;
    int prev_d, prev_e;
} visit_t;

static void on_entry(void *ctx, const char *dest, const char *ep, const cg_ep_stats_t *st)
{
    visit_t *v = ctx;
    int d, e, a, b;
    if (sscanf(dest, "dest-%d", &d) != 1 || sscanf(ep, "10.0.%d.%d:80", &a, &b) != 2) return;
    e = a * 256 + b;
    assert_ptr_equal(v->seen[d * NEPS + e], st);
    if (v->n && (d > v->prev_d || (d == v->prev_d && e > v->prev_e))) v->in_order = 0;
    v->prev_d = d;
    v->prev_e = e;
    v->n++;
}

static void test_registry(void **state)
{
    (void)state;
    cg_ep_stats_t **seen = cg_xcalloc(NDESTS * NEPS, sizeof(*seen));
    char dest[32], ep[32];
    for (int d = 0; d < NDESTS; d++) {
        for (int e = 0; e < NEPS; e++) {
            snprintf(dest, sizeof(dest), "dest-%d", d);
            snprintf(ep, sizeof(ep), "10.0.%d.%d:80", e / 256, e % 256);
            cg_ep_stats_t *st = cg_proxy_ep_stats_get(dest, ep);
            assert_non_null(st);
            for (int k = 0; k < e; k += 97) assert_ptr_not_equal(seen[d * NEPS + k], st);
            seen[d * NEPS + e] = st;
        }
    }
    /* the same pairs again (a reload): the same counters */
    for (int d = 0; d < NDESTS; d++) {
        for (int e = 0; e < NEPS; e++) {
            snprintf(dest, sizeof(dest), "dest-%d", d);
            snprintf(ep, sizeof(ep), "10.0.%d.%d:80", e / 256, e % 256);
            assert_ptr_equal(cg_proxy_ep_stats_get(dest, ep), seen[d * NEPS + e]);
        }
    }
    /* the key is the pair, not the concatenation */
    assert_ptr_not_equal(cg_proxy_ep_stats_get("ab", "c"), cg_proxy_ep_stats_get("a", "bc"));
    visit_t v = {.seen = seen, .in_order = 1};
    cg_proxy_ep_stats_foreach(on_entry, &v);
    assert_int_equal(v.n, NDESTS * NEPS);
    assert_true(v.in_order); /* newest first */
    free(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
