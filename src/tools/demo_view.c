/* `crossgate demo`: what it shows. The edge's endpoints (its admin /clusters), a line per
 * second of traffic, and on a terminal a live screen with the processes, the traffic, the events
 * and the keys. */
#include "tools/demo_state.h"

#include "core/buf.h"
#include "proxy/clusters_doc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * The edge's endpoints
 * --------------------------------------------------------------------------------------- */

/* Parses the edge's /clusters answer into v: the first destination that routes to clusters. */
static void parse_clusters(const cg_buf_t *body, edge_view_t *v)
{
    memset(v, 0, sizeof(*v));
    cg_clusters_doc_t doc;
    if (cg_clusters_doc_decode(body->base ? body->base : "", body->len, &doc, NULL)) return;
    /* the edge's main destination: the one with the most endpoints (a health-check rule's
     * named list of the local clusters has fewer) */
    size_t best = doc.ndests;
    for (size_t i = 0; i < doc.ndests; i++)
        if (doc.dests[i].mode != CG_DEST_SERVICE &&
            (best == doc.ndests || doc.dests[i].nendpoints > doc.dests[best].nendpoints))
            best = i;
    for (size_t i = best; i < doc.ndests; i++) {
        const cg_clusters_dest_t *d = &doc.dests[i];
        v->ok = 1;
        snprintf(v->mode, sizeof(v->mode), "%s", cg_dest_mode_name(d->mode));
        for (size_t k = 0; k < d->npriorities && v->npri < EDGE_VIEW_MAX_PRIORITIES; k++)
            v->load[v->npri++] = d->priorities[k].load_percent;
        for (size_t k = 0; k < d->nendpoints && v->nep < EDGE_VIEW_MAX_ENDPOINTS; k++) {
            const cg_clusters_endpoint_t *e = &d->endpoints[k];
            const char *name = e->address;
            for (int j = 0; j < NPROCS; j++)
                if (procs[j].kind == K_INGRESS &&
                    (!strcmp(procs[j].listen, e->address) ||
                     (procs[j].mesh && !strcmp(procs[j].mesh, e->address))))
                    name = procs[j].name;
            snprintf(v->ep[v->nep].name, sizeof(v->ep[0].name), "%s", name);
            snprintf(v->ep[v->nep].cluster, sizeof(v->ep[0].cluster), "%s",
                     e->cluster ? e->cluster : "-");
            snprintf(v->ep[v->nep].health, sizeof(v->ep[0].health), "%s",
                     cg_clusters_health_name(e->health));
            v->ep[v->nep].priority = e->priority;
            v->ep[v->nep].ejections = e->ejections;
            v->nep++;
        }
        break;
    }
    cg_clusters_doc_clear(&doc);
}

int cg_tools__demo_edge_view_now(edge_view_t *v)
{
    cg_http_result_t res = {0};
    cg_http_fetch("GET", "http://" EDGE_ADMIN "/clusters", NULL, NULL, 0, 500, &res);
    if (!res.err && res.status == 200)
        parse_clusters(&res.body, v);
    else
        memset(v, 0, sizeof(*v));
    cg_http_result_free(&res);
    return v->ok;
}

static void on_clusters(cg_http_client_t *c, cg_http_result_t *res, void *data)
{
    D.clusters_req = NULL;
    if (!res->err && res->status == 200)
        parse_clusters(&res->body, &D.ev);
    else
        D.ev.ok = 0;
}

void cg_tools__demo_on_poll(cg_loop_t *loop, cg_timer_t *t)
{
    if (!D.clusters_req && procs[P_EDGE].pid && !procs[P_EDGE].frozen)
        D.clusters_req = cg_http_client_start(loop, "GET", "http://" EDGE_ADMIN "/clusters", NULL,
                                              NULL, 0, POLL_MS - 50, on_clusters, NULL);
    else if (!procs[P_EDGE].pid)
        D.ev.ok = 0;
    cg_timer_start(loop, t, POLL_MS, cg_tools__demo_on_poll);
}

/* "ingress-1 healthy, ingress-2 healthy" */
static void edge_summary(char *out, size_t cap)
{
    const edge_view_t *v = &D.ev;
    size_t n = 0;
    if (!v->ok) {
        snprintf(out, cap, "edge admin not answering");
        return;
    }
    int weighted = !strcmp(v->mode, "weighted");
    n += (size_t)snprintf(out, cap, "%s:", v->mode);
    for (unsigned i = 0; i < v->nep && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s %s%s%s", i && weighted ? "," : "",
                              v->ep[i].name, weighted ? "" : " ", weighted ? "" : v->ep[i].health);
    if (weighted && n < cap) snprintf(out + n, cap - n, " (no health checks)");
}

/* ---------------------------------------------------------------------------------------
 * The live view
 * --------------------------------------------------------------------------------------- */

static void seen(const cg_load_window_t *w)
{
    for (unsigned i = 0; i < w->nclusters; i++) {
        const char *c = w->cluster[i].name;
        unsigned j = 0;
        while (j < D.nseen_clusters && strcmp(D.seen_clusters[j], c) < 0) j++;
        if ((j < D.nseen_clusters && !strcmp(D.seen_clusters[j], c)) ||
            D.nseen_clusters == CG_LOAD_WINDOW_MAX)
            continue;
        memmove(D.seen_clusters[j + 1], D.seen_clusters[j],
                (D.nseen_clusters - j) * sizeof(D.seen_clusters[0]));
        snprintf(D.seen_clusters[j], sizeof(D.seen_clusters[0]), "%s", c);
        D.nseen_clusters++;
    }
    for (unsigned i = 0; i < w->nstatus; i++) {
        unsigned c = w->status[i].code, j = 0;
        if (c == 0) continue;
        while (j < D.nseen_codes && D.seen_codes[j] < c) j++;
        if ((j < D.nseen_codes && D.seen_codes[j] == c) || D.nseen_codes == CG_LOAD_WINDOW_MAX)
            continue;
        memmove(D.seen_codes + j + 1, D.seen_codes + j, (D.nseen_codes - j) * sizeof(unsigned));
        D.seen_codes[j] = c;
        D.nseen_codes++;
    }
}

static uint64_t window_cluster(const cg_load_window_t *w, const char *name)
{
    for (unsigned i = 0; i < w->nclusters; i++)
        if (!strcmp(w->cluster[i].name, name)) return w->cluster[i].n;
    return 0;
}

static uint64_t window_code(const cg_load_window_t *w, unsigned code)
{
    for (unsigned i = 0; i < w->nstatus; i++)
        if (w->status[i].code == code) return w->status[i].n;
    return 0;
}

void cg_tools__demo_on_interval(void *data, const cg_load_window_t *w)
{
    char line[256], edge[160];
    size_t n = 0;
    seen(w);
    n += (size_t)snprintf(line, sizeof(line), "%7.1fs  rps %3.0f ", w->t,
                          w->secs > 0 ? (double)w->requests / w->secs : 0.0);
    for (unsigned i = 0; i < D.nseen_clusters && n < sizeof(line); i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, " %s:%llu", D.seen_clusters[i],
                              (unsigned long long)window_cluster(w, D.seen_clusters[i]));
    if (n < sizeof(line)) n += (size_t)snprintf(line + n, sizeof(line) - n, " ");
    for (unsigned i = 0; i < D.nseen_codes && n < sizeof(line); i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, " %u:%llu", D.seen_codes[i],
                              (unsigned long long)window_code(w, D.seen_codes[i]));
    if (w->p50_ms >= 0 && n < sizeof(line))
        n += (size_t)snprintf(line + n, sizeof(line) - n, "  p50 %.2fms p99 %.2fms", w->p50_ms,
                              w->p99_ms);
    else if (n < sizeof(line))
        n += (size_t)snprintf(line + n, sizeof(line) - n, "  p50 - p99 -");
    edge_summary(edge, sizeof(edge));
    if (n < sizeof(line))
        snprintf(line + n, sizeof(line) - n, "  errors %llu  | %s", (unsigned long long)w->errors,
                 edge);
    if (D.nlines == MAX_LINES) {
        memmove(D.lines, D.lines + 1, (MAX_LINES - 1) * sizeof(D.lines[0]));
        D.nlines--;
    }
    snprintf(D.lines[D.nlines++], sizeof(D.lines[0]), "%s", line);
    cg_tools__demo_out(line, 1);
    cg_tools__demo_draw();
}

static const char *proc_state(const proc_t *p, char *buf, size_t cap)
{
    if (p->pid && p->frozen) return "hung (SIGSTOP)";
    if (p->pid) return "running";
    if (p->exited) {
        cg_tools__demo_describe_status(p->wstatus, buf, cap);
        return buf;
    }
    return p->starts ? "killed" : "not started";
}

/* Appends one screen row cut at the terminal's width. */
static void row(cg_buf_t *b, int cols, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void row(cg_buf_t *b, int cols, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (cols > 0 && (int)strlen(line) > cols) line[cols] = '\0';
    cg_buf_append_str(b, line);
    cg_buf_append_str(b, "\033[K\r\n");
}

/* Redraws the whole screen (live view on a terminal only). */
void cg_tools__demo_draw(void)
{
    if (!D.live) return;
    struct winsize ws = {0};
    int rows = 24, cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
        rows = ws.ws_row;
        cols = ws.ws_col;
    }
    cg_buf_t b = {0};
    char st[64];
    cg_buf_append_str(&b, "\033[H");
    row(&b, cols, "\033[1mcrossgate demo\033[0m  run dir %s", D.run);
    row(&b, cols, "try: curl --connect-to %s:80:%s http://%s/productpage", HOSTNAME, EDGE_LISTEN,
        HOSTNAME);
    row(&b, cols, "%s", "");
    row(&b, cols, "%-16s %-13s %-9s %-16s %-16s %-7s %s", "ROLE", "CLUSTER", "REGION", "ADDRESS",
        "ADMIN", "PID", "STATE");
    int nshown = 0;
    for (int i = 0; i < NPROCS; i++) {
        const proc_t *p = &procs[i];
        char pid[16];
        if (p->ha && !D.ha) continue;
        nshown++;
        snprintf(pid, sizeof(pid), "%d", (int)p->pid);
        row(&b, cols, "%-16s %-13s %-9s %-16s %-16s %-7s %s", p->role, p->cluster, p->region,
            p->listen, p->admin ? p->admin : "-", p->pid ? pid : "-",
            proc_state(p, st, sizeof(st)));
    }
    row(&b, cols, "%s", "");
    if (D.ev.ok) {
        char pri[64] = "";
        size_t n = 0;
        for (unsigned i = 0; i < D.ev.npri && n < sizeof(pri); i++)
            n += (size_t)snprintf(pri + n, sizeof(pri) - n, "%sP%u %u%%", i ? ", " : "", i,
                                  D.ev.load[i]);
        row(&b, cols, "edge: %s%s%s%s   bookinfo-ingress-1 Gateway %s", D.ev.mode, n ? " (" : "",
            pri, n ? ")" : "", D.gw1_deleted ? "DELETED" : "applied");
        int weighted = !strcmp(D.ev.mode, "weighted");
        for (unsigned i = 0; i < D.ev.nep; i++)
            if (weighted)
                row(&b, cols, "  %-10s %-10s strict split, no health checks, no failover",
                    D.ev.ep[i].name, D.ev.ep[i].cluster);
            else
                row(&b, cols, "  %-10s %-10s P%u  %-9s ejections %u", D.ev.ep[i].name,
                    D.ev.ep[i].cluster, D.ev.ep[i].priority, D.ev.ep[i].health,
                    D.ev.ep[i].ejections);
    } else {
        row(&b, cols, "edge: admin %s not answering   bookinfo-ingress-1 Gateway %s", EDGE_ADMIN,
            D.gw1_deleted ? "DELETED" : "applied");
    }
    int used = 4 + nshown + 2 + (D.ev.ok ? (int)D.ev.nep : 0) + 1 + 2 + 2 + 3 + D.ha;
    int free_rows = rows - used - 1; /* the last row stays empty: its newline would scroll */
    if (free_rows < 2) free_rows = 2;
    int nl = free_rows / 2, ne = free_rows - nl;
    row(&b, cols, "%s", "");
    row(&b, cols, "\033[1mtraffic\033[0m (%.0f req/s, open loop, through %s; per second)", D.rate,
        EDGE_LISTEN);
    for (int i = (int)D.nlines > nl ? (int)D.nlines - nl : 0; i < (int)D.nlines; i++)
        row(&b, cols, "%s", D.lines[i]);
    for (int i = (int)D.nlines; i < nl; i++) row(&b, cols, "%s", "");
    row(&b, cols, "\033[1mevents\033[0m (logs in %s)", D.run);
    for (int i = (int)D.nshown > ne ? (int)D.nshown - ne : 0; i < (int)D.nshown; i++) {
        const cg_demo_event_t *e = &D.shown[i];
        if (e->t > SETUP_T)
            row(&b, cols, "  %6.1fs %-9s %s", e->t, e->who, e->text);
        else
            row(&b, cols, "  set-up  %-9s %s", e->who, e->text);
    }
    for (int i = (int)D.nshown; i < ne; i++) row(&b, cols, "%s", "");
    row(&b, cols, "%s", "");
    row(&b, cols,
        "keys: g delete/apply bookinfo-ingress-1   k/K kill/start ingress-1/2   u/U kill/start "
        "app-1/2");
    row(&b, cols,
        "      h/H hang/resume ingress-1/2   a/n/w edge auto/named/weighted   e kill/start edge-2");
    if (D.ha)
        row(&b, cols,
            "      x kill the etcd leader/start it   c kill/start the gateways' control replica");
    row(&b, cols, "      r restore all   q quit");
    cg_buf_append_str(&b, "\033[J");
    ssize_t w = write(STDOUT_FILENO, b.base, b.len);
    (void)w;
    cg_buf_free(&b);
}

void cg_tools__demo_term_restore(void)
{
    if (D.live) {
        static const char leave[] = "\033[?25h\033[?1049l";
        ssize_t w = write(STDOUT_FILENO, leave, sizeof(leave) - 1);
        (void)w;
        D.live = 0;
    }
    if (D.tio_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &D.tio);
        D.tio_saved = 0;
    }
}

/* Raw keys (no echo, no line buffering; Ctrl-C still interrupts, Ctrl-Z does not suspend). */
void cg_tools__demo_term_raw(void)
{
    if (tcgetattr(STDIN_FILENO, &D.tio) != 0) {
        D.keys = D.screen = 0;
        return;
    }
    struct termios raw = D.tio;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    raw.c_cc[VSUSP] = _POSIX_VDISABLE;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0) {
        D.keys = D.screen = 0;
        return;
    }
    D.tio_saved = 1;
    atexit(cg_tools__demo_term_restore);
    if (D.screen) {
        static const char enter[] = "\033[?1049h\033[?25l\033[2J";
        ssize_t w = write(STDOUT_FILENO, enter, sizeof(enter) - 1);
        (void)w;
        D.live = 1;
    }
}
