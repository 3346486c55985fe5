/* The health actor's shared types: a check as configured (checks.c), one run's result
 * (probe.c, tcp.c), the record each check keeps in the state store (record.c), what a replica
 * holds per check (health.c), and the renderings of the records (render.c).
 *
 * Invariant: a check's record in the store is the one truth about it (state, counters,
 * uptime buckets), written only after a run, so that any replica answers status, metrics and
 * page the same; the replica that holds the check's lease is the one that runs it on its
 * interval, so transitions (and their events) happen once, wherever they are decided. */
#ifndef HEALTH_INTERNAL_H
#define HEALTH_INTERNAL_H

#include "yard/actor.h"
#include "yard/lease.h"
#include "yard/mp.h"
#include "yard/options.h"
#include "yard/store.h"
#include "yard/timer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_CHECKS_MAX    32 /* one lease each: YARD_CTX_LEASES_MAX */
#define HC_NAME_MAX      64
#define HC_TARGET_MAX    1024
#define HC_CONTAINS_MAX  1024
#define HC_STATUSES_MAX  8
#define HC_ERROR_MAX     200
#define HC_WAITERS_MAX   8 /* `check` requests waiting on one run */
#define HC_EVERY_MIN_MS  100u
#define HC_EVERY_MAX_MS  86400000u        /* a day */
#define HC_MINUTES       60               /* minute buckets: the last hour */
#define HC_HOURS         168              /* hour buckets: the last 7 days */
#define HC_RECORD_TTL_MS (8u * 86400000u) /* a record outlives its 7-day buckets by a day */

typedef enum { HC_HTTP = 0, HC_BUS, HC_TCP } hc_kind_t;
typedef enum { HC_UNKNOWN = 0, HC_UP, HC_DOWN } hc_state_t;

/* One configured check. Strings are owned (freed by hc_checks_free()). */
typedef struct {
    char name[HC_NAME_MAX + 1];
    hc_kind_t kind;
    char *target;                  /* http: the URL; bus: the service; tcp: "host:port" */
    char *op;                      /* bus: the op to call (NULL: none) */
    char *contains;                /* http: a substring the body must hold (NULL: none) */
    int statuses[HC_STATUSES_MAX]; /* http: accepted statuses; none: 200..399 */
    size_t n_statuses;
    uint32_t every_ms, timeout_ms;
    uint32_t max_latency_ms; /* 0: no threshold */
    int64_t cert_days;       /* http(s): fail under this many days left; 0: no threshold */
    int64_t min_replicas;    /* bus: at least this many live replicas in $sys; 0: not asked */
} hc_check_t;

/* The settings the checks share, and the list. */
typedef struct {
    hc_check_t *checks;
    size_t n;
} hc_checks_t;

/* Reads health.checks from cfg (may be NULL or absent: no checks). Returns 0 and fills *out
 * (free with hc_checks_free()), or YARD_E_CONFIG with err naming the file, the line and the
 * key. */
int hc_checks_load(const yard_config_t *cfg, hc_checks_t *out, char *err, size_t errlen);
void hc_checks_free(hc_checks_t *c);
const char *hc_kind_name(hc_kind_t kind);
const char *hc_state_name(hc_state_t state);

/* One run's outcome. */
typedef struct {
    bool ok;
    bool aborted; /* the replica stops: no outcome, nothing to record */
    uint32_t latency_ms;
    char error[HC_ERROR_MAX]; /* why it failed; on success a short summary ("HTTP 200") */
    int64_t cert_days;        /* -1: not known */
    int64_t replicas;         /* -1: not asked */
} hc_result_t;

/* --- the record in the store (record.c) ---------------------------------------------------- */

typedef struct {
    hc_state_t state;
    int64_t since_ms;    /* wall ms of the last transition (0: never) */
    int64_t fails, oks;  /* consecutive */
    int64_t runs;        /* in all */
    int64_t last_run_ms; /* wall ms of the last run's end (0: never) */
    uint32_t last_latency_ms;
    bool last_ok;
    char last_error[HC_ERROR_MAX]; /* the last failure's reason ("" when none yet) */
    int64_t cert_days;             /* -1: not known */
    int64_t minute;                /* the minute (wall ms / 60000) of min_*[minute % 60] */
    uint32_t min_ok[HC_MINUTES], min_n[HC_MINUTES];
    int64_t hour; /* likewise for the hour buckets */
    uint32_t hour_ok[HC_HOURS], hour_n[HC_HOURS];
} hc_record_t;

/* The record's store key, "health:rec:<name>", into buf. */
void hc_record_key(const char *name, char *buf, size_t len);

/* Loads name's record; an absent one reads as a fresh record (state unknown). Returns 0 or
 * YARD_E_UNREACHABLE. */
int hc_record_load(yard_store_t *store, const char *name, hc_record_t *out);
/* Decodes a stored value into *out (a fresh record first). Returns 0 or YARD_E_BAD_REQUEST. */
int hc_record_decode(const void *data, size_t size, hc_record_t *out);
/* Stores the record (TTL HC_RECORD_TTL_MS). Returns 0 or YARD_E_UNREACHABLE. */
int hc_record_save(yard_store_t *store, const char *name, const hc_record_t *r);
void hc_record_fresh(hc_record_t *r);

/* What applying a result did. */
typedef struct {
    bool changed;        /* a transition happened */
    bool announce;       /* it is worth an event: into down, or from down to up */
    hc_state_t from;     /* the state before */
    int64_t duration_ms; /* how long the state before lasted (0 when never set) */
} hc_transition_t;

/* Applies one run's result at wall time now_ms: counters, buckets, last_*, and the state
 * machine: down at the down_after-th failure in a row, up at the up_after-th success in a
 * row. */
hc_transition_t hc_record_apply(hc_record_t *r, const hc_result_t *res, int64_t now_ms,
                                int64_t down_after, int64_t up_after);

/* Uptime ratio (0..1) over the last `minutes` minutes (60: the minute buckets; more: the
 * hour buckets); -1 when there were no runs in that window. */
double hc_record_uptime(const hc_record_t *r, int64_t now_ms, int64_t minutes);

/* --- probes (probe.c, tcp.c) --------------------------------------------------------------- */

typedef void(hc_probe_fn)(yard_ctx_t *ctx, const hc_result_t *res, void *arg);

/* Starts one run of check on the replica's engines; cb runs exactly once, later, with the
 * outcome (never from inside this call). Returns 0, or an error and cb never runs. */
int hc_probe_start(yard_ctx_t *ctx, const hc_check_t *check, hc_probe_fn *cb, void *arg);

/* The replica's TCP connector, a loop source (tcp.c): connects to host:port without blocking
 * (names resolved with getaddrinfo_a), cb with the outcome within timeout_ms. */
typedef struct hc_tcp hc_tcp_t;
typedef void(hc_tcp_fn)(int err, const char *why, void *arg);
/* Adds the connector to the replica's loop. Returns 0 and *out (borrowed: the loop owns it
 * and destroys it at stop, running pending callbacks with YARD_E_SHUTDOWN), or an error. */
int hc_tcp_add(yard_ctx_t *ctx, hc_tcp_t **out);
/* Starts a connect. Returns 0 (cb runs exactly once, from the loop), YARD_E_INVALID for a bad
 * "host:port", YARD_E_OVERLOADED past its bound, or YARD_E_SHUTDOWN. */
int hc_tcp_connect(hc_tcp_t *t, const char *host_port, uint32_t timeout_ms, hc_tcp_fn *cb,
                   void *arg);
/* Splits "host:port" ("[v6]:port" too) into host (hostlen bytes) and port. 0 or -1. */
int hc_split_host_port(const char *text, char *host, size_t hostlen, char *port, size_t portlen);

/* --- the replica ---------------------------------------------------------------------------- */

typedef struct health health_t;

/* A check as this replica runs it. */
typedef struct {
    health_t *h;
    const hc_check_t *check;
    yard_timer_t *timer;
    yard_lease_t *lease;
    bool running;
    yard_deferred_t *waiters[HC_WAITERS_MAX]; /* `check` requests answered when the run ends */
    size_t n_waiters;
    /* A finished run waiting for the check's record lock (another replica is applying a run
     * of its own: a `check` op there, or the lease holder's run here). */
    hc_result_t pending;
    yard_timer_t *apply_timer;
    uint32_t apply_tries;
} hc_run_t;

struct health {
    yard_ctx_t *ctx;
    hc_checks_t checks;
    hc_run_t runs[HC_CHECKS_MAX];
    hc_tcp_t *tcp;
    int64_t down_after, up_after;
};

/* The options struct. */
typedef struct {
    int64_t down_after;
    int64_t up_after;
    int64_t jitter;
} hc_opts_t;

hc_tcp_t *hc_health_tcp(yard_ctx_t *ctx);

/* --- renderings (render.c) ------------------------------------------------------------------ */

/* The records of every check, loaded in one round trip: recs[i] for checks->checks[i]. Returns
 * 0 or YARD_E_UNREACHABLE. */
int hc_records_load_all(yard_store_t *store, const hc_checks_t *checks, hc_record_t *recs);

/* Writes the status reply into w. */
void hc_render_status(const hc_checks_t *checks, const hc_record_t *recs, int64_t now_ms,
                      yard_mpw_t *w);
/* The Prometheus text / the HTML page; caller frees with free(). */
char *hc_render_metrics(const hc_checks_t *checks, const hc_record_t *recs, size_t *len);
char *hc_render_page(const hc_checks_t *checks, const hc_record_t *recs, int64_t now_ms,
                     size_t *len);

#endif
