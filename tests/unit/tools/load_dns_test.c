/* Tests of the pure parts of `crossgate load --resolve-via` and --http2: DNS answers parsed from
 * hand-made packets (A records, the smallest TTL, CNAME chains, and every way an answer can be
 * wrong or cut short), answers compared, and how an HTTP/2 stream closed early is classified. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "tools/load_dns.h"
#include "tools/load_engine.h"

#include <arpa/inet.h>
#include <nghttp2/nghttp2.h>

typedef struct pkt {
    uint8_t b[512];
    size_t n;
} pkt_t;

static void put16(pkt_t *p, unsigned v)
{
    p->b[p->n++] = (uint8_t)(v >> 8);
    p->b[p->n++] = (uint8_t)v;
}

static void put32(pkt_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p, v & 0xffff);
}

static void put_name(pkt_t *p, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        p->b[p->n++] = (uint8_t)l;
        memcpy(p->b + p->n, name, l);
        p->n += l;
        name += l + (dot ? 1 : 0);
    }
    p->b[p->n++] = 0;
}

/* A response header (QR, AA, flags | rcode) and the question "qname A IN". */
static void head(pkt_t *p, unsigned id, unsigned flags, unsigned nan, const char *qname)
{
    p->n = 0;
    put16(p, id);
    put16(p, 0x8400 | flags);
    put16(p, 1);
    put16(p, nan);
    put16(p, 0);
    put16(p, 0);
    put_name(p, qname);
    put16(p, 1); /* A */
    put16(p, 1); /* IN */
}

/* An A record; owner NULL: a pointer to the question's name (offset 12). */
static void rr_a(pkt_t *p, const char *owner, uint32_t ttl, const char *ip)
{
    if (owner)
        put_name(p, owner);
    else
        put16(p, 0xc00c);
    put16(p, 1);
    put16(p, 1);
    put32(p, ttl);
    put16(p, 4);
    inet_pton(AF_INET, ip, p->b + p->n);
    p->n += 4;
}

static const char *ip(const cg_load_answer_t *a, unsigned i)
{
    static char s[4][INET_ADDRSTRLEN];
    return inet_ntop(AF_INET, &a->a[i], s[i % 4], sizeof(s[0]));
}

static void test_a_records_and_smallest_ttl(void **state)
{
    (void)state;
    pkt_t p;
    cg_load_answer_t a;
    const char *why = NULL;
    head(&p, 0x1234, 0, 3, "app.gslb.test");
    rr_a(&p, NULL, 30, "127.0.87.11");
    rr_a(&p, NULL, 5, "127.0.87.12");
    rr_a(&p, "other.gslb.test", 1, "127.0.87.99"); /* another owner: not ours */
    assert_int_equal(cg_load_dns_parse(p.b, p.n, 0x1234, "app.gslb.test", &a, &why), 0);
    assert_int_equal(a.n, 2);
    assert_string_equal(ip(&a, 0), "127.0.87.11");
    assert_string_equal(ip(&a, 1), "127.0.87.12");
    assert_int_equal(a.ttl, 5);
    /* names compare without case, as DNS does */
    assert_int_equal(cg_load_dns_parse(p.b, p.n, 0x1234, "APP.gslb.Test", &a, &why), 0);
}

static void test_cname_chain(void **state)
{
    (void)state;
    pkt_t p;
    cg_load_answer_t a;
    const char *why = NULL;
    head(&p, 7, 0, 2, "app.gslb.test");
    put16(&p, 0xc00c);
    put16(&p, 5); /* CNAME */
    put16(&p, 1);
    put32(&p, 60);
    put16(&p, 16); /* "real.gslb.test" in full: 1+4+1+4+1+4+1 */
    put_name(&p, "real.gslb.test");
    rr_a(&p, "real.gslb.test", 2, "127.0.87.21");
    assert_int_equal(cg_load_dns_parse(p.b, p.n, 7, "app.gslb.test", &a, &why), 0);
    assert_int_equal(a.n, 1);
    assert_string_equal(ip(&a, 0), "127.0.87.21");
    assert_int_equal(a.ttl, 2);
}

/* Each wrong answer is refused with its reason, and the answer is left empty. */
static void test_wrong_answers(void **state)
{
    (void)state;
    pkt_t p;
    cg_load_answer_t a;
    const char *why;
    static const struct {
        unsigned id, flags;
        const char *qname, *why;
    } cases[] = {
        {0x99, 0, "app.gslb.test", "not the answer to our query (id)"},
        {1, 3, "app.gslb.test", "NXDOMAIN (no such name)"},
        {1, 2, "app.gslb.test", "SERVFAIL"},
        {1, 5, "app.gslb.test", "REFUSED"},
        {1, 0x0200, "app.gslb.test", "truncated answer"},
        {1, 0, "else.gslb.test", "not the answer to our question"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        head(&p, cases[i].id, cases[i].flags, 1, cases[i].qname);
        rr_a(&p, NULL, 5, "127.0.87.11");
        why = NULL;
        assert_int_equal(cg_load_dns_parse(p.b, p.n, 1, "app.gslb.test", &a, &why), CG_EPARSE);
        assert_string_equal(why, cases[i].why);
        assert_int_equal(a.n, 0);
    }
    /* a query is not an answer */
    head(&p, 1, 0, 1, "app.gslb.test");
    p.b[2] &= 0x7f;
    rr_a(&p, NULL, 5, "127.0.87.11");
    assert_int_equal(cg_load_dns_parse(p.b, p.n, 1, "app.gslb.test", &a, &why), CG_EPARSE);
    /* NOERROR without an A record (NODATA) */
    head(&p, 1, 0, 0, "app.gslb.test");
    assert_int_equal(cg_load_dns_parse(p.b, p.n, 1, "app.gslb.test", &a, &why), CG_EPARSE);
    assert_string_equal(why, "no A record in the answer");
}

/* Every cut of a good answer is refused, never read past its end (ASan watches). */
static void test_truncated_packets(void **state)
{
    (void)state;
    pkt_t p;
    cg_load_answer_t a;
    const char *why;
    head(&p, 1, 0, 2, "app.gslb.test");
    rr_a(&p, NULL, 5, "127.0.87.11");
    rr_a(&p, NULL, 5, "127.0.87.12");
    for (size_t n = 0; n < p.n; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, p.b, n);
        assert_int_equal(cg_load_dns_parse(cut, n, 1, "app.gslb.test", &a, &why), CG_EPARSE);
        free(cut);
    }
    assert_int_equal(cg_load_dns_parse(p.b, p.n, 1, "app.gslb.test", &a, &why), 0);
    assert_int_equal(a.n, 2);
}

static void test_answers_compared(void **state)
{
    (void)state;
    cg_load_answer_t x = {.n = 2}, y = {.n = 2}, z = {.n = 1};
    inet_pton(AF_INET, "127.0.87.11", &x.a[0]);
    inet_pton(AF_INET, "127.0.87.12", &x.a[1]);
    y.a[0] = x.a[1];
    y.a[1] = x.a[0];
    z.a[0] = x.a[0];
    assert_true(cg_load_answer_same(&x, &y)); /* the order does not matter */
    assert_false(cg_load_answer_same(&x, &z));
    cg_addr_t in, out;
    assert_int_equal(cg_addr_parse(&in, "127.0.87.12:80"), 0);
    assert_int_equal(cg_addr_parse(&out, "127.0.87.13:80"), 0);
    assert_true(cg_load_answer_has(&x, &in));
    assert_false(cg_load_answer_has(&z, &in));
    assert_false(cg_load_answer_has(&x, &out));
}

/* A stream that ends before its response: reset by the server, refused by its GOAWAY, or a
 * protocol error. */
static void test_h2_close_kinds(void **state)
{
    (void)state;
    static const struct {
        int rst;
        uint32_t code;
        int goaway, kind;
    } cases[] = {
        {1, NGHTTP2_INTERNAL_ERROR, 0, CG_LOAD_E_RST},
        {1, NGHTTP2_REFUSED_STREAM, 0, CG_LOAD_E_RST},
        {1, NGHTTP2_REFUSED_STREAM, 1, CG_LOAD_E_RST}, /* its own RST_STREAM says more */
        {0, NGHTTP2_REFUSED_STREAM, 1, CG_LOAD_E_GOAWAY},
        {0, NGHTTP2_PROTOCOL_ERROR, 0, CG_LOAD_E_H2},
        {0, NGHTTP2_PROTOCOL_ERROR, 1, CG_LOAD_E_H2},
        {0, NGHTTP2_NO_ERROR, 0, CG_LOAD_E_H2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(cg_load__h2_close_kind(cases[i].rst, cases[i].code, cases[i].goaway),
                         cases[i].kind);
    assert_string_equal(cg_load_err_names[CG_LOAD_E_RST], "rst_stream");
    assert_string_equal(cg_load_err_names[CG_LOAD_E_GOAWAY], "goaway");
    assert_string_equal(cg_load_err_names[CG_LOAD_E_H2], "protocol");
    assert_string_equal(cg_load_err_names[CG_LOAD_E_DNS], "dns");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_records_and_smallest_ttl),
        cmocka_unit_test(test_cname_chain),
        cmocka_unit_test(test_wrong_answers),
        cmocka_unit_test(test_truncated_packets),
        cmocka_unit_test(test_answers_compared),
        cmocka_unit_test(test_h2_close_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
