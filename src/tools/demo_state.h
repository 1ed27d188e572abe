/* What the files of `crossgate demo` share: the layout of the processes, the state of a run
 * and the functions each file offers the others (demo.c: the command, set-up and runs;
 * demo_drill.c: scenarios, keys and control API calls; demo_proc.c: child processes, ports and
 * their logs; demo_view.c: what is shown). */
#ifndef CG_TOOLS_DEMO_STATE_H
#define CG_TOOLS_DEMO_STATE_H

#include "core/loop.h"
#include "http/client.h"
#include "tools/demo.h"
#include "tools/load.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <termios.h>

#define HOSTNAME        "bookinfo.tse.tetratelabs.io"
#define CONTROL_LISTEN  "127.0.0.1:7070"
#define CONTROL_URL     "http://127.0.0.1:7070"
#define EDGE_IP         "127.0.0.1"
#define EDGE_PORT       8080
#define EDGE_LISTEN     "127.0.0.1:8080"
#define EDGE_ADMIN      "127.0.0.1:15000"
#define EDGE_HTTPS_PORT 8443
#define EDGE_HTTPS      "127.0.0.1:8443"
#define EDGE_REGION     "region-1"
/* The second edge (cluster-edge-2, region-2) and the GSLB in front of both (demo_gslb.c): the
 * edges share the port, as sites behind one DNS name do, so a client that resolves the name
 * reaches either. */
#define EDGE2_IP     "127.0.4.1"
#define EDGE2_LISTEN "127.0.4.1:8080"
#define DNS_IP       "127.0.4.53"
#define DNS_LISTEN   "127.0.4.53:8053"
/* The GSLB's health URL: an edge Gateway rule sends this path to the local clusters only */
#define GSLB_HEALTH_PATH "/healthz/local"
/* The TTL of the GSLB's answers and the interval of its health checks, in seconds */
#define GSLB_TTL_S   1
#define GSLB_CHECK_S 1
/* --ha: the control plane on a 3-member etcd (127.0.5.1-3, clients on 2379, peers on 2380) with
 * a second replica beside the first; every gateway and the demo's own calls get both URLs */
#define ETCD_CLIENT_PORT "2379"
#define ETCD_PEER_PORT   "2380"
#define ETCD_MEMBERS     3
#define CONTROL2_IP      "127.0.5.10"
#define CONTROL2_LISTEN  "127.0.5.10:7070"
#define CONTROL2_URL     "http://127.0.5.10:7070"
#define CONTROL_URLS     CONTROL_URL "," CONTROL2_URL
#define ETCD_ENDPOINTS   "127.0.5.1:2379,127.0.5.2:2379,127.0.5.3:2379"

#define SCENARIO_FAIL_MS    3000
#define SCENARIO_RESTORE_MS 8000
#define SCENARIO_END_US     14000000ull
#define TAIL_MS             100 /* logs are read this often */
#define POLL_MS             500 /* the edge's /clusters is read this often */
#define MAX_LINES           200 /* per-second lines kept for the screen */
#define MAX_EVENTS          200 /* events kept for the screen */
#define MAX_REPORT_EVENTS   2000
#define RUN_MAX             3072 /* the run and examples directories, at most */

enum { K_CONTROL, K_APP, K_INGRESS, K_EDGE, K_DNS, K_ETCD };
/* P_EW2: cluster-2's east-west gateway, started only by the east-west scenario; P_CONTROL2 and
 * the etcd members: only with --ha */
enum {
    P_CONTROL,
    P_APP1,
    P_APP2,
    P_IN1,
    P_IN2,
    P_EDGE,
    P_EW2,
    P_EDGE2,
    P_DNS,
    P_CONTROL2,
    P_ETCD1,
    P_ETCD2,
    P_ETCD3,
    NPROCS
};

/* One child process. Owned by the procs table; pid 0 = not running. */
typedef struct proc {
    const char *name, *role;
    int kind;
    const char *cluster, *region, *ns, *label;
    const char *address; /* the IP it binds */
    const char *listen;  /* where it serves */
    const char *admin;   /* admin endpoint, or NULL */
    const char *mesh;    /* a gateway's mTLS port (its mesh identity's), or NULL */
    const char *https;   /* the edge's HTTPS listener, or NULL */
    const char *peer;    /* an etcd member's peer URL's address, or NULL */
    int ha;              /* part of the run only with --ha */
    int workers;
    pid_t pid;
    int frozen;   /* SIGSTOPped by the demo */
    int stopping; /* signalled by the demo: its exit is expected */
    int exited;   /* exited by itself; status in wstatus */
    int wstatus;
    unsigned starts;
    unsigned control; /* a gateway: the control plane it last said it talks to, 1 + its index in
                         the URL list; 0: not known yet */
    char log[PATH_MAX];
    int logfd; /* read side, for the events; -1 before the first start */
    char part[1024];
    size_t npart;
} proc_t;

/* The edge's view of its endpoints, from its admin /clusters: every endpoint of the demo (it runs
 * far fewer ingress gateways than this) and the priorities the guide's three regions need. */
#define EDGE_VIEW_MAX_ENDPOINTS  64
#define EDGE_VIEW_MAX_PRIORITIES 8
typedef struct edge_view {
    int ok;
    char mode[16];
    unsigned npri;
    unsigned load[EDGE_VIEW_MAX_PRIORITIES];
    unsigned nep;
    struct {
        char name[32], cluster[32], health[16];
        unsigned priority, ejections;
    } ep[EDGE_VIEW_MAX_ENDPOINTS];
} edge_view_t;

/* A scripted failure and its restore (--scenario). */
typedef struct scenario {
    const char *name, *summary;
    const char *edge_file;  /* an examples/ file for the edge Gateway, or NULL: */
    const char *edge_extra; /* bookinfo-edge.yaml with these lines added to its http server */
    const char *down;       /* the cluster the failure hits */
    void (*provoke)(char *what, size_t cap);
    void (*restore)(char *what, size_t cap);
    const char *settings;
} scenario_t;

/* The state of a run: one, cg_tools__demo (D in the demo's files). */
typedef struct demo {
    const scenario_t *sc; /* --scenario, or NULL: the live demo */
    const char *report_opt, *dir_opt, *examples_opt;
    double rate;
    int http2; /* --http2: the load speaks h2c to the edge */
    int ha;    /* --ha: etcd and two control-plane replicas */
    char self[PATH_MAX], report[PATH_MAX];
    char examples[RUN_MAX], run[RUN_MAX]; /* short enough for a file name inside */
    char edge_file[PATH_MAX];             /* the edge Gateway applied at start */
    int keys, screen; /* stdin is a terminal: keys; stdout too: the live screen */
    int live;         /* the live screen is up (alternate screen, raw keys) */
    /* the run */
    cg_loop_t loop;
    int have_loop, sigfd, devnull;
    cg_io_t sig_io, key_io;
    cg_timer_t tail_timer, poll_timer, fail_timer, restore_timer;
    cg_http_client_t *clusters_req;
    cg_load_t *load;
    uint64_t t0_mono, t0_wall; /* time zero: the load's start */
    int started, finished, done, interrupted;
    FILE *demo_log;
    /* what is shown */
    edge_view_t ev;
    char edge_mode[16];
    char auth[160]; /* "authorization: Bearer <the control plane's admin token>\r\n" */
    int gw1_deleted;
    char seen_clusters[CG_LOAD_WINDOW_MAX][64];
    unsigned nseen_clusters;
    unsigned seen_codes[CG_LOAD_WINDOW_MAX], nseen_codes;
    char lines[MAX_LINES][256];
    unsigned nlines;
    cg_demo_event_t shown[MAX_EVENTS];
    unsigned nshown;
    /* scenario */
    cg_demo_series_t series;
    CG_VEC(cg_demo_event_t) events;
    double failed_at, restored_at;
    uint64_t failed_wall, restored_wall;
    char fail_what[200], restore_what[200];
    /* terminal */
    struct termios tio;
    int tio_saved;
} demo_t;

/* One run per process, so a global rather than a context passed around: the demo owns what a
 * process has one of, the terminal (raw mode undone by an atexit handler, which takes no
 * argument), the signals (one signalfd, SIGCHLD among them) and so its children, and the
 * fixed addresses above (127.0.0.1:7070, :8080, :15000) that a second run could not bind. */
extern demo_t cg_tools__demo;
extern proc_t cg_tools__demo_procs[NPROCS];
#define D     cg_tools__demo
#define procs cg_tools__demo_procs

#define SETUP_T (-1e12) /* the time of an event during set-up */

/* demo.c: time since the load started (0 before); events; output lines. */
double cg_tools__demo_now(void);
/* Records an event: on the screen (or printed), in demo.log, in the scenario's report. Set-up
 * chatter (print == 0) only goes to demo.log. */
void cg_tools__demo_event(double t, const char *who, int print, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define EVENT(who, ...) cg_tools__demo_event(cg_tools__demo_now(), who, 1, __VA_ARGS__)
/* Prints a line (unless the live screen is up, or print == 0) and keeps it in demo.log. */
void cg_tools__demo_out(const char *line, int print);

/* demo_drill.c: the scenarios; the keys of the live demo; the control API. */
extern const scenario_t cg_tools__demo_scenarios[];
extern const size_t cg_tools__demo_nscenarios;
void cg_tools__demo_on_key(cg_loop_t *loop, cg_io_t *io, uint32_t events);
/* Set-up: POST /v1/apply with one file, waiting for the answer. 0, or -1 after printing why. */
int cg_tools__demo_apply_now(const char *path);
/* Abandons the control API requests still in flight (on the way out). */
void cg_tools__demo_api_cancel_all(void);

/* The change the drills apply: delete bookinfo-ingress-1 (traffic leaves cluster-1), apply it
 * again; `what` says what was done. */
void cg_tools__demo_remove_gateway(char *what, size_t cap);
void cg_tools__demo_apply_gateway(char *what, size_t cap);
/* The actions of keys and scenarios: SIGKILL (and wait) or start p, `what` saying what was done. */
void cg_tools__demo_act_kill(proc_t *p, char *what, size_t cap);
void cg_tools__demo_act_start(proc_t *p, char *what, size_t cap);

/* demo.c: one request to a gateway's LISTEN address with the guide's Host, extra header lines
 * (or NULL); the status (-1: no answer) and the answering cluster. */
int cg_tools__demo_request(const char *listen, const char *path, const char *extra, char *cluster,
                           size_t cap);
/* demo.c: whether GET url (a char *) answers 200 within 500 ms: a wait_for condition. */
int cg_tools__demo_url_ok(void *url);
/* demo.c: polls ok(arg), watching signals and the children, until it holds (0), or 1 after
 * printing why. */
int cg_tools__demo_wait_for(const char *what, proc_t *p, int timeout_ms, int (*ok)(void *),
                            void *arg);

/* demo_gslb.c: the second edge and the GSLB. Set-up: writes the GSLB's files and applies edge-2's
 * resources (0, or 1 after printing why); waits until both are ready. */
extern const scenario_t cg_tools__demo_gslb_scenarios[];
extern const size_t cg_tools__demo_gslb_nscenarios;
/* Whether D.sc is one of them: its load resolves the guide's hostname through the GSLB. */
int cg_tools__demo_gslb_run(void);
int cg_tools__demo_gslb_prepare(void);
int cg_tools__demo_gslb_ready(void);
/* The live demo's keys of the second edge (e: SIGKILL edge-2; again: start it); others are
 * ignored. */
void cg_tools__demo_gslb_key(char key);
/* The GSLB's argument vector (K_DNS). */
void cg_tools__demo_gslb_argv(char **argv, char (*s)[PATH_MAX]);
/* A run of a GSLB scenario: the probes of edge-1's health during the run; report.json's "gslb"
 * object (JSON text in json) and the run's windows by the edge that answered (from the edges'
 * access logs). */
void cg_tools__demo_gslb_start(void);
/* The load's notes (--resolve-via: each new answer, each failed query) become events. */
void cg_tools__demo_gslb_note(void *data, const char *line);
void cg_tools__demo_gslb_stop(void);
void cg_tools__demo_gslb_report(cg_buf_t *json, cg_demo_series_t *edges);

/* demo_ha.c: --ha. The scenarios that need it; the control planes' URLs (one, or both replicas);
 * set-up (the etcd members, then the replicas; 0, or 1 after printing why); what the report
 * says of it (report.json's "ha" object as JSON text, NULL without --ha); the live keys. */
extern const scenario_t cg_tools__demo_ha_scenarios[];
extern const size_t cg_tools__demo_ha_nscenarios;
size_t cg_tools__demo_nurls(void);
const char *cg_tools__demo_url(size_t i);
/* The URL the demo's calls go to first: the last one that answered. */
size_t cg_tools__demo_url_cur(void);
void cg_tools__demo_url_answered(size_t i);
int cg_tools__demo_ha_start(void);
void cg_tools__demo_ha_argv(proc_t *p, char **argv, char (*s)[PATH_MAX]);
/* Stops the etcd members one at a time, the leader first: a leader stopped with its
 * followers waits for a transfer of leadership that cannot happen. */
void cg_tools__demo_ha_stop(void);
/* A gateway's log line that names the control plane it talks to. */
void cg_tools__demo_ha_log(proc_t *p, const char *msg);
/* At the failure: the instances the control plane knows, to compare with those at the end. */
void cg_tools__demo_ha_before(void);
void cg_tools__demo_ha_finish(cg_buf_t *json);
/* The live demo's keys with --ha (x: SIGKILL the etcd leader / start it again; c: SIGKILL the
 * replica the edge uses / start it again); 1 when the key was one of them. */
int cg_tools__demo_ha_key(char key);

/* demo_proc.c: child processes and the addresses they need. */
/* The full path of an executable on PATH or in /usr/sbin, /sbin; 0, or -1. */
int cg_tools__demo_find_bin(const char *name, char *out, size_t cap);
int cg_tools__demo_check_ports(void);
int cg_tools__demo_proc_start(proc_t *p);
void cg_tools__demo_proc_signal(proc_t *p, int sig);
void cg_tools__demo_proc_kill(proc_t *p);
/* p exited with status st (waited for): its exit is an event unless the demo caused it. */
void cg_tools__demo_proc_reaped(proc_t *p, int st);
void cg_tools__demo_stop_all(void);
void cg_tools__demo_reap(void);
void cg_tools__demo_describe_status(int st, char *out, size_t cap);
/* Wall time (microseconds) of a log line's "2006-01-02T15:04:05.000Z" prefix, or 0. */
uint64_t cg_tools__demo_log_time(const char *line);
/* Reads what the children logged since the last look; the lines that matter become events. */
void cg_tools__demo_tail_logs(void);

/* demo.c: polls ok(arg) until it holds, watching signals and the children (p's log is named
 * on a timeout). 0, or 1 after printing why. */
int cg_tools__demo_wait_for(const char *what, proc_t *p, int timeout_ms, int (*ok)(void *),
                            void *arg);

/* What a scenario does besides provoke and restore: more set-up once the base is up (0, or 1
 * after printing why), and the last events of the run before its report is written. */
typedef struct scenario_hooks {
    const char *scenario;
    int (*prepare)(void);
    void (*finish)(void);
} scenario_hooks_t;
/* demo_eastwest.c: the hooks of scenario sc, NULL when it has none. */
const scenario_hooks_t *cg_tools__demo_hooks(const scenario_t *sc);

/* demo_view.c: the edge's view of its endpoints, the per-second lines, the live screen. */
int cg_tools__demo_edge_view_now(edge_view_t *v);
void cg_tools__demo_on_poll(cg_loop_t *loop, cg_timer_t *t);
void cg_tools__demo_on_interval(void *data, const cg_load_window_t *w);
void cg_tools__demo_draw(void);
void cg_tools__demo_term_raw(void);
void cg_tools__demo_term_restore(void);

#endif
