/* TCP checks: a connect that never blocks the replica, as a loop source (yard/loop.h). A
 * numeric address connects at once; a host name is looked up with glibc's getaddrinfo_a()
 * (the lookup runs on glibc's own thread; the source looks at it every 10 ms), then each
 * address is tried in turn with a non-blocking connect() that the loop waits on for
 * writability. The whole attempt, lookup included, ends at its deadline.
 *
 * A lookup that is still running when the source is destroyed is cancelled and waited for
 * (glibc writes into its request until it ends), bounded by the resolver's own timeouts. */
#include "health_internal.h"

#include "yard/error.h"
#include "yard/loop.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_CONNS_MAX 64 /* connects in flight per replica */
#define S_POLL_MS   10 /* how often a running lookup is looked at */

typedef enum { S_FREE = 0, S_RESOLVING, S_CONNECTING } s_phase_t;

typedef struct {
    s_phase_t phase;
    char host[256], port[8];
    struct addrinfo hints;
    struct gaicb gcb;
    struct addrinfo *addrs, *next; /* the lookup's answer and the next address to try */
    int fd;
    int64_t deadline;
    hc_tcp_fn *cb;
    void *arg;
    char why[HC_ERROR_MAX]; /* the last address's failure */
} s_conn_t;

struct hc_tcp {
    s_conn_t conns[S_CONNS_MAX];
    bool draining;
};

int
hc_split_host_port(const char *text, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text) {
        return -1;
    }
    const char *h = text;
    size_t hn = (size_t)(colon - text);
    if (text[0] == '[') { /* [v6]:port */
        if (hn < 3 || text[hn - 1] != ']') {
            return -1;
        }
        h++;
        hn -= 2;
    }
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (hn == 0 || hn >= hostlen || !colon[1] || *end || p < 1 || p > 65535 || portlen < 6) {
        return -1;
    }
    memcpy(host, h, hn);
    host[hn] = '\0';
    snprintf(port, portlen, "%ld", p);
    return 0;
}

static void
s_finish(s_conn_t *c, int err, const char *why)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    if (c->addrs) {
        freeaddrinfo(c->addrs);
    }
    hc_tcp_fn *cb = c->cb;
    void *arg = c->arg;
    char text[HC_ERROR_MAX];
    snprintf(text, sizeof text, "%s", why ? why : "");
    memset(c, 0, sizeof *c);
    c->fd = -1;
    cb(err, text, arg);
}

/* Starts a connect to the next address; finishes the attempt when none is left. */
static void
s_try_next(s_conn_t *c)
{
    while (c->next) {
        struct addrinfo *a = c->next;
        c->next = a->ai_next;
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(c->why, sizeof c->why, "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            close(fd);
            s_finish(c, 0, NULL);
            return;
        }
        if (errno == EINPROGRESS) {
            c->fd = fd;
            c->phase = S_CONNECTING;
            return;
        }
        snprintf(c->why, sizeof c->why, "connect to %.100s:%s: %.60s", c->host, c->port,
                 strerror(errno));
        close(fd);
    }
    s_finish(c, YARD_E_UNREACHABLE, c->why[0] ? c->why : "no address to connect to");
}

static void
s_resolved(s_conn_t *c, int gai)
{
    if (gai != 0) {
        char why[HC_ERROR_MAX];
        snprintf(why, sizeof why, "cannot resolve %.100s: %.60s", c->host, gai_strerror(gai));
        s_finish(c, YARD_E_UNREACHABLE, why);
        return;
    }
    c->addrs = c->gcb.ar_result;
    c->next = c->addrs;
    s_try_next(c);
}

int
hc_tcp_connect(hc_tcp_t *t, const char *host_port, uint32_t timeout_ms, hc_tcp_fn *cb, void *arg)
{
    if (t->draining) {
        return YARD_E_SHUTDOWN;
    }
    s_conn_t *c = NULL;
    for (size_t i = 0; i < S_CONNS_MAX && !c; i++) {
        c = t->conns[i].phase == S_FREE ? &t->conns[i] : NULL;
    }
    if (!c) {
        return YARD_E_OVERLOADED;
    }
    if (hc_split_host_port(host_port, c->host, sizeof c->host, c->port, sizeof c->port) != 0) {
        return YARD_E_INVALID;
    }
    c->fd = -1;
    c->cb = cb;
    c->arg = arg;
    c->deadline = yard_loop_now_ms() + timeout_ms;
    c->hints = (struct addrinfo){.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *numeric = NULL;
    if (getaddrinfo(c->host, c->port, &c->hints, &numeric) == 0) {
        c->addrs = c->next = numeric; /* an address: no lookup */
        c->phase = S_CONNECTING;      /* until s_try_next says otherwise */
        return 0;                     /* connected on the loop's next turn (cb never here) */
    }
    c->hints.ai_flags = 0;
    c->gcb = (struct gaicb){.ar_name = c->host, .ar_service = c->port, .ar_request = &c->hints};
    struct gaicb *list[1] = {&c->gcb};
    struct sigevent sev = {.sigev_notify = SIGEV_NONE};
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, &sev) != 0) {
        memset(c, 0, sizeof *c);
        return YARD_E_OVERLOADED;
    }
    c->phase = S_RESOLVING;
    return 0;
}

static int
s_prepare(void *ctx, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    hc_tcp_t *t = ctx;
    int n = 0;
    int64_t now = yard_loop_now_ms();
    for (size_t i = 0; i < S_CONNS_MAX; i++) {
        s_conn_t *c = &t->conns[i];
        if (c->phase == S_FREE) {
            continue;
        }
        int64_t wake = c->deadline;
        if (c->phase == S_RESOLVING || c->fd < 0) {
            wake = now + S_POLL_MS < wake ? now + S_POLL_MS : wake;
            wake = c->fd < 0 && c->phase == S_CONNECTING ? now : wake;
        } else if (n < max) {
            items[n++] = (yard_wait_item_t){.fd = c->fd, .no_read = true, .want_write = true};
        }
        *wake_ms = wake < *wake_ms ? wake : *wake_ms;
    }
    return n;
}

static void
s_step(s_conn_t *c, const yard_wait_item_t *items, int n, int64_t now)
{
    if (c->phase == S_RESOLVING) {
        int gai = gai_error(&c->gcb);
        if (gai != EAI_INPROGRESS) {
            s_resolved(c, gai);
            return;
        }
    } else if (c->fd < 0) {
        s_try_next(c); /* a numeric address, first turn */
        return;
    } else {
        for (int i = 0; i < n; i++) {
            if (items[i].fd != c->fd || !items[i].writable) {
                continue;
            }
            int soerr = 0;
            socklen_t len = sizeof soerr;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
            if (soerr == 0) {
                s_finish(c, 0, NULL);
                return;
            }
            snprintf(c->why, sizeof c->why, "connect to %.100s:%s: %.60s", c->host, c->port,
                     strerror(soerr));
            close(c->fd);
            c->fd = -1;
            s_try_next(c);
            return;
        }
    }
    if (now >= c->deadline && c->phase != S_FREE) {
        char why[HC_ERROR_MAX];
        snprintf(why, sizeof why, "%s %.100s:%s: no answer in time",
                 c->phase == S_RESOLVING ? "resolving" : "connecting to", c->host, c->port);
        if (c->phase == S_RESOLVING && gai_cancel(&c->gcb) != EAI_CANCELED) {
            return; /* glibc still writes into it: finish when the lookup ends */
        }
        s_finish(c, YARD_E_TIMEOUT, why);
    }
}

static void
s_dispatch(void *ctx, yard_wait_item_t *items, int n, int64_t now_ms)
{
    hc_tcp_t *t = ctx;
    for (size_t i = 0; i < S_CONNS_MAX; i++) {
        if (t->conns[i].phase != S_FREE) {
            s_step(&t->conns[i], items, n, now_ms);
        }
    }
}

static void
s_drain(void *ctx)
{
    ((hc_tcp_t *)ctx)->draining = true;
}

static bool
s_busy(void *ctx)
{
    hc_tcp_t *t = ctx;
    for (size_t i = 0; i < S_CONNS_MAX; i++) {
        if (t->conns[i].phase != S_FREE) {
            return true;
        }
    }
    return false;
}

static void
s_destroy(void *ctx)
{
    hc_tcp_t *t = ctx;
    for (size_t i = 0; i < S_CONNS_MAX; i++) {
        s_conn_t *c = &t->conns[i];
        if (c->phase == S_RESOLVING && gai_cancel(&c->gcb) != EAI_CANCELED) {
            const struct gaicb *list[1] = {&c->gcb};
            while (gai_error(&c->gcb) == EAI_INPROGRESS) {
                gai_suspend(list, 1, NULL);
            }
        }
        if (c->phase == S_RESOLVING && gai_error(&c->gcb) == 0) {
            c->addrs = c->gcb.ar_result;
        }
        if (c->phase != S_FREE) {
            s_finish(c, YARD_E_SHUTDOWN, "the replica stopped");
        }
    }
    free(t);
}

int
hc_tcp_add(yard_ctx_t *ctx, hc_tcp_t **out)
{
    hc_tcp_t *t = calloc(1, sizeof *t);
    if (!t) {
        abort();
    }
    for (size_t i = 0; i < S_CONNS_MAX; i++) {
        t->conns[i].fd = -1;
    }
    yard_loop_source_t src = {.ctx = t,
                              .prepare = s_prepare,
                              .dispatch = s_dispatch,
                              .drain = s_drain,
                              .busy = s_busy,
                              .destroy = s_destroy};
    int rc = yard_ctx_add_source(ctx, &src);
    if (rc != 0) {
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}
