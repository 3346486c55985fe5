/* See metrics_snap.h. Taking a snapshot is a walk over the services copying integers (and
 * each name's bytes); the 5 s window quantiles are computed here too, since stats.c's windows
 * belong to the loop. Everything the text format needs (names, labels, escaping, cumulative
 * buckets) happens in yard__msnap_render, on the scraper's thread: with a thousand services a
 * scrape is about 2 MB of text, which must not be printed on the loop. */
#include "metrics_snap.h"
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/prom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-service figures, in the gateway's names (gateway/metrics.c). */
enum { S_REPLICAS, S_CREDIT, S_IN_FLIGHT, S_QUEUED, S_REQUESTS, S_REPLIES, S_ERRORS, S_NVALUES };
static const struct {
    const char *name, *type, *help;
} s_svc_families[S_NVALUES] = {
    [S_REPLICAS] = {"yard_service_replicas", "gauge", "Replicas offering the service."},
    [S_CREDIT] = {"yard_service_credit", "gauge", "Requests the replicas can take in all."},
    [S_IN_FLIGHT] = {"yard_service_in_flight", "gauge", "Requests held by replicas."},
    [S_QUEUED] = {"yard_service_queued", "gauge", "Requests queued at the broker."},
    [S_REQUESTS] = {"yard_service_requests_total", "counter", "Requests routed to the service."},
    [S_REPLIES] = {"yard_service_replies_total", "counter", "Replies from the service."},
    [S_ERRORS] = {"yard_service_errors_total", "counter", "Errors answered for the service."},
};

typedef struct {
    char name[YARD_WIRE_NAME_MAX];
    uint32_t name_len;
    uint64_t v[S_NVALUES];
    uint64_t p50_us, p99_us;
    uint64_t le[YARD__LAT_BUCKETS]; /* cumulative */
    uint64_t sum_us;
} s_svc_t;

struct yard__msnap {
    uint64_t uptime_ms, in_flight, services, peers, replicas, subscribers, conns;
    uint64_t counters[YARD__C_MAX_];
    uint64_t faults[YARD__F_MAX_];
    uint64_t errors[YARD__ERR_CODES];
    uint32_t nsvcs;
    s_svc_t *svcs;
};

/* --- taking (the loop's thread) ---------------------------------------------------------- */

static void
s_take_service(yard__service_t *s, uint64_t now_us, s_svc_t *out)
{
    out->name_len = s->name_len < sizeof out->name ? s->name_len : sizeof out->name;
    memcpy(out->name, s->name, out->name_len);
    memset(out->v, 0, sizeof out->v);
    for (uint32_t i = 0; i < s->nreps; i++) {
        out->v[S_CREDIT] += s->reps[i]->credit;
        out->v[S_IN_FLIGHT] += s->reps[i]->held.count;
    }
    out->v[S_REPLICAS] = s->nreps;
    out->v[S_QUEUED] = s->queue.count;
    out->v[S_REQUESTS] = s->requests;
    out->v[S_REPLIES] = s->replies;
    out->v[S_ERRORS] = s->errors;
    yard__svc_rates_t r;
    yard__stats_rates(s, now_us, &r);
    out->p50_us = r.p50_us;
    out->p99_us = r.p99_us;
    yard__stats_latency(s, out->le, &out->sum_us);
}

yard__msnap_t *
yard__msnap_take(yard_broker_t *b)
{
    uint32_t n = b->nsvcs < YARD__MSNAP_SERVICES ? b->nsvcs : YARD__MSNAP_SERVICES;
    yard__msnap_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        abort();
    }
    s->svcs = n ? malloc((size_t)n * sizeof *s->svcs) : NULL;
    if (n && s->svcs == NULL) {
        abort();
    }
    s->uptime_ms = b->now > b->start_ms ? b->now - b->start_ms : 0;
    s->in_flight = b->pool.live;
    s->services = b->nsvcs;
    s->peers = b->npeers;
    s->subscribers = b->nsubscribers;
    s->conns = b->conns;
    for (uint32_t i = 0; i < b->npeers; i++) {
        s->replicas += b->peers[i]->svc != NULL;
    }
    memcpy(s->counters, b->counters, sizeof s->counters);
    memcpy(s->faults, b->faults, sizeof s->faults);
    memcpy(s->errors, b->errors_sent, sizeof s->errors);
    uint64_t now_us = yard__stats_now_us();
    for (uint32_t i = 0; i < n; i++) {
        s_take_service(b->svcs[i], now_us, &s->svcs[i]);
    }
    s->nsvcs = n;
    return s;
}

void
yard__msnap_destroy(yard__msnap_t **s_p)
{
    if (s_p == NULL || *s_p == NULL) {
        return;
    }
    free((*s_p)->svcs);
    free(*s_p);
    *s_p = NULL;
}

/* --- rendering (any thread) -------------------------------------------------------------- */

static void
s_gauge(FILE *out, const char *name, const char *help, unsigned long long v)
{
    yard_prom_family(out, name, "gauge", help);
    fprintf(out, "%s %llu\n", name, v);
}

static void
s_render_broker(const yard__msnap_t *s, FILE *out)
{
    s_gauge(out, "yard_broker_up", "1: this broker is serving.", 1);
    yard_prom_family(out, "yard_broker_uptime_seconds", "gauge", "Time since the broker started.");
    fprintf(out, "yard_broker_uptime_seconds %.3f\n", (double)s->uptime_ms / 1000.0);
    s_gauge(out, "yard_broker_in_flight", "Requests open (queued or held by a replica).",
            s->in_flight);
    s_gauge(out, "yard_broker_services", "Services known.", s->services);
    s_gauge(out, "yard_broker_peers", "Replicas and subscribers tracked.", s->peers);
    s_gauge(out, "yard_broker_replicas", "Replicas registered, all services.", s->replicas);
    s_gauge(out, "yard_broker_subscribers", "Peers with at least one subscription.",
            s->subscribers);
    /* Clients are not tracked by id; counted as `$sys services` counts them (sys.c). */
    s_gauge(out, "yard_broker_connections", "TCP and IPC connections open (not inproc).", s->conns);
    s_gauge(out, "yard_broker_clients", "Connections that are not a registered replica.",
            s->conns > s->replicas ? s->conns - s->replicas : 0);
    s_gauge(out, "yard_broker_metrics_services_omitted",
            "Services left out of this scrape (at most 5000 are listed).", s->services - s->nsvcs);
}

static void
s_render_counters(const yard__msnap_t *s, FILE *out)
{
    char name[96];
    for (int c = 0; c < YARD__C_MAX_; c++) {
        snprintf(name, sizeof name, "yard_broker_%s_total", yard__counter_name((yard__counter_t)c));
        yard_prom_family(out, name, "counter", "A counter of `$sys stats` (docs/protocol.md).");
        fprintf(out, "%s %llu\n", name, (unsigned long long)s->counters[c]);
    }
    yard_prom_family(out, "yard_broker_errors_total", "counter",
                     "ERRORs sent to clients, by wire code name.");
    for (int code = 1; code < YARD__ERR_CODES; code++) {
        fprintf(out, "yard_broker_errors_total{code=\"%s\"} %llu\n",
                yard_err_name(yard_err_from_wire((uint32_t)code)),
                (unsigned long long)s->errors[code]);
    }
    yard_prom_family(out, "yard_broker_faults_total", "counter",
                     "Bad input from peers, by kind (counted, answered, never acted on).");
    for (int f = 0; f < YARD__F_MAX_; f++) {
        fprintf(out, "yard_broker_faults_total{kind=\"%s\"} %llu\n",
                yard__fault_name((yard__fault_t)f), (unsigned long long)s->faults[f]);
    }
}

/* name{service="..."<extra>} and the space before the value. */
static void
s_sample(FILE *out, const char *name, const s_svc_t *v, const char *extra)
{
    fprintf(out, "%s{service=\"", name);
    yard_prom_label(out, v->name, v->name_len);
    fprintf(out, "\"%s} ", extra);
}

/* The latency histogram since each service's first request (stats.c keeps it): with it
 * Prometheus computes any quantile over any range, summed over brokers. */
static void
s_render_durations(const yard__msnap_t *s, FILE *out)
{
    yard_prom_family(out, "yard_service_request_duration_seconds", "histogram",
                     "Request to answer (by the replica or the broker), since the service's first "
                     "request.");
    for (uint32_t i = 0; i < s->nsvcs; i++) {
        const s_svc_t *v = &s->svcs[i];
        for (uint32_t k = 0; k < YARD__LAT_BUCKETS; k++) {
            char extra[48];
            if (k + 1 < YARD__LAT_BUCKETS) {
                snprintf(extra, sizeof extra, ",le=\"%g\"", (double)yard__lat_le_us[k] / 1e6);
            } else {
                snprintf(extra, sizeof extra, ",le=\"+Inf\"");
            }
            s_sample(out, "yard_service_request_duration_seconds_bucket", v, extra);
            fprintf(out, "%llu\n", (unsigned long long)v->le[k]);
        }
        s_sample(out, "yard_service_request_duration_seconds_sum", v, "");
        fprintf(out, "%.6f\n", (double)v->sum_us / 1e6);
        s_sample(out, "yard_service_request_duration_seconds_count", v, "");
        fprintf(out, "%llu\n", (unsigned long long)v->le[YARD__LAT_BUCKETS - 1]);
    }
}

static void
s_render_services(const yard__msnap_t *s, FILE *out)
{
    for (int f = 0; f < S_NVALUES; f++) {
        yard_prom_family(out, s_svc_families[f].name, s_svc_families[f].type,
                         s_svc_families[f].help);
        for (uint32_t i = 0; i < s->nsvcs; i++) {
            s_sample(out, s_svc_families[f].name, &s->svcs[i], "");
            fprintf(out, "%llu\n", (unsigned long long)s->svcs[i].v[f]);
        }
    }
    yard_prom_family(out, "yard_service_latency_seconds", "gauge",
                     "Request to answer, quantiles of the last 5 s window (broker/stats.c).");
    for (uint32_t i = 0; i < s->nsvcs; i++) {
        s_sample(out, "yard_service_latency_seconds", &s->svcs[i], ",quantile=\"0.5\"");
        fprintf(out, "%.6f\n", (double)s->svcs[i].p50_us / 1e6);
        s_sample(out, "yard_service_latency_seconds", &s->svcs[i], ",quantile=\"0.99\"");
        fprintf(out, "%.6f\n", (double)s->svcs[i].p99_us / 1e6);
    }
    s_render_durations(s, out);
}

char *
yard__msnap_render(const yard__msnap_t *s, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (out == NULL) {
        abort();
    }
    s_render_broker(s, out);
    s_render_counters(s, out);
    s_render_services(s, out);
    if (fclose(out) != 0 || text == NULL) {
        abort();
    }
    *len = size;
    return text;
}
