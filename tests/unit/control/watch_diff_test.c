/* Tests of make-before-break's comparison of a snapshot's endpoints before and after a change
 * (watch.c's gained): exactly the instances with an endpoint that came are flagged, however the
 * endpoints moved. Table-driven over hand-made destinations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "control/watch.c"

#include <stdio.h>

#define NINST 40

/* A destination from a string of instance numbers: "0 1 2" = endpoints at 10.0.0.{0,1,2}:80. */
static void dest_of(cg_snap_destination_t *d, const char *name, const char *eps)
{
    memset(d, 0, sizeof(*d));
    d->name = cg_xstrdup(name);
    d->mode = CG_DEST_AUTO;
    d->endpoints = cg_xcalloc(64, sizeof(*d->endpoints));
    for (const char *p = eps; *p;) {
        char *end;
        long k = strtol(p, &end, 10);
        if (end == p) break;
        char addr[32];
        snprintf(addr, sizeof(addr), "10.0.0.%ld", k % 1000);
        d->endpoints[d->nendpoints].address = cg_xstrdup(addr);
        d->endpoints[d->nendpoints].port = (uint16_t)(k >= 1000 ? 81 : 80); /* 1000+k: port 81 */
        d->endpoints[d->nendpoints].weight = 1;
        d->nendpoints++;
        p = end;
    }
}

/* A snapshot of destinations "name:eps;name:eps". */
static cg_snapshot_t *snap_of(const char *spec)
{
    cg_snapshot_t *s = cg_xcalloc(1, sizeof(*s));
    s->destinations = cg_xcalloc(8, sizeof(*s->destinations));
    char *copy = cg_xstrdup(spec), *save = NULL;
    for (char *part = strtok_r(copy, ";", &save); part; part = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(part, ':');
        *colon = '\0';
        dest_of(&s->destinations[s->ndestinations++], part, colon + 1);
    }
    free(copy);
    return s;
}

static const struct {
    const char *what, *from, *to, *flagged; /* flagged: instance numbers, as "3 7" */
} cases[] = {
    {"nothing changed", "d:0 1 2 3", "d:0 1 2 3", ""},
    {"one added at the start", "d:1 2 3", "d:0 1 2 3", "0"},
    {"one added in the middle", "d:0 1 3", "d:0 1 2 3", "2"},
    {"one added at the end", "d:0 1 2", "d:0 1 2 3", "3"},
    {"one removed: nothing came", "d:0 1 2 3", "d:0 2 3", ""},
    {"one replaced", "d:0 1 2 3", "d:0 9 2 3", "9"},
    {"the same address, another port", "d:0 1 2", "d:0 1001 2", "1"},
    {"three removed in a row", "d:0 1 2 3 4 5", "d:0 4 5", ""},
    {"twelve removed in a row", "d:0 1 2 3 4 5 6 7 8 9 10 11 12 13", "d:0 13", ""},
    {"reversed", "d:0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
     "d:19 18 17 16 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0", ""},
    {"reversed, one new", "d:0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
     "d:19 18 17 16 15 14 13 12 11 10 9 8 7 6 5 4 3 2 30 1 0", "30"},
    {"many new", "d:0", "d:0 1 2 3 4 5 6 7 8 9 10 11 12", "1 2 3 4 5 6 7 8 9 10 11 12"},
    {"a new destination", "d:0 1", "d:0 1;e:1 2", "1 2"},
    {"a destination gone: nothing came", "d:0 1;e:1 2", "d:0 1", ""},
    {"an endpoint moved between destinations", "d:0 1;e:2", "d:0;e:1 2", "1"},
    {"an address of no instance", "d:0", "d:0 39", ""},
};

static void test_gained_flags_exactly_what_came(void **state)
{
    (void)state;
    char addrs[NINST][32];
    kset_t by_address;
    kset_init(&by_address, NINST);
    for (size_t i = 0; i < NINST - 1; i++) { /* instance 39 is not live */
        snprintf(addrs[i], sizeof(addrs[i]), "10.0.0.%zu", i);
        kset_add(&by_address, NULL, addrs[i], 0, i);
    }
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        cg_snapshot_t *from = snap_of(cases[c].from), *to = snap_of(cases[c].to);
        uint8_t flags[NINST] = {0};
        gained(from, to, &by_address, flags, 1);
        char got[256] = "";
        for (size_t i = 0; i < NINST; i++)
            if (flags[i])
                snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%zu", *got ? " " : "", i);
        if (strcmp(got, cases[c].flagged))
            fail_msg("%s: flagged \"%s\", want \"%s\"", cases[c].what, got, cases[c].flagged);
        cg_snapshot_free(from);
        cg_snapshot_free(to);
    }
    free(by_address.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gained_flags_exactly_what_came),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
