/* The broker's /metrics endpoint (see metrics.h). The loop copies its figures into a snapshot
 * (metrics_snap.h) at most once per S_PERIOD_MS and swaps it in under `mu` with a try-lock;
 * libmicrohttpd's thread, which answers scrapes, renders the latest snapshot as text (once per
 * snapshot, cached) under `mu` and reads nothing else.
 *
 * Invariants: the MHD thread never touches the broker, and the loop never waits for the MHD
 * thread; a snapshot is bounded (YARD__MSNAP_SERVICES services, names of at most
 * YARD_WIRE_NAME_MAX bytes); at most YARD__METRICS_CONNS connections are served at once, each
 * for at most S_CONN_TIMEOUT_S. */
#include "metrics.h"
#include "broker_priv.h"
#include "metrics_snap.h"
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
#define S_CONN_TIMEOUT_S 10u   /* an idle or slow scraper's connection is closed after this */
#define S_BACKLOG        16

struct yard__metrics {
    struct MHD_Daemon *mhd;
    pthread_mutex_t mu;  /* guards snap, text and len */
    yard__msnap_t *snap; /* the latest snapshot; NULL before the first */
    char *text;          /* snap in the text format, made by the first scrape that needs it */
    size_t len;
    yard__msnap_t *pending; /* loop only: taken, not yet swapped in (a scrape held mu) */
    uint64_t next_ms;       /* loop only: b->now at which to take the next snapshot */
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
    /* Rendered and copied under the lock: the loop frees a snapshot once it swaps in the next
     * (it only try-locks, so a long render never stalls it). */
    pthread_mutex_lock(&m->mu);
    if (m->snap != NULL && m->text == NULL) {
        m->text = yard__msnap_render(m->snap, &m->len);
    }
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
    m->snap = yard__msnap_take(b); /* the loop has not started: this thread may read the broker */
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
    yard__msnap_destroy(&m->snap);
    yard__msnap_destroy(&m->pending);
    free(m->text);
    free(m);
    b->metrics = NULL;
}

/* --- the loop's side ---------------------------------------------------------------------- */

/* Swaps the pending snapshot in, unless a scrape holds the mutex: the loop never waits for
 * a scraper (rendering a large scrape takes milliseconds); it tries again next tick. */
static void
s_publish(yard__metrics_t *m)
{
    if (m->pending == NULL || pthread_mutex_trylock(&m->mu) != 0) {
        return;
    }
    yard__msnap_t *old = m->snap;
    char *old_text = m->text;
    m->snap = m->pending;
    m->text = NULL;
    m->len = 0;
    pthread_mutex_unlock(&m->mu);
    m->pending = NULL;
    yard__msnap_destroy(&old);
    free(old_text);
}

void
yard__metrics_tick(yard_broker_t *b)
{
    yard__metrics_t *m = b->metrics;
    if (m == NULL) {
        return;
    }
    if (m->pending == NULL && b->now >= m->next_ms) {
        m->pending = yard__msnap_take(b);
        m->next_ms = b->now + S_PERIOD_MS;
    }
    s_publish(m);
}
