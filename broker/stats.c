/* Per-service rates and latency percentiles for `$sys services` (`yard services`, `yard top`).
 *
 * Time is cut into fixed windows of S_WINDOW_US. Each service keeps the window in progress
 * ("current": requests accepted, errors answered, a log-linear histogram of latencies) and
 * the last complete one ("previous"); when an event or a query finds the current window over,
 * it becomes the previous one (or, after a silence longer than a window, the previous one is
 * an empty window) and a fresh one starts on the window grid. Reports use the previous
 * window, or the current one scaled to its age while no window has completed yet.
 *
 * Latency runs from yard__stats_accepted (stamps r->t0_us) to yard__stats_answered, whoever
 * answered: the replica, or the broker itself (TIMEOUT, WORKER_LOST, OVERLOADED, ...).
 *
 * Both stamps are b->now_us, the arrival time of the frame that carried the message (the
 * loop reads the clock once per frame, not per message: a BATCH's messages arrived together).
 * Cost on the request path: one comparison for the window, a few increments; no allocation
 * except the service's stats, once, at its first request. */
#include "broker_priv.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_WINDOW_US 5000000u
/* Histogram in µs: exact below 2 * S_SUB, then S_SUB buckets per power of two (each within
 * 1/S_SUB of its values) up to 2^S_MAX_BITS µs (about 12 days); larger values share the last. */
#define S_SUB_BITS 5
#define S_SUB      (1u << S_SUB_BITS)
#define S_MAX_BITS 40
#define S_BUCKETS  (2 * S_SUB + (S_MAX_BITS - S_SUB_BITS - 1) * S_SUB)

typedef struct {
    uint64_t start_us; /* on the window grid */
    uint64_t requests; /* accepted (REQUEST and SEND) */
    uint64_t errors;   /* REQUESTs answered with an ERROR */
    uint64_t answered; /* REQUESTs answered: the histogram's total */
    uint64_t max_us;
    uint32_t hist[S_BUCKETS];
} s_window_t;

struct yard__svc_stats {
    s_window_t win[2];
    uint8_t cur;   /* index of the current window; the other is the previous one */
    bool has_prev; /* a window has completed */
    /* Since the first request, never reset (Prometheus takes rates of it): per bucket, not
     * cumulative; summed when read. */
    uint64_t lat[YARD__LAT_BUCKETS];
    uint64_t lat_sum_us;
};

/* Prometheus-style bounds from 100 µs (a local call) to 30 s (a long deadline). */
const uint64_t yard__lat_le_us[YARD__LAT_BUCKETS - 1] = {
    100,    250,    500,    1000,    2500,    5000,    10000,    25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000};

uint64_t
yard__stats_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t
s_bucket(uint64_t us)
{
    if (us < 2 * S_SUB) {
        return (uint32_t)us;
    }
    if (us >= (uint64_t)1 << S_MAX_BITS) {
        return S_BUCKETS - 1;
    }
    uint32_t msb = 63u - (uint32_t)__builtin_clzll(us); /* >= S_SUB_BITS + 1 */
    uint32_t shift = msb - S_SUB_BITS;
    return 2 * S_SUB + (msb - S_SUB_BITS - 1) * S_SUB + (uint32_t)(us >> shift) - S_SUB;
}

/* The middle of bucket i, in µs. */
static uint64_t
s_bucket_mid(uint32_t i)
{
    if (i < 2 * S_SUB) {
        return i;
    }
    uint32_t k = (i - 2 * S_SUB) / S_SUB; /* the power of two, from 2^(S_SUB_BITS + 1) */
    uint32_t sub = (i - 2 * S_SUB) % S_SUB;
    uint32_t shift = k + 1;
    uint64_t lo = (uint64_t)(S_SUB + sub) << shift;
    return lo + ((uint64_t)1 << shift) / 2;
}

static uint64_t
s_quantile(const s_window_t *w, double q)
{
    if (w->answered == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)(q * (double)w->answered + 0.999999);
    if (rank == 0) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (uint32_t i = 0; i < S_BUCKETS; i++) {
        seen += w->hist[i];
        if (seen >= rank) {
            uint64_t v = s_bucket_mid(i);
            return v > w->max_us ? w->max_us : v;
        }
    }
    return w->max_us;
}

static void
s_window_reset(s_window_t *w, uint64_t start_us)
{
    memset(w, 0, sizeof *w);
    w->start_us = start_us;
}

/* Moves to the window that holds now_us, if the current one is over. */
static void
s_roll_slow(struct yard__svc_stats *st, uint64_t now_us)
{
    s_window_t *cur = &st->win[st->cur];
    uint64_t ends = cur->start_us + S_WINDOW_US;
    uint64_t start = ends + (now_us - ends) / S_WINDOW_US * S_WINDOW_US;
    st->cur ^= 1;
    if (start != ends) {
        /* silence for a whole window or more: the last complete window saw nothing */
        s_window_reset(cur, start - S_WINDOW_US);
    }
    s_window_reset(&st->win[st->cur], start);
    st->has_prev = true;
}

static inline void
s_roll(struct yard__svc_stats *st, uint64_t now_us)
{
    if (now_us >= st->win[st->cur].start_us + S_WINDOW_US) {
        s_roll_slow(st, now_us);
    }
}

void
yard__stats_accepted(yard_broker_t *b, yard__req_t *r)
{
    uint64_t now = b->now_us;
    r->t0_us = now;
    struct yard__svc_stats *st = r->svc->stats;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st) {
            abort();
        }
        st->win[0].start_us = now;
        r->svc->stats = st;
    }
    s_roll(st, now);
    st->win[st->cur].requests++;
}

void
yard__stats_answered(yard_broker_t *b, yard__req_t *r, bool ok)
{
    struct yard__svc_stats *st = r->svc->stats;
    if (r->cmd != YARD_CMD_REQUEST || !st) {
        return; /* a SEND has no answer to time */
    }
    uint64_t now = b->now_us;
    s_roll(st, now);
    s_window_t *w = &st->win[st->cur];
    uint64_t us = now > r->t0_us ? now - r->t0_us : 0;
    w->errors += !ok;
    w->answered++;
    w->hist[s_bucket(us)]++;
    if (us > w->max_us) {
        w->max_us = us;
    }
    uint32_t i = 0;
    while (i < YARD__LAT_BUCKETS - 1 && us > yard__lat_le_us[i]) {
        i++; /* most answers take under a millisecond: a few steps */
    }
    st->lat[i]++;
    st->lat_sum_us += us;
}

void
yard__stats_latency(const yard__service_t *s, uint64_t le[YARD__LAT_BUCKETS], uint64_t *sum_us)
{
    const struct yard__svc_stats *st = s->stats;
    uint64_t total = 0;
    for (uint32_t i = 0; i < YARD__LAT_BUCKETS; i++) {
        total += st ? st->lat[i] : 0;
        le[i] = total;
    }
    *sum_us = st ? st->lat_sum_us : 0;
}

void
yard__stats_rates(yard__service_t *s, uint64_t now_us, yard__svc_rates_t *out)
{
    memset(out, 0, sizeof *out);
    struct yard__svc_stats *st = s->stats;
    if (!st) {
        return;
    }
    s_roll(st, now_us);
    const s_window_t *w = &st->win[st->cur ^ 1];
    uint64_t span_us = S_WINDOW_US;
    if (!st->has_prev) {
        w = &st->win[st->cur];
        span_us = now_us - w->start_us;
        if (span_us < 1000000u) {
            span_us = 1000000u; /* a young window would make a few requests look like a flood */
        }
    }
    double secs = (double)span_us / 1e6;
    out->rps = (double)w->requests / secs;
    out->eps = (double)w->errors / secs;
    out->p50_us = s_quantile(w, 0.50);
    out->p99_us = s_quantile(w, 0.99);
    out->window_ms = S_WINDOW_US / 1000u;
}

void
yard__stats_service_free(yard__service_t *s)
{
    free(s->stats);
    s->stats = NULL;
}
