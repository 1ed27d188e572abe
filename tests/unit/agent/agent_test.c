/* Two agents in one process, on one loop, against a fake control plane on its own thread: each
 * registers as its own instance, hands its own callback its own snapshot, and deregisters its
 * own id on stop. Nothing of one agent is shared with the other. And an agent given two
 * control planes whose first one hangs takes its snapshot from the second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/list.h"
#include "http/server.h"
#include "translate/registration.h"

#include <llhttp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- the fake control plane: its own loop on its own thread ---- */

enum {
    CP_OK,
    CP_HANG,      /* heartbeats and watches are never answered */
    CP_WATCH_503, /* watches are answered 503 */
};

typedef struct fake_cp {
    cg_loop_t loop;
    cg_httpd_t srv;
    pthread_t thread;
    char url[64];
    pthread_mutex_t lock;
    int mode;         /* CP_*, set at start */
    int heartbeat_ms; /* what registration answers */
    int registrations, parked, gone, heartbeats;
    char deleted[2][32];
    int ndeleted;
} fake_cp_t;

static int iov_starts(cg_iov_t v, const char *s)
{
    size_t n = strlen(s);
    return v.len >= n && !memcmp(v.base, s, n);
}

static int iov_ends(cg_iov_t v, const char *s)
{
    size_t n = strlen(s);
    return v.len >= n && !memcmp(v.base + v.len - n, s, n);
}

static void on_gone(cg_httpd_pending_t *p, void *data)
{
    fake_cp_t *cp = data;
    pthread_mutex_lock(&cp->lock);
    cp->gone++;
    pthread_mutex_unlock(&cp->lock);
}

/* The instance id is "id-" + its cluster: /v1/instances/id-<cluster>[/...] */
static void id_of(cg_iov_t path, char *out, size_t cap)
{
    static const char pre[] = "/v1/instances/";
    size_t i = sizeof(pre) - 1, n = 0;
    while (i < path.len && path.base[i] != '/' && n + 1 < cap) out[n++] = path.base[i++];
    out[n] = '\0';
}

static void handle(cg_httpd_t *srv, const cg_httpd_req_t *req, cg_httpd_resp_t *resp)
{
    fake_cp_t *cp = srv->data;
    char id[32];
    resp->content_type = "application/json";
    if (req->method == HTTP_POST && cg_iov_eq(req->path, CG_IOV_LIT("/v1/instances"))) {
        cg_registration_t reg;
        cg_buf_t err = {0};
        if (cg_registration_decode(req->body.base, req->body.len, &reg, &err)) {
            resp->status = 400;
            cg_buf_free(&err);
            return;
        }
        cg_buf_printf(&resp->body, "{\"id\":\"id-%s\",\"heartbeat_ms\":%d}", reg.cluster,
                      cp->heartbeat_ms);
        cg_registration_clear(&reg);
        cg_buf_free(&err);
        pthread_mutex_lock(&cp->lock);
        cp->registrations++;
        pthread_mutex_unlock(&cp->lock);
    } else if (req->method == HTTP_GET && iov_ends(req->path, "/snapshot")) {
        id_of(req->path, id, sizeof(id));
        if (cp->mode == CP_WATCH_503) {
            resp->status = 503;
            return;
        }
        if (cp->mode == CP_HANG || !iov_starts(req->query, "after=0&")) {
            /* nothing newer: park the long-poll until the agent goes */
            cg_httpd_defer(req, on_gone, cp);
            pthread_mutex_lock(&cp->lock);
            cp->parked++;
            pthread_mutex_unlock(&cp->lock);
            return;
        }
        cg_snapshot_t snap = {
            .version = 1,
            .cluster = id + 3,
            .namespace_ = "default",
            .address = "127.0.0.1",
        };
        cg_snapshot_encode_json(&snap, &resp->body);
    } else if (req->method == HTTP_PUT && iov_ends(req->path, "/heartbeat")) {
        pthread_mutex_lock(&cp->lock);
        cp->heartbeats++;
        pthread_mutex_unlock(&cp->lock);
        if (cp->mode == CP_HANG) {
            cg_httpd_defer(req, on_gone, cp);
            return;
        }
        cg_buf_append_str(&resp->body, "{}");
    } else if (req->method == HTTP_DELETE && iov_starts(req->path, "/v1/instances/")) {
        id_of(req->path, id, sizeof(id));
        pthread_mutex_lock(&cp->lock);
        if (cp->ndeleted < 2)
            snprintf(cp->deleted[cp->ndeleted++], sizeof(cp->deleted[0]), "%s", id);
        pthread_mutex_unlock(&cp->lock);
        cg_buf_append_str(&resp->body, "{}");
    } else {
        resp->status = 404;
    }
}

static void *cp_main(void *arg)
{
    fake_cp_t *cp = arg;
    cg_loop_run(&cp->loop);
    cg_httpd_stop(&cp->srv);
    return NULL;
}

static void cp_start(fake_cp_t *cp, int mode, int heartbeat_ms)
{
    memset(cp, 0, sizeof(*cp));
    cp->mode = mode;
    cp->heartbeat_ms = heartbeat_ms;
    pthread_mutex_init(&cp->lock, NULL);
    assert_int_equal(cg_loop_init(&cp->loop), 0);
    assert_int_equal(cg_httpd_start(&cp->srv, &cp->loop, "127.0.0.1:0", handle, cp), 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    assert_int_equal(getsockname(cp->srv.fd, (struct sockaddr *)&a, &alen), 0);
    snprintf(cp->url, sizeof(cp->url), "http://127.0.0.1:%u", ntohs(a.sin_port));
    assert_int_equal(pthread_create(&cp->thread, NULL, cp_main, cp), 0);
}

static void cp_stop(fake_cp_t *cp)
{
    cg_loop_stop(&cp->loop);
    pthread_join(cp->thread, NULL);
    cg_loop_destroy(&cp->loop);
    pthread_mutex_destroy(&cp->lock);
}

/* ---- the gateways' side ---- */

typedef struct got {
    int n;
    uint64_t version;
    char cluster[32];
} got_t;

static int on_snapshot(void *data, cg_snapshot_t *snap, const char *why)
{
    got_t *g = data;
    g->n++;
    g->version = snap->version;
    snprintf(g->cluster, sizeof(g->cluster), "%s", snap->cluster ? snap->cluster : "");
    cg_snapshot_free(snap);
    return 0;
}

static void test_two_agents_in_one_process_keep_to_themselves(void **state)
{
    (void)state;
    fake_cp_t cp;
    cp_start(&cp, CP_OK, 1000);
    cg_loop_t loop;
    assert_int_equal(cg_loop_init(&loop), 0);
    cg_agent_cfg_t cfg_a = {
        .url = cp.url, .cluster = "gw-a", .namespace_ = "default", .address = "127.0.0.1"};
    cg_agent_cfg_t cfg_b = {
        .url = cp.url, .cluster = "gw-b", .namespace_ = "default", .address = "127.0.0.1"};
    got_t got_a = {0}, got_b = {0};
    cg_agent_t *a = NULL, *b = NULL;
    assert_int_equal(cg_agent_start(&a, &loop, &cfg_a, on_snapshot, &got_a), 0);
    assert_int_equal(cg_agent_start(&b, &loop, &cfg_b, on_snapshot, &got_b), 0);
    assert_non_null(a);
    assert_non_null(b);

    /* until both have their snapshot and wait on the next one */
    uint64_t deadline = cg_clock_mono_us() + 10 * 1000000ull;
    for (;;) {
        pthread_mutex_lock(&cp.lock);
        int parked = cp.parked;
        pthread_mutex_unlock(&cp.lock);
        if ((got_a.n && got_b.n && parked >= 2) || cg_clock_mono_us() > deadline) break;
        cg_loop_run_once(&loop, 20);
    }
    assert_int_equal(got_a.n, 1);
    assert_int_equal(got_b.n, 1);
    assert_string_equal(got_a.cluster, "gw-a");
    assert_string_equal(got_b.cluster, "gw-b");
    assert_int_equal(got_a.version, 1);
    assert_true(cg_agent_connected(a));
    assert_true(cg_agent_connected(b));
    assert_int_equal(cp.registrations, 2);

    /* each deregisters its own id */
    cg_agent_stop(b);
    cg_agent_stop(a);
    pthread_mutex_lock(&cp.lock);
    assert_int_equal(cp.ndeleted, 2);
    assert_string_equal(cp.deleted[0], "id-gw-b");
    assert_string_equal(cp.deleted[1], "id-gw-a");
    pthread_mutex_unlock(&cp.lock);
    cg_agent_stop(NULL); /* nothing */

    cg_loop_run_once(&loop, 0); /* cancelled requests are freed on the loop */
    cg_loop_destroy(&loop);
    cp_stop(&cp);
}

static int counter(fake_cp_t *cp, const int *field)
{
    pthread_mutex_lock(&cp->lock);
    int n = *field;
    pthread_mutex_unlock(&cp->lock);
    return n;
}

/* One agent given two fake control planes, "first,second": the first in `mode`, the second
 * answering everything; both tell the agent to heartbeat every heartbeat_ms. */
typedef struct two_cps {
    fake_cp_t first, second;
    cg_loop_t loop;
    char urls[160];
    cg_agent_cfg_t cfg;
    got_t got;
    cg_agent_t *agent;
} two_cps_t;

static void two_start(two_cps_t *t, int mode, int heartbeat_ms)
{
    memset(t, 0, sizeof(*t));
    cp_start(&t->first, mode, heartbeat_ms);
    cp_start(&t->second, CP_OK, heartbeat_ms);
    assert_int_equal(cg_loop_init(&t->loop), 0);
    snprintf(t->urls, sizeof(t->urls), "%s,%s", t->first.url, t->second.url);
    t->cfg = (cg_agent_cfg_t){
        .url = t->urls, .cluster = "gw", .namespace_ = "default", .address = "127.0.0.1"};
    assert_int_equal(cg_agent_start(&t->agent, &t->loop, &t->cfg, on_snapshot, &t->got), 0);
}

/* Runs the agent's loop until the snapshot came and the second control plane has seen
 * `heartbeats` heartbeats, or 10 s went by. */
static void two_run(two_cps_t *t, int heartbeats)
{
    uint64_t deadline = cg_clock_mono_us() + 10 * 1000000ull;
    while (!(t->got.n && counter(&t->second, &t->second.heartbeats) >= heartbeats) &&
           cg_clock_mono_us() < deadline)
        cg_loop_run_once(&t->loop, 20);
}

static void two_stop(two_cps_t *t)
{
    cg_agent_stop(t->agent);
    cg_loop_run_once(&t->loop, 0);
    cg_loop_destroy(&t->loop);
    cp_stop(&t->second);
    cp_stop(&t->first);
}

/* The first control plane registers the agent, then hangs: its heartbeat times out, which moves
 * the agent to the second (a replica of the same store: it knows the instance). The watch
 * parked on the hung one must move along, not wait out its 30 s long-poll there. */
static void test_a_watch_parked_on_a_hung_control_plane_moves_with_the_heartbeat(void **state)
{
    (void)state;
    two_cps_t t;
    two_start(&t, CP_HANG, 1000);
    /* the heartbeat (every 1 s, timing out after 1 s) moves it; 10 s is far below the poll */
    two_run(&t, 0);
    assert_int_equal(t.got.n, 1);
    assert_string_equal(t.got.cluster, "gw");
    assert_int_equal(counter(&t.first, &t.first.registrations), 1);
    assert_int_equal(counter(&t.second, &t.second.registrations), 0); /* the same instance */
    assert_true(counter(&t.first, &t.first.heartbeats) >= 1);
    two_stop(&t);
}

/* The first control plane fails the watch (503), which moves the agent to the second; the
 * heartbeat goes along at once, not one heartbeat interval (here 60 s) later: the lease was
 * last renewed at the first one, up to an interval ago. */
static void test_the_heartbeat_moves_with_a_failed_watch_at_once(void **state)
{
    (void)state;
    two_cps_t t;
    two_start(&t, CP_WATCH_503, 60000);
    two_run(&t, 1);
    assert_int_equal(t.got.n, 1);
    assert_int_equal(counter(&t.second, &t.second.heartbeats), 1);
    assert_int_equal(counter(&t.second, &t.second.registrations), 0); /* the same instance */
    assert_int_equal(counter(&t.first, &t.first.heartbeats), 0);
    two_stop(&t);
}

/* Control-plane URL lists: split, trailing '/' dropped, every one checked, bounded. */
static void test_url_lists(void **state)
{
    (void)state;
    cg_agent_urls_t u;
    cg_buf_t err = {0};
    assert_int_equal(cg_agent_urls_parse("http://127.0.0.1:7070/", &u, &err), 0);
    assert_int_equal(u.n, 1);
    assert_string_equal(u.url[0], "http://127.0.0.1:7070");
    assert_int_equal(cg_agent_urls_parse("http://127.0.0.1:1,http://127.0.0.2:2", &u, &err), 0);
    assert_int_equal(u.n, 2);
    assert_string_equal(u.url[1], "http://127.0.0.2:2");
    static const char *const bad[] = {"", "http://127.0.0.1:1,", ",http://127.0.0.1:1",
                                      "http://127.0.0.1:1,ftp://x", "127.0.0.1:7070"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cg_buf_reset(&err);
        assert_int_equal(cg_agent_urls_parse(bad[i], &u, &err), CG_EINVAL);
        assert_true(err.len > 0);
    }
    cg_buf_t many = {0};
    for (int i = 0; i <= CG_AGENT_MAX_CONTROLS; i++)
        cg_buf_printf(&many, "%shttp://127.0.0.1:%d", i ? "," : "", 1000 + i);
    cg_buf_append(&many, "", 1);
    cg_buf_reset(&err);
    assert_int_equal(cg_agent_urls_parse(many.base, &u, &err), CG_EINVAL);
    cg_buf_append(&err, "", 1);
    assert_non_null(strstr(err.base, "more than"));
    cg_buf_free(&many);
    cg_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_agents_in_one_process_keep_to_themselves),
        cmocka_unit_test(test_a_watch_parked_on_a_hung_control_plane_moves_with_the_heartbeat),
        cmocka_unit_test(test_the_heartbeat_moves_with_a_failed_watch_at_once),
        cmocka_unit_test(test_url_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
