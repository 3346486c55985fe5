/* Prometheus metrics for /metrics: request counters by (route, method, code), a duration
 * histogram per route, the in-flight gauge, and the broker's latest `$sys` stats rendered as
 * per-service series, all in text format 0.0.4.
 *
 * Invariants: memory is bounded whatever clients send. Methods outside the standard set count
 * as "OTHER"; status codes outside 100..599 as 0; at most S_SERIES_MAX counter series and
 * S_ROUTES_MAX histogram routes exist, past which new routes fold into route="other" (and,
 * should even those fill the table, into one catch-all series). Every label value is escaped
 * when rendered (yard_prom_label: the format's escapes, and U+FFFD for bytes that are not UTF-8).
 */
#include "xalloc.h"
#include "metrics.h"
#include "yard/mp.h"
#include "yard/prom.h"

#include <msgpack.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SERIES_MAX  1000 /* (route, method, code) series before folding into "other" */
#define S_SERIES_HARD 1500 /* ... and room left for the folded ones */
#define S_ROUTES_MAX  200  /* histogram routes before folding */
#define S_LABEL_MAX   256  /* a longer route name is cut (names come from the config) */
#define S_NBUCKETS    14   /* 13 bounds and +Inf */

static const double s_bounds[S_NBUCKETS - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                0.25,  0.5,    1,     2.5,  5,     10};
static const char *const s_bound_text[S_NBUCKETS] = {"0.001", "0.0025", "0.005", "0.01", "0.025",
                                                     "0.05",  "0.1",    "0.25",  "0.5",  "1",
                                                     "2.5",   "5",      "10",    "+Inf"};

static const char *const s_methods[] = {"GET",   "HEAD",   "POST",    "PUT",
                                        "PATCH", "DELETE", "OPTIONS", NULL};

typedef struct {
    char route[S_LABEL_MAX];
    const char *method; /* static */
    int code;
    uint64_t count;
} s_series_t;

typedef struct {
    char route[S_LABEL_MAX];
    uint64_t buckets[S_NBUCKETS]; /* not cumulative; summed when rendered */
    double sum;
    uint64_t count;
} s_hist_t;

struct yard_gw_metrics {
    pthread_mutex_t mu;
    s_series_t *series; /* S_SERIES_HARD + 1; the last is the catch-all */
    size_t nseries;
    s_hist_t *hists; /* S_ROUTES_MAX + 1; the last is "other" */
    size_t nhists;
    int64_t in_flight;
    int64_t connections;      /* HTTP connections open */
    uint64_t header_timeouts; /* connections closed because their headers were late */
    void *stats;              /* the latest $sys stats (msgpack), NULL: broker down */
    size_t stats_size;
};

yard_gw_metrics_t *
yard_gw_metrics_new(void)
{
    yard_gw_metrics_t *self = gw_xcalloc(1, sizeof *self);
    pthread_mutex_init(&self->mu, NULL);
    self->series = gw_xcalloc(S_SERIES_HARD + 1, sizeof *self->series);
    snprintf(self->series[S_SERIES_HARD].route, S_LABEL_MAX, "other");
    self->series[S_SERIES_HARD].method = "OTHER";
    self->hists = gw_xcalloc(S_ROUTES_MAX + 1, sizeof *self->hists);
    snprintf(self->hists[S_ROUTES_MAX].route, S_LABEL_MAX, "other");
    return self;
}

void
yard_gw_metrics_destroy(yard_gw_metrics_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    yard_gw_metrics_t *self = *self_p;
    free(self->series);
    free(self->hists);
    free(self->stats);
    pthread_mutex_destroy(&self->mu);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Observing */

static const char *
s_method(const char *method)
{
    for (size_t i = 0; method != NULL && s_methods[i] != NULL; i++) {
        if (strcmp(method, s_methods[i]) == 0) {
            return s_methods[i];
        }
    }
    return "OTHER";
}

/* The series for (route, method, code), created when there is room. Caller holds the mutex.
 * A linear scan: a gateway has tens of series, and the cap keeps the worst case bounded. */
static s_series_t *
s_series(yard_gw_metrics_t *self, const char *route, const char *method, int code)
{
    bool route_known = false;
    for (size_t i = 0; i < self->nseries; i++) {
        s_series_t *s = &self->series[i];
        if (strcmp(s->route, route) == 0) {
            route_known = true;
            if (s->method == method && s->code == code) {
                return s;
            }
        }
    }
    if (!route_known && self->nseries >= S_SERIES_MAX && strcmp(route, "other") != 0) {
        return s_series(self, "other", method, code);
    }
    if (self->nseries >= S_SERIES_HARD) {
        return &self->series[S_SERIES_HARD];
    }
    s_series_t *s = &self->series[self->nseries++];
    snprintf(s->route, sizeof s->route, "%s", route);
    s->method = method;
    s->code = code;
    return s;
}

static s_hist_t *
s_hist(yard_gw_metrics_t *self, const char *route)
{
    for (size_t i = 0; i < self->nhists; i++) {
        if (strcmp(self->hists[i].route, route) == 0) {
            return &self->hists[i];
        }
    }
    if (self->nhists >= S_ROUTES_MAX) {
        return &self->hists[S_ROUTES_MAX];
    }
    s_hist_t *h = &self->hists[self->nhists++];
    snprintf(h->route, sizeof h->route, "%s", route);
    return h;
}

void
yard_gw_metrics_observe(yard_gw_metrics_t *self, const char *route, const char *method, int status,
                        double seconds)
{
    char name[S_LABEL_MAX];
    snprintf(name, sizeof name, "%s", route != NULL ? route : "-");
    const char *m = s_method(method);
    int code = status >= 100 && status <= 599 ? status : 0;
    if (!(seconds >= 0)) {
        seconds = 0; /* NaN or negative: a clock problem, not a client's doing */
    }
    size_t b = 0;
    while (b < S_NBUCKETS - 1 && seconds > s_bounds[b]) {
        b++;
    }
    pthread_mutex_lock(&self->mu);
    s_series(self, name, m, code)->count++;
    s_hist_t *h = s_hist(self, name);
    h->buckets[b]++;
    h->sum += seconds;
    h->count++;
    pthread_mutex_unlock(&self->mu);
}

void
yard_gw_metrics_in_flight(yard_gw_metrics_t *self, int delta)
{
    pthread_mutex_lock(&self->mu);
    self->in_flight += delta;
    pthread_mutex_unlock(&self->mu);
}

void
yard_gw_metrics_connections(yard_gw_metrics_t *self, int delta)
{
    pthread_mutex_lock(&self->mu);
    self->connections += delta;
    pthread_mutex_unlock(&self->mu);
}

void
yard_gw_metrics_header_timeout(yard_gw_metrics_t *self)
{
    pthread_mutex_lock(&self->mu);
    self->header_timeouts++;
    pthread_mutex_unlock(&self->mu);
}

void
yard_gw_metrics_set_sys(yard_gw_metrics_t *self, const void *stats, size_t size)
{
    void *copy = NULL;
    if (stats != NULL && size > 0) {
        copy = malloc(size);
        if (copy == NULL) {
            abort();
        }
        memcpy(copy, stats, size);
    }
    pthread_mutex_lock(&self->mu);
    free(self->stats);
    self->stats = copy;
    self->stats_size = copy != NULL ? size : 0;
    pthread_mutex_unlock(&self->mu);
}

/* ---------------------------------------------------------------------------------------- */
/* Rendering */

static void
s_render_requests(const yard_gw_metrics_t *self, FILE *out)
{
    yard_prom_family(out, "http_requests_total", "counter",
                     "HTTP requests by route, method and status.");
    for (size_t i = 0; i <= S_SERIES_HARD; i++) {
        const s_series_t *s = &self->series[i];
        if ((i >= self->nseries && i != S_SERIES_HARD) || s->count == 0) {
            continue;
        }
        fputs("http_requests_total{route=\"", out);
        yard_prom_label(out, s->route, strlen(s->route));
        fprintf(out, "\",method=\"%s\",code=\"%d\"} %llu\n", s->method, s->code,
                (unsigned long long)s->count);
    }
}

static void
s_render_hist(const s_hist_t *h, FILE *out)
{
    uint64_t cumulative = 0;
    for (size_t b = 0; b < S_NBUCKETS; b++) {
        cumulative += h->buckets[b];
        fputs("http_request_duration_seconds_bucket{route=\"", out);
        yard_prom_label(out, h->route, strlen(h->route));
        fprintf(out, "\",le=\"%s\"} %llu\n", s_bound_text[b], (unsigned long long)cumulative);
    }
    fputs("http_request_duration_seconds_sum{route=\"", out);
    yard_prom_label(out, h->route, strlen(h->route));
    fprintf(out, "\"} %.9g\n", h->sum);
    fputs("http_request_duration_seconds_count{route=\"", out);
    yard_prom_label(out, h->route, strlen(h->route));
    fprintf(out, "\"} %llu\n", (unsigned long long)h->count);
}

static void
s_render_durations(const yard_gw_metrics_t *self, FILE *out)
{
    yard_prom_family(out, "http_request_duration_seconds", "histogram",
                     "Time from request to response, by route.");
    for (size_t i = 0; i < self->nhists; i++) {
        s_render_hist(&self->hists[i], out);
    }
    if (self->hists[S_ROUTES_MAX].count > 0) {
        s_render_hist(&self->hists[S_ROUTES_MAX], out);
    }
}

/* The per-service series taken from $sys stats: name, type, help, and the stats key. */
static const struct {
    const char *name, *type, *help, *key;
} s_svc_metrics[] = {
    {"yard_service_replicas", "gauge", "Replicas offering the service.", "replicas"},
    {"yard_service_credit", "gauge", "Requests the replicas can take now.", "credit"},
    {"yard_service_in_flight", "gauge", "Requests held by replicas.", "in_flight"},
    {"yard_service_queued", "gauge", "Requests queued at the broker.", "queued"},
    {"yard_service_requests_total", "counter", "Requests routed to the service.", "requests"},
    {"yard_service_replies_total", "counter", "Replies from the service.", "replies"},
    {"yard_service_errors_total", "counter", "Errors answered for the service.", "errors"},
};

static void
s_render_service(const msgpack_object *svc, size_t metric, FILE *out)
{
    const msgpack_object *name = yard_mp_find(svc, "name");
    const msgpack_object *v = yard_mp_find(svc, s_svc_metrics[metric].key);
    if (name == NULL || name->type != MSGPACK_OBJECT_STR || v == NULL ||
        v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return; /* a field this broker does not send: skip it rather than invent a value */
    }
    fprintf(out, "%s{service=\"", s_svc_metrics[metric].name);
    yard_prom_label(out, name->via.str.ptr, name->via.str.size);
    fprintf(out, "\"} %llu\n", (unsigned long long)v->via.u64);
}

/* Renders the stats; returns false when they are missing or not the documented map. */
static bool
s_render_sys(const yard_gw_metrics_t *self, FILE *out)
{
    if (self->stats == NULL) {
        return false;
    }
    /* The stats are a peer's bytes: the bounded decoder. */
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 4096)) {
        abort();
    }
    msgpack_object root;
    bool ok = yard_mp_decode(self->stats, self->stats_size, &zone, &root, NULL, 0) == 0 &&
              root.type == MSGPACK_OBJECT_MAP;
    const msgpack_object *svcs = ok ? yard_mp_find(&root, "services") : NULL;
    ok = ok && svcs != NULL && svcs->type == MSGPACK_OBJECT_ARRAY;
    for (size_t m = 0; ok && m < sizeof s_svc_metrics / sizeof s_svc_metrics[0]; m++) {
        yard_prom_family(out, s_svc_metrics[m].name, s_svc_metrics[m].type, s_svc_metrics[m].help);
        for (uint32_t i = 0; i < svcs->via.array.size; i++) {
            s_render_service(&svcs->via.array.ptr[i], m, out);
        }
    }
    const msgpack_object *up = ok ? yard_mp_find(&root, "uptime_ms") : NULL;
    if (up != NULL && up->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        yard_prom_family(out, "yard_broker_uptime_seconds", "gauge",
                         "Time since the broker started.");
        fprintf(out, "yard_broker_uptime_seconds %.3f\n", (double)up->via.u64 / 1000.0);
    }
    msgpack_zone_destroy(&zone);
    return ok;
}

char *
yard_gw_metrics_render(yard_gw_metrics_t *self, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (out == NULL) {
        abort();
    }
    pthread_mutex_lock(&self->mu);
    s_render_requests(self, out);
    s_render_durations(self, out);
    yard_prom_family(out, "http_requests_in_flight", "gauge", "Requests being served now.");
    fprintf(out, "http_requests_in_flight %lld\n", (long long)self->in_flight);
    yard_prom_family(out, "http_connections_open", "gauge", "HTTP connections open now.");
    fprintf(out, "http_connections_open %lld\n", (long long)self->connections);
    yard_prom_family(
        out, "http_header_timeouts_total", "counter",
        "Connections closed because a request's headers did not arrive in time (408).");
    fprintf(out, "http_header_timeouts_total %llu\n", (unsigned long long)self->header_timeouts);
    bool up = s_render_sys(self, out);
    pthread_mutex_unlock(&self->mu);
    yard_prom_family(out, "yard_broker_up", "gauge",
                     "1 when the broker answered the last $sys stats.");
    fprintf(out, "yard_broker_up %d\n", up ? 1 : 0);
    if (fclose(out) != 0 || text == NULL) {
        abort();
    }
    if (len != NULL) {
        *len = size;
    }
    return text;
}
