/* Pick cost against endpoint count: ns per first pick and per retry pick at 10, 1,000 and
 * 100,000 endpoints (clusters of up to 100, weights 1..5, all healthy), and what one rebuild
 * of a worker's view (one health event) costs. Prints; asserts nothing. */
#include "core/buf.h"
#include "core/clock.h"
#include "proxy/balancer.h"
#include "proxy/config.h"
#include "translate/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static cg_config_t *compile_n(int n)
{
    cg_buf_t j = {0}, errors = {0};
    cg_buf_printf(&j,
                  "{\"version\":1,\"address\":\"127.0.0.1\",\"region\":\"r1\",\"servers\":[],"
                  "\"destinations\":[{\"name\":\"bench-%d\",\"mode\":\"auto\",\"endpoints\":[",
                  n);
    for (int e = 0; e < n; e++)
        cg_buf_printf(
            &j,
            "%s{\"address\":\"10.%d.%d.%d\",\"port\":80,\"cluster\":\"c%d\",\"region\":\"r1\","
            "\"weight\":%d,\"priority\":0}",
            e ? "," : "", e >> 16, (e >> 8) & 255, e & 255, e / 100, 1 + e * 7 % 5);
    cg_buf_printf(&j, "]}]}");
    cg_snapshot_t *s = NULL;
    cg_config_t *c = NULL;
    if (cg_snapshot_decode_json(j.base, j.len, &s, &errors) ||
        cg_proxy_config_compile(s, &c, &errors)) {
        fprintf(stderr, "bench/pick: %.*s\n", (int)errors.len, errors.base);
        exit(1);
    }
    cg_buf_free(&j);
    cg_buf_free(&errors);
    return c;
}

static double ns_since(uint64_t t0_us, uint64_t n)
{
    return (double)(cg_clock_mono_us() - t0_us) * 1000.0 / (double)n;
}

int main(int argc, char **argv)
{
    uint64_t picks = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
    static const int sizes[] = {10, 1000, 100000};
    printf("%-10s %14s %14s %14s\n", "endpoints", "ns/pick", "ns/retry pick", "ms/rebuild");
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        cg_config_t *c = compile_n(sizes[k]);
        const cg_dest_t *d = &c->dests[0];
        uint64_t seed = 1, sink = 0, now = 1000;
        for (int i = 0; i < 1000; i++)
            sink += (uint64_t)cg_proxy_balancer_pick(d, 0, NULL, 0, -1, now, i).endpoint;
        uint64_t t0 = cg_clock_mono_us();
        for (uint64_t i = 0; i < picks; i++)
            sink +=
                (uint64_t)cg_proxy_balancer_pick(d, 0, NULL, 0, -1, now, splitmix(&seed)).endpoint;
        double first = ns_since(t0, picks);
        uint32_t tried[1] = {0};
        uint64_t retries = picks / 10;
        t0 = cg_clock_mono_us();
        for (uint64_t i = 0; i < retries; i++) {
            tried[0] = (uint32_t)(i % (uint64_t)sizes[k]);
            sink +=
                (uint64_t)cg_proxy_balancer_pick(d, 0, tried, 1, -1, now, splitmix(&seed)).endpoint;
        }
        double retry = ns_since(t0, retries);
        /* a health event: each flip bumps the epoch, the next pick rebuilds */
        int rebuilds = 20;
        t0 = cg_clock_mono_us();
        for (int i = 0; i < rebuilds; i++) {
            cg_proxy_ep_stats_set_unhealthy(d->endpoints[0].stats, (uint8_t)(i & 1));
            now += CG_BAL_REBUILD_EVERY_MS; /* a large destination rebuilds once per interval */
            sink +=
                (uint64_t)cg_proxy_balancer_pick(d, 0, NULL, 0, -1, now, splitmix(&seed)).endpoint;
        }
        double rebuild = ns_since(t0, (uint64_t)rebuilds) / 1e6;
        cg_proxy_ep_stats_set_unhealthy(d->endpoints[0].stats, 0);
        printf("%-10d %14.1f %14.1f %14.3f\n", sizes[k], first, retry, rebuild);
        fflush(stdout);
        if (sink == 42) printf(" ");
        cg_proxy_config_unref(c);
    }
    return 0;
}
