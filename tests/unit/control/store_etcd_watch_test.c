/* Tests of the etcd backend's watch (store_etcd.c, included to reach its statics) against a
 * hostile or buggy etcd: answers written by hand into a socket pair, the ranges a relist makes
 * answered by a small server thread, the watch's own reconnects sent to a listener that never
 * answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define WATCH_READS_PER_TURN 2
#include "control/store_etcd.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

/* A listener on 127.0.92.1 (the tests' block) that nobody accepts from; its "IP:PORT". */
static int listener(char *name, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    inet_pton(AF_INET, "127.0.92.1", &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 64), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    snprintf(name, n, "127.0.92.1:%u", ntohs(a.sin_port));
    return fd;
}

/* Answers `count` ranges, each with a revision and no key, then ends. */
typedef struct ranges {
    int fd, count;
    uint64_t revision;
    pthread_t thread;
} ranges_t;

static void *serve_ranges(void *arg)
{
    ranges_t *r = arg;
    for (int i = 0; i < r->count; i++) {
        int c = accept(r->fd, NULL, NULL);
        char req[4096];
        size_t got = 0;
        /* the head and a small body: the request is done when its JSON closes */
        while (got < sizeof(req) - 1) {
            ssize_t n = read(c, req + got, sizeof(req) - 1 - got);
            if (n <= 0) break;
            got += (size_t)n;
            req[got] = '\0';
            char *body = strstr(req, "\r\n\r\n");
            if (body && strchr(body, '}')) break;
        }
        char body[64], out[256];
        int bl = snprintf(body, sizeof(body), "{\"header\":{\"revision\":\"%llu\"}}",
                          (unsigned long long)r->revision);
        int ol = snprintf(out, sizeof(out),
                          "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                          "content-length: %d\r\nconnection: close\r\n\r\n%s",
                          bl, body);
        ssize_t w = write(c, out, (size_t)ol);
        (void)w;
        close(c);
    }
    return NULL;
}

typedef struct fixture {
    cg_loop_t loop;
    cg_control_store_t st;
    et_t *e;
    int peer;        /* etcd's end of the watch's socket pair */
    int quiet;       /* the watch endpoint: a listener that never answers */
    ranges_t ranges; /* endpoint 0: answers ranges */
} fixture_t;

static void setup_store(fixture_t *f, int ranges)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(cg_loop_init(&f->loop), 0);
    et_t *e = cg_xcalloc(1, sizeof(*e));
    f->e = e;
    f->st.impl = e;
    e->st = &f->st;
    e->w.fd = -1;
    e->loop = &f->loop;
    e->loaded = 1;
    e->revision = 5;
    f->ranges.fd = listener(e->endpoints[0], sizeof(e->endpoints[0]));
    f->quiet = listener(e->endpoints[1], sizeof(e->endpoints[1]));
    e->nendpoints = 2;
    e->current = 0; /* requests */
    e->w.at = 1;    /* the watch */
    f->ranges.count = ranges;
    f->ranges.revision = 10;
    if (ranges) pthread_create(&f->ranges.thread, NULL, serve_ranges, &f->ranges);
    f->peer = -1;
}

static void teardown_store(fixture_t *f)
{
    if (f->ranges.count) pthread_join(f->ranges.thread, NULL);
    et_close(&f->st);
    if (f->peer >= 0) close(f->peer);
    close(f->ranges.fd);
    close(f->quiet);
    cg_loop_destroy(&f->loop);
}

/* The watch as if connected and asked: its socket is one end of a pair, etcd the other. */
static void streaming(fixture_t *f)
{
    int sv[2];
    if (f->peer >= 0) close(f->peer);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    et_t *e = f->e;
    watch_close(e);
    e->w.fd = sv[0];
    e->w.state = W_HEAD;
    assert_int_equal(cg_io_start(&f->loop, &e->w.io, sv[0], on_watch_io), 0);
    f->peer = sv[1];
}

static void say(fixture_t *f, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(write(f->peer, s, n), (ssize_t)n);
}

#define HEAD                                                                                       \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"

/* One watch message as one chunk, appended to out. */
static void chunk(cg_buf_t *out, const char *json)
{
    cg_buf_printf(out, "%zx\r\n%s\n\r\n", strlen(json) + 1, json);
}

/* One watch message as one chunk, written. */
static void message(fixture_t *f, const char *json)
{
    cg_buf_t b = {0};
    chunk(&b, json);
    cg_buf_append(&b, "", 1);
    say(f, b.base);
    cg_buf_free(&b);
}

/* etcd wrote; the loop hears of it (the socket is readable). */
static void readable(fixture_t *f)
{
    on_watch_io(&f->loop, &f->e->w.io, CG_IO_READ);
}

#define CREATED   "{\"result\":{\"header\":{\"revision\":\"6\"},\"created\":true}}"
#define CANCELED  "{\"result\":{\"header\":{\"revision\":\"6\"},\"canceled\":true}}"
#define COMPACTED "{\"result\":{\"header\":{},\"canceled\":true,\"compact_revision\":\"8\"}}"

/* A watch answered and created, on a new socket pair. */
static void created(fixture_t *f)
{
    streaming(f);
    say(f, HEAD);
    message(f, CREATED);
}

static void test_a_watch_canceled_again_and_again_backs_off(void **state)
{
    (void)state;
    fixture_t f;
    setup_store(&f, 0);
    et_t *e = f.e;
    /* created and canceled at once (etcd 3.4 with auth on, the user without the key range):
     * one message; created then canceled: two. Neither starts the next watch at once, and the
     * back-off grows from one to the next. */
    uint32_t before = 0;
    for (int i = 0; i < 8; i++) {
        streaming(&f);
        say(&f, HEAD);
        if (i % 2)
            message(&f, "{\"result\":{\"header\":{\"revision\":\"6\"},\"created\":true,"
                        "\"canceled\":true,\"cancel_reason\":\"etcdserver: permission denied\"}}");
        else {
            message(&f, CREATED);
            message(&f, CANCELED);
        }
        readable(&f);
        assert_int_equal(e->w.state, W_IDLE);
        assert_int_equal(e->w.fd, -1);
        assert_true(cg_timer_active(&e->w.timer));
        assert_true(e->w.backoff_ms > before || e->w.backoff_ms == WATCH_BACKOFF_MAX_MS);
        before = e->w.backoff_ms;
    }
    assert_int_equal(e->w.backoff_ms, WATCH_BACKOFF_MAX_MS);
    teardown_store(&f);
}

static void test_a_compaction_restarts_at_once_only_once_without_events(void **state)
{
    (void)state;
    fixture_t f;
    setup_store(&f, 3);
    et_t *e = f.e;
    /* compacted: everything read again (revision 10), the watch asked again at once */
    created(&f);
    message(&f, COMPACTED);
    readable(&f);
    assert_int_equal(e->revision, 10);
    assert_int_equal(e->w.state, W_CONNECTING);
    assert_true(e->changed);
    /* again with no event between: read again, then after a back-off */
    created(&f);
    message(&f, COMPACTED);
    f.ranges.revision = 11; /* the thread answers the next range with it */
    readable(&f);
    assert_int_equal(e->w.state, W_IDLE);
    assert_true(cg_timer_active(&e->w.timer));
    /* a watch that delivers an event works: the next compaction is at once again */
    created(&f);
    message(&f, "{\"result\":{\"header\":{\"revision\":\"12\"},\"events\":[{\"kv\":{\"key\":"
                "\"L2Nyb3NzZ2F0ZS9tZXRhL3g=\",\"create_revision\":\"12\",\"mod_revision\":\"12\"}}"
                "]}}");
    message(&f, COMPACTED);
    readable(&f);
    assert_int_equal(e->w.state, W_CONNECTING);
    teardown_store(&f);
}

static void test_the_end_of_the_answer_starts_the_watch_again(void **state)
{
    (void)state;
    fixture_t f;
    setup_store(&f, 0);
    et_t *e = f.e;
    /* as etcd 3.4 ends it: an error with no newline, the last chunk; the connection stays */
    created(&f);
    say(&f, "6f\r\n{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"transport is "
            "closing\",\"http_status\":\"Service Unavailable\"}}\r\n0\r\n\r\n");
    readable(&f);
    assert_int_equal(e->w.state, W_IDLE);
    assert_true(cg_timer_active(&e->w.timer));
    /* the last chunk alone */
    created(&f);
    say(&f, "0\r\n\r\n");
    readable(&f);
    assert_int_equal(e->w.state, W_IDLE);
    teardown_store(&f);
}

static void test_a_watch_not_created_in_time_is_given_up(void **state)
{
    (void)state;
    fixture_t f;
    setup_store(&f, 0);
    et_t *e = f.e;
    uint32_t was = cg_control_store_etcd_timeout_ms;
    cg_control_store_etcd_timeout_ms = 50;
    /* the listener accepts the connection (its backlog) and never answers: no head comes */
    watch_start(e);
    assert_int_equal(e->w.state, W_CONNECTING);
    assert_true(cg_timer_active(&e->w.timer));
    uint64_t deadline = cg_clock_mono_us() + 10 * 1000 * 1000;
    while (e->w.state != W_IDLE && cg_clock_mono_us() < deadline) cg_loop_run_once(&f.loop, 100);
    assert_int_equal(e->w.state, W_IDLE);
    assert_int_equal(e->w.at, 0); /* the next endpoint is tried */
    /* a head that never ends, a byte at a time, is given up too */
    streaming(&f);
    cg_timer_start(&f.loop, &e->w.timer, cg_control_store_etcd_timeout_ms, on_watch_timer);
    say(&f, "HTTP/1.1 200 OK\r\n");
    readable(&f);
    assert_int_equal(e->w.state, W_HEAD);
    deadline = cg_clock_mono_us() + 10 * 1000 * 1000;
    while (e->w.state != W_IDLE && cg_clock_mono_us() < deadline) cg_loop_run_once(&f.loop, 100);
    assert_int_equal(e->w.state, W_IDLE);
    /* a created watch is not: the wait ends with created */
    streaming(&f);
    cg_timer_start(&f.loop, &e->w.timer, cg_control_store_etcd_timeout_ms, on_watch_timer);
    say(&f, HEAD);
    message(&f, CREATED);
    readable(&f);
    assert_int_equal(e->w.state, W_STREAM);
    assert_false(cg_timer_active(&e->w.timer));
    cg_control_store_etcd_timeout_ms = was;
    teardown_store(&f);
}

static void fake_clock(void *ctx, uint64_t *mono_us, uint64_t *wall_us)
{
    *mono_us = *wall_us = *(uint64_t *)ctx;
}

static void test_the_wait_for_creation_counts_from_the_watch_start(void **state)
{
    (void)state;
    fixture_t f;
    setup_store(&f, 0);
    et_t *e = f.e;
    uint64_t now_us = 1000 * 1000;
    cg_loop_set_clock(&f.loop, fake_clock, &now_us);
    /* the loop turn began at 1 s, then a blocking read took 5 s (a relist, a first load) */
    now_us += 5 * 1000 * 1000;
    watch_start(e);
    assert_true(cg_timer_active(&e->w.timer));
    assert_int_equal(e->w.timer.due_ms, 6000 + cg_control_store_etcd_timeout_ms);
    cg_loop_set_clock(&f.loop, NULL, NULL);
    teardown_store(&f);
}

static void test_a_head_past_its_bound_or_not_200_is_refused(void **state)
{
    (void)state;
    fixture_t f;
    setup_store(&f, 0);
    et_t *e = f.e;
    static const char *heads[] = {
        "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 2000 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(*heads); i++) {
        streaming(&f);
        say(&f, heads[i]);
        readable(&f);
        assert_int_equal(e->w.state, W_IDLE);
    }
    /* one whole head of 9000 bytes, in one read */
    streaming(&f);
    char big[9100];
    memset(big, 'a', sizeof(big));
    memcpy(big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: ", 48);
    memcpy(big + 9000, "\r\n\r\n", 5);
    say(&f, big);
    readable(&f);
    assert_int_equal(e->w.state, W_IDLE);
    teardown_store(&f);
}

static void test_a_flood_is_read_over_several_turns(void **state)
{
    (void)state;
    fixture_t f;
    setup_store(&f, 0);
    et_t *e = f.e;
    created(&f);
    /* 400 messages of ~170 bytes: more than two reads of 16 KiB (WATCH_READS_PER_TURN here) */
    cg_buf_t all = {0};
    for (int rev = 6; rev < 406; rev++) {
        char m[256];
        snprintf(m, sizeof(m),
                 "{\"result\":{\"header\":{\"revision\":\"%d\"},\"events\":[{\"kv\":{\"key\":"
                 "\"L2Nyb3NzZ2F0ZS9tZXRhL3g=\",\"create_revision\":\"6\",\"mod_revision\":\"%d\","
                 "\"value\":\"eA==\"}}]}}",
                 rev, rev);
        chunk(&all, m);
    }
    cg_buf_append(&all, "", 1);
    say(&f, all.base); /* one write: a unix socket counts each write's overhead */
    cg_buf_free(&all);
    readable(&f);
    /* one turn read some, and comes back for the rest */
    assert_true(e->revision > 5 && e->revision < 405);
    assert_true(cg_timer_active(&e->w.more));
    assert_int_equal(e->w.state, W_STREAM);
    uint64_t deadline = cg_clock_mono_us() + 10 * 1000 * 1000;
    while (e->revision < 405 && cg_clock_mono_us() < deadline) {
        cg_loop_run_once(&f.loop, 100);
    }
    assert_int_equal(e->revision, 405);
    assert_int_equal(e->w.state, W_STREAM);
    teardown_store(&f);
}

/* A watch message of one put at revision rev. */
static void put(fixture_t *f, const char *key, const char *value, int rev)
{
    cg_buf_t k = {0}, v = {0}, m = {0};
    cg_etcd_b64_encode(&k, key, strlen(key));
    cg_etcd_b64_encode(&v, value, strlen(value));
    cg_buf_printf(&m,
                  "{\"result\":{\"header\":{\"revision\":\"%d\"},\"events\":[{\"kv\":{\"key\":"
                  "\"%.*s\",\"create_revision\":\"%d\",\"mod_revision\":\"%d\",\"value\":"
                  "\"%.*s\"}}]}}",
                  rev, (int)k.len, k.base, rev, rev, (int)v.len, v.base ? v.base : "");
    assert_int_equal(watch_line(f->e, m.base, m.len), 0);
    cg_buf_free(&k);
    cg_buf_free(&v);
    cg_buf_free(&m);
}

static void del(fixture_t *f, const char *key, int rev)
{
    cg_buf_t k = {0}, m = {0};
    cg_etcd_b64_encode(&k, key, strlen(key));
    cg_buf_printf(&m,
                  "{\"result\":{\"header\":{\"revision\":\"%d\"},\"events\":[{\"type\":\"DELETE\","
                  "\"kv\":{\"key\":\"%.*s\",\"mod_revision\":\"%d\"}}]}}",
                  rev, (int)k.len, k.base, rev);
    assert_int_equal(watch_line(f->e, m.base, m.len), 0);
    cg_buf_free(&k);
    cg_buf_free(&m);
}

#define LEASE(id)                                                                                  \
    "{\"id\":\"" id "\",\"owner\":\"o\",\"registered_us\":1,\"expires_us\":2,\"registration\":"    \
    "\"{}\"}"
#define CLUSTER(name)                                                                              \
    "{\"kind\":\"Cluster\",\"cluster\":\"\",\"namespace\":\"\",\"name\":\"" name                   \
    "\",\"updated_us\":1,\"json\":\"{}\"}"

static void test_values_that_are_not_their_keys_are_ignored(void **state)
{
    (void)state;
    fixture_t f;
    setup_store(&f, 0);
    et_t *e = f.e;
    /* a lease under its key; one under another's key is not a lease */
    put(&f, "/crossgate/leases/A", LEASE("A"), 6);
    put(&f, "/crossgate/leases/C", LEASE("D"), 7);
    assert_int_equal(e->leases.len, 1);
    assert_string_equal(e->leases.items[0].id, "A");
    /* a lease key whose value is no longer a lease: the lease is gone */
    put(&f, "/crossgate/leases/B", LEASE("B"), 8);
    assert_int_equal(e->leases.len, 2);
    put(&f, "/crossgate/leases/A", "not json", 9);
    assert_int_equal(e->leases.len, 1);
    assert_string_equal(e->leases.items[0].id, "B");
    put(&f, "/crossgate/leases/B", "{\"id\":\"B\"}", 10);
    assert_int_equal(e->leases.len, 0);
    /* a resource under another's key would be a second c1, that the delete of its key leaves */
    put(&f, "/crossgate/resources/Cluster///c1", CLUSTER("c1"), 11);
    put(&f, "/crossgate/resources/Cluster///c2", CLUSTER("c1"), 12);
    assert_int_equal(e->res.len, 1);
    assert_string_equal(e->res.items[0]->name, "c1");
    assert_int_equal(e->res.items[0]->version, 11);
    del(&f, "/crossgate/resources/Cluster///c2", 13);
    assert_int_equal(e->res.len, 1);
    /* a resource key whose value does not decode: the resource is gone */
    put(&f, "/crossgate/resources/Cluster///c1", "[]", 14);
    assert_int_equal(e->res.len, 0);
    assert_int_equal(e->revision, 14);
    teardown_store(&f);
}

static void test_a_resource_is_found_by_its_key(void **state)
{
    (void)state;
    fixture_t f;
    setup_store(&f, 0);
    et_t *e = f.e;
    put(&f, "/crossgate/resources/Cluster///c1", CLUSTER("c1"), 6);
    put(&f, "/crossgate/resources/Cluster///a%2Fb%25", CLUSTER("a/b%"), 7);
    put(&f, "/crossgate/resources/Cluster///-._%7E", CLUSTER("-._~"), 8);
    assert_int_equal(e->res.len, 3);
    static const struct {
        const char *key;
        ssize_t at;
    } cases[] = {
        {"/crossgate/resources/Cluster///c1", 0},
        {"/crossgate/resources/Cluster///a%2Fb%25", 1},
        {"/crossgate/resources/Cluster///-._%7E", 2},
        /* not as cg_etcd_res_key writes it: lower-case hex, an escape not needed, one not
         * escaped, other segment counts, another kind */
        {"/crossgate/resources/Cluster///a%2fb%25", -1},
        {"/crossgate/resources/Cluster///%631", -1},
        {"/crossgate/resources/Cluster///-._~", -1},
        {"/crossgate/resources/Cluster///a/b%", -1},
        {"/crossgate/resources/Cluster//c1", -1},
        {"/crossgate/resources/Cluster////c1", -1},
        {"/crossgate/resources/Cluster", -1},
        {"/crossgate/resources/", -1},
        {"/crossgate/resources/Service///c1", -1},
        {"/crossgate/resources/Nope///c1", -1},
        {"/crossgate/resources/Cluster///c1%", -1},
        {"/crossgate/resources/Cluster///c1%0", -1},
        {"/crossgate/resources/Cluster///c1%00", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
        if (res_find_key(e, cases[i].key) != cases[i].at)
            fail_msg("%s: %zd", cases[i].key, res_find_key(e, cases[i].key));
    /* a delete by its key */
    del(&f, "/crossgate/resources/Cluster///a%2Fb%25", 9);
    assert_int_equal(e->res.len, 2);
    assert_string_equal(e->res.items[1]->name, "-._~");
    teardown_store(&f);
}

/* After an attempt that may have been applied, a failed compare is our own write exactly when
 * the mirror holds every put with its content and none of the deleted keys. */
static void test_an_uncertain_commit_is_ours_when_etcd_holds_its_writes(void **state)
{
    (void)state;
    fixture_t f;
    setup_store(&f, 0);
    et_t *e = f.e;
    put(&f, "/crossgate/resources/Cluster///c1", CLUSTER("c1"), 6);
    put(&f, "/crossgate/resources/Cluster///c2", CLUSTER("c2"), 7);
    cg_control_txn_t txn = {0};
    cg_control_res_t mine = {
        .kind = CG_KIND_CLUSTER, .cluster = "", .namespace_ = "", .name = "c1", .json = "{}"};
    cg_vec_push(&txn.puts, &mine);
    char *gone[] = {"/crossgate/resources/Cluster///c3"};
    assert_true(holds(e, &txn, gone, 1));
    /* another content: another writer's */
    mine.json = "{\"x\":1}";
    assert_false(holds(e, &txn, gone, 1));
    mine.json = "{}";
    /* a key this txn deleted is there: not ours */
    char *there[] = {"/crossgate/resources/Cluster///c2"};
    assert_false(holds(e, &txn, there, 1));
    /* a put of a resource etcd does not hold */
    mine.name = "c9";
    assert_false(holds(e, &txn, gone, 1));
    cg_vec_free(&txn.puts);
    teardown_store(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_watch_canceled_again_and_again_backs_off),
        cmocka_unit_test(test_a_compaction_restarts_at_once_only_once_without_events),
        cmocka_unit_test(test_the_end_of_the_answer_starts_the_watch_again),
        cmocka_unit_test(test_a_watch_not_created_in_time_is_given_up),
        cmocka_unit_test(test_the_wait_for_creation_counts_from_the_watch_start),
        cmocka_unit_test(test_a_head_past_its_bound_or_not_200_is_refused),
        cmocka_unit_test(test_a_flood_is_read_over_several_turns),
        cmocka_unit_test(test_values_that_are_not_their_keys_are_ignored),
        cmocka_unit_test(test_a_resource_is_found_by_its_key),
        cmocka_unit_test(test_an_uncertain_commit_is_ours_when_etcd_holds_its_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
