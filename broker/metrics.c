/* The broker's /metrics endpoint (see metrics.h). The loop renders the whole scrape into a
 * fresh buffer at most once per S_PERIOD_MS and swaps it in under `mu`; libmicrohttpd's
 * thread, which answers scrapes, copies the latest buffer under `mu` and reads nothing else.
 *
 * Invariants: the MHD thread never touches the broker; a snapshot is bounded (at most
 * S_SERVICES_MAX services, each name at most YARD_WIRE_NAME_MAX bytes); at most
 * YARD__METRICS_CONNS connections are served at once, each for at most S_CONN_TIMEOUT_S. */
#include "metrics.h"
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/prom.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_PERIOD_MS      1000u /* how old a scrape may be */
#define S_SERVICES_MAX   5000u /* services in one scrape; the rest are counted as omitted */
#define S_CONN_TIMEOUT_S 10u   /* an idle or slow scraper's connection is closed after this */
#define S_BACKLOG        16

struct yard__metrics {
    struct MHD_Daemon *mhd;
    pthread_mutex_t mu;
    char *text; /* the latest snapshot (under mu); NULL before the first */
    size_t len;
    uint64_t next_ms; /* loop only: b->now at which to render again */
};

/* --- the option ------------------------------------------------------------------------- */

static int
s_bad(char *err, size_t errlen, const char *spec, const char *why)
{
    snprintf(err, errlen, "metrics: %s in \"%.100s\" (expected HOST:PORT, e.g. 127.0.0.1:9555)",
             why, spec);
    return YARD_E_CONFIG;
}

/* Splits spec into host and port text (host without IPv6 brackets). */
static int
s_split(const char *spec, char *host, size_t hostlen, const char **port, char *err, size_t errlen)
{
    const char *colon = strrchr(spec, ':');
    if (colon == NULL) {
        return s_bad(err, errlen, spec, "no port");
    }
    const char *h = spec;
    size_t n = (size_t)(colon - spec);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
    } else if (memchr(h, ':', n) != NULL) {
        return s_bad(err, errlen, spec, "an IPv6 host must be in brackets");
    }
    if (n == 0) {
        return s_bad(err, errlen, spec, "no host");
    }
    if (n >= hostlen) {
        return s_bad(err, errlen, spec, "host too long");
    }
    memcpy(host, h, n);
    host[n] = '\0';
    *port = colon + 1;
    return 0;
}

static int
s_port(const char *text, const char *spec, char *err, size_t errlen)
{
    if (*text == '\0') {
        return s_bad(err, errlen, spec, "no port");
    }
    long v = 0;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9') {
            return s_bad(err, errlen, spec, "the port is not a number");
        }
        v = v * 10 + (*c - '0');
        if (v > 65535) {
            break;
        }
    }
    if (v < 1 || v > 65535) {
        return s_bad(err, errlen, spec, "the port is out of range 1..65535");
    }
    return 0;
}

int
yard__metrics_parse(const char *spec, struct sockaddr_storage *addr, socklen_t *addr_len, char *err,
                    size_t errlen)
{
    char host[YARD_WIRE_NAME_MAX + 1];
    const char *port = NULL;
    int rc = s_split(spec, host, sizeof host, &port, err, errlen);
    if (rc == 0) {
        rc = s_port(port, spec, err, errlen);
    }
    if (rc != 0) {
        return rc;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0 || res == NULL) {
        char why[160];
        snprintf(why, sizeof why, "cannot resolve the host (%s)", gai_strerror(gai));
        return s_bad(err, errlen, spec, why);
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* --- serving (libmicrohttpd's thread) ---------------------------------------------------- */

static enum MHD_Result
s_reply(struct MHD_Connection *conn, unsigned status, const char *text, size_t len,
        const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
s_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return s_reply(conn, status, text, strlen(text), "text/plain; charset=utf-8");
}

static enum MHD_Result
s_scrape(yard__metrics_t *m, struct MHD_Connection *conn)
{
    /* Copied under the lock: the loop may free this snapshot the moment it swaps in the next. */
    pthread_mutex_lock(&m->mu);
    enum MHD_Result ret = m->text != NULL
                              ? s_reply(conn, MHD_HTTP_OK, m->text, m->len, YARD_PROM_CONTENT_TYPE)
                              : s_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no snapshot yet\n");
    pthread_mutex_unlock(&m->mu);
    return ret;
}

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(url, "/metrics") != 0) {
        return s_text(conn, MHD_HTTP_NOT_FOUND, "not found: the one path is /metrics\n");
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return s_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET /metrics\n");
    }
    return s_scrape(cls, conn);
}

/* --- opening and closing ----------------------------------------------------------------- */

/* A listening socket on addr, or -1 with rc set (the log names the option and why). */
static int
s_listen(const struct sockaddr_storage *addr, socklen_t len, const char *spec, int *rc)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, (const struct sockaddr *)addr, len) != 0 || listen(fd, S_BACKLOG) != 0) {
        int e = errno;
        yard_log(YARD_LOG_ERROR, "metrics: cannot listen", YF_STR("metrics", spec),
                 YF_STR("error", strerror(e)));
        /* An address this machine does not have is the operator's typo; a taken port is not. */
        *rc = e == EADDRNOTAVAIL || e == EAFNOSUPPORT ? YARD_E_CONFIG : YARD_E_IO;
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static void s_render(yard_broker_t *b, yard__metrics_t *m);

int
yard__metrics_open(yard_broker_t *b)
{
    const char *spec = b->o.metrics;
    b->o.metrics = NULL; /* borrowed from the caller's options: not kept */
    if (spec == NULL || *spec == '\0') {
        return 0;
    }
    struct sockaddr_storage addr;
    socklen_t len = 0;
    char err[320];
    if (yard__metrics_parse(spec, &addr, &len, err, sizeof err) != 0) {
        yard_log(YARD_LOG_ERROR, err, YF_STR("metrics", spec));
        return YARD_E_CONFIG;
    }
    int rc = 0;
    int fd = s_listen(&addr, len, spec, &rc);
    if (fd < 0) {
        return rc;
    }
    yard__metrics_t *m = calloc(1, sizeof *m);
    if (m == NULL) {
        abort();
    }
    pthread_mutex_init(&m->mu, NULL);
    b->metrics = m;
    s_render(b, m); /* the loop has not started: this thread may still read the broker */
    m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
                              s_access, m, MHD_OPTION_LISTEN_SOCKET, fd,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)YARD__METRICS_CONNS,
                              MHD_OPTION_CONNECTION_TIMEOUT, S_CONN_TIMEOUT_S,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_END);
    if (m->mhd == NULL) {
        close(fd);
        yard_log(YARD_LOG_ERROR, "metrics: cannot start the HTTP server", YF_STR("metrics", spec));
        yard__metrics_close(b);
        return YARD_E_INTERNAL;
    }
    yard_log(YARD_LOG_INFO, "metrics: serving GET /metrics", YF_STR("metrics", spec));
    return 0;
}

void
yard__metrics_close(yard_broker_t *b)
{
    yard__metrics_t *m = b->metrics;
    if (m == NULL) {
        return;
    }
    if (m->mhd != NULL) {
        MHD_stop_daemon(m->mhd); /* joins its thread and closes the listening socket */
    }
    pthread_mutex_destroy(&m->mu);
    free(m->text);
    free(m);
    b->metrics = NULL;
}

/* --- rendering (the loop's thread) -------------------------------------------------------- */

static void
s_gauge(FILE *out, const char *name, const char *help, unsigned long long v)
{
    yard_prom_family(out, name, "gauge", help);
    fprintf(out, "%s %llu\n", name, v);
}

static void
s_render_broker(const yard_broker_t *b, FILE *out)
{
    uint64_t replicas = 0;
    for (uint32_t i = 0; i < b->npeers; i++) {
        replicas += b->peers[i]->svc != NULL;
    }
    s_gauge(out, "yard_broker_up", "1: this broker is serving.", 1);
    yard_prom_family(out, "yard_broker_uptime_seconds", "gauge", "Time since the broker started.");
    fprintf(out, "yard_broker_uptime_seconds %.3f\n",
            (double)(b->now > b->start_ms ? b->now - b->start_ms : 0) / 1000.0);
    s_gauge(out, "yard_broker_in_flight", "Requests open (queued or held by a replica).",
            b->pool.live);
    s_gauge(out, "yard_broker_services", "Services known.", b->nsvcs);
    s_gauge(out, "yard_broker_peers", "Replicas and subscribers tracked.", b->npeers);
    s_gauge(out, "yard_broker_replicas", "Replicas registered, all services.", replicas);
    s_gauge(out, "yard_broker_subscribers", "Peers with at least one subscription.",
            b->nsubscribers);
    /* Clients are not tracked by id; counted as `$sys services` counts them (sys.c). */
    s_gauge(out, "yard_broker_connections", "TCP and IPC connections open (not inproc).", b->conns);
    s_gauge(out, "yard_broker_clients", "Connections that are not a registered replica.",
            b->conns > replicas ? b->conns - replicas : 0);
}

static void
s_render_counters(const yard_broker_t *b, FILE *out)
{
    char name[96];
    for (int c = 0; c < YARD__C_MAX_; c++) {
        snprintf(name, sizeof name, "yard_broker_%s_total", yard__counter_name((yard__counter_t)c));
        yard_prom_family(out, name, "counter", "A counter of `$sys stats` (docs/protocol.md).");
        fprintf(out, "%s %llu\n", name, (unsigned long long)b->counters[c]);
    }
    yard_prom_family(out, "yard_broker_errors_total", "counter",
                     "ERRORs sent to clients, by wire code name.");
    for (int code = 1; code < YARD__ERR_CODES; code++) {
        fprintf(out, "yard_broker_errors_total{code=\"%s\"} %llu\n",
                yard_err_name(yard_err_from_wire((uint32_t)code)),
                (unsigned long long)b->errors_sent[code]);
    }
    yard_prom_family(out, "yard_broker_faults_total", "counter",
                     "Bad input from peers, by kind (counted, answered, never acted on).");
    for (int f = 0; f < YARD__F_MAX_; f++) {
        fprintf(out, "yard_broker_faults_total{kind=\"%s\"} %llu\n",
                yard__fault_name((yard__fault_t)f), (unsigned long long)b->faults[f]);
    }
}

/* The per-service families, in the gateway's names (gateway/metrics.c). */
enum { S_REPLICAS, S_CREDIT, S_IN_FLIGHT, S_QUEUED, S_REQUESTS, S_REPLIES, S_ERRORS, S_P50, S_P99 };
static const struct {
    const char *name, *type, *help;
} s_svc_families[] = {
    [S_REPLICAS] = {"yard_service_replicas", "gauge", "Replicas offering the service."},
    [S_CREDIT] = {"yard_service_credit", "gauge", "Requests the replicas can take in all."},
    [S_IN_FLIGHT] = {"yard_service_in_flight", "gauge", "Requests held by replicas."},
    [S_QUEUED] = {"yard_service_queued", "gauge", "Requests queued at the broker."},
    [S_REQUESTS] = {"yard_service_requests_total", "counter", "Requests routed to the service."},
    [S_REPLIES] = {"yard_service_replies_total", "counter", "Replies from the service."},
    [S_ERRORS] = {"yard_service_errors_total", "counter", "Errors answered for the service."},
};

static void
s_svc_values(const yard__service_t *s, unsigned long long v[S_ERRORS + 1])
{
    memset(v, 0, sizeof(unsigned long long) * (S_ERRORS + 1));
    for (uint32_t i = 0; i < s->nreps; i++) {
        v[S_CREDIT] += s->reps[i]->credit;
        v[S_IN_FLIGHT] += s->reps[i]->held.count;
    }
    v[S_REPLICAS] = s->nreps;
    v[S_QUEUED] = s->queue.count;
    v[S_REQUESTS] = s->requests;
    v[S_REPLIES] = s->replies;
    v[S_ERRORS] = s->errors;
}

static void
s_sample(FILE *out, const char *name, const yard__service_t *s, const char *extra)
{
    fprintf(out, "%s{service=\"", name);
    yard_prom_label(out, s->name, s->name_len);
    fprintf(out, "\"%s} ", extra);
}

/* The latency histogram since each service's first request (stats.c keeps it): with it
 * Prometheus computes any quantile over any range, summed over brokers. */
static void
s_render_durations(const yard_broker_t *b, uint32_t n, FILE *out)
{
    static const char name[] = "yard_service_request_duration_seconds";
    yard_prom_family(out, name, "histogram",
                     "Request to answer (by the replica or the broker), since the service's first "
                     "request.");
    for (uint32_t i = 0; i < n; i++) {
        const yard__service_t *s = b->svcs[i];
        uint64_t le[YARD__LAT_BUCKETS], sum_us = 0;
        yard__stats_latency(s, le, &sum_us);
        for (uint32_t k = 0; k < YARD__LAT_BUCKETS; k++) {
            char extra[48];
            if (k + 1 < YARD__LAT_BUCKETS) {
                snprintf(extra, sizeof extra, ",le=\"%g\"", (double)yard__lat_le_us[k] / 1e6);
            } else {
                snprintf(extra, sizeof extra, ",le=\"+Inf\"");
            }
            s_sample(out, "yard_service_request_duration_seconds_bucket", s, extra);
            fprintf(out, "%llu\n", (unsigned long long)le[k]);
        }
        s_sample(out, "yard_service_request_duration_seconds_sum", s, "");
        fprintf(out, "%.6f\n", (double)sum_us / 1e6);
        s_sample(out, "yard_service_request_duration_seconds_count", s, "");
        fprintf(out, "%llu\n", (unsigned long long)le[YARD__LAT_BUCKETS - 1]);
    }
}

static void
s_render_services(yard_broker_t *b, FILE *out)
{
    uint32_t n = b->nsvcs < S_SERVICES_MAX ? b->nsvcs : S_SERVICES_MAX;
    unsigned long long v[S_ERRORS + 1];
    for (int f = S_REPLICAS; f <= S_ERRORS; f++) {
        yard_prom_family(out, s_svc_families[f].name, s_svc_families[f].type,
                         s_svc_families[f].help);
        for (uint32_t i = 0; i < n; i++) {
            s_svc_values(b->svcs[i], v);
            s_sample(out, s_svc_families[f].name, b->svcs[i], "");
            fprintf(out, "%llu\n", v[f]);
        }
    }
    yard_prom_family(out, "yard_service_latency_seconds", "gauge",
                     "Request to answer, quantiles of the last 5 s window (broker/stats.c).");
    uint64_t now_us = yard__stats_now_us();
    for (uint32_t i = 0; i < n; i++) {
        yard__svc_rates_t r;
        yard__stats_rates(b->svcs[i], now_us, &r);
        s_sample(out, "yard_service_latency_seconds", b->svcs[i], ",quantile=\"0.5\"");
        fprintf(out, "%.6f\n", (double)r.p50_us / 1e6);
        s_sample(out, "yard_service_latency_seconds", b->svcs[i], ",quantile=\"0.99\"");
        fprintf(out, "%.6f\n", (double)r.p99_us / 1e6);
    }
    s_render_durations(b, n, out);
    s_gauge(out, "yard_broker_metrics_services_omitted",
            "Services left out of this scrape (at most 5000 are listed).", b->nsvcs - n);
}

static void
s_render(yard_broker_t *b, yard__metrics_t *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL) {
        abort();
    }
    s_render_broker(b, out);
    s_render_counters(b, out);
    s_render_services(b, out);
    if (fclose(out) != 0 || text == NULL) {
        abort();
    }
    pthread_mutex_lock(&m->mu);
    char *old = m->text;
    m->text = text;
    m->len = len;
    pthread_mutex_unlock(&m->mu);
    free(old);
}

void
yard__metrics_tick(yard_broker_t *b)
{
    yard__metrics_t *m = b->metrics;
    if (m == NULL || b->now < m->next_ms) {
        return;
    }
    s_render(b, m);
    m->next_ms = b->now + S_PERIOD_MS;
}
