/* The header deadline of a serving loop's connections (conns.h). Each connection has a record
 * (libmicrohttpd's socket context) from its STARTED to its CLOSED notification; a record whose
 * connection awaits a request's headers is on the waiting list with its deadline. The sweep
 * walks that list only: connections being served or waiting on the bus are not on it. */
#include "conns.h"

#include "gw_internal.h"

#include "yard/log.h"

#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct s_conn {
    struct s_conn *prev, *next; /* the waiting list, while waiting */
    struct MHD_Connection *conn;
    int64_t deadline_ms; /* while waiting */
    bool waiting;
    bool spoke;    /* a request line arrived: on TLS, the handshake is done */
    gw_req_t *req; /* the request whose line arrived, until it ends */
} s_conn_t;

struct gw_conns {
    uint32_t header_ms, idle_ms;
    bool tls;
    yard_gw_metrics_t *metrics;
    s_conn_t *waiting;
    long open;
};

/* What a late plain-HTTP client is told before the connection closes. */
#define S_408_BODY                                                                                 \
    "{\"error\":{\"code\":\"REQUEST_TIMEOUT\",\"message\":\"the request line and headers did "     \
    "not arrive in time\"}}"
static const char s_408[] = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                            "Content-Type: application/json\r\nContent-Length: ";

gw_conns_t *
gw_conns_new(uint32_t header_timeout_ms, uint32_t idle_ms, bool tls, yard_gw_metrics_t *metrics)
{
    gw_conns_t *self = calloc(1, sizeof *self);
    if (!self) {
        abort();
    }
    self->header_ms = header_timeout_ms;
    self->idle_ms = idle_ms;
    self->tls = tls;
    self->metrics = metrics;
    return self;
}

void
gw_conns_destroy(gw_conns_t **self_p)
{
    gw_conns_t *self = *self_p;
    if (!self) {
        return;
    }
    /* The daemon has stopped: its CLOSED notifications freed every record. */
    free(self);
    *self_p = NULL;
}

static void
s_unwait(gw_conns_t *self, s_conn_t *c)
{
    if (!c->waiting) {
        return;
    }
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        self->waiting = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
    c->waiting = false;
}

/* Puts c on the waiting list with a deadline; an earlier one already set is kept. */
static void
s_wait(gw_conns_t *self, s_conn_t *c, int64_t deadline_ms)
{
    if (c->waiting) {
        if (deadline_ms < c->deadline_ms) {
            c->deadline_ms = deadline_ms;
        }
        return;
    }
    c->deadline_ms = deadline_ms;
    c->waiting = true;
    c->prev = NULL;
    c->next = self->waiting;
    if (self->waiting) {
        self->waiting->prev = c;
    }
    self->waiting = c;
}

static s_conn_t *
s_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void
gw_conns_notify(gw_conns_t *self, struct MHD_Connection *conn, void **socket_context,
                enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        s_conn_t *c = calloc(1, sizeof *c);
        if (!c) {
            abort();
        }
        c->conn = conn;
        s_wait(self, c, gw_now_ms() + self->header_ms);
        *socket_context = c;
        self->open++;
        yard_gw_metrics_connections(self->metrics, 1);
        return;
    }
    s_conn_t *c = *socket_context;
    if (c) {
        s_unwait(self, c);
        free(c);
        *socket_context = NULL;
        self->open--;
        yard_gw_metrics_connections(self->metrics, -1);
    }
}

void
gw_conns_request_line(gw_conns_t *self, struct MHD_Connection *conn, gw_req_t *req)
{
    s_conn_t *c = s_of(conn);
    if (c) {
        c->req = req;
        c->spoke = true;
        s_wait(self, c, gw_now_ms() + self->header_ms);
    }
}

void
gw_conns_headers_done(gw_conns_t *self, struct MHD_Connection *conn)
{
    s_conn_t *c = s_of(conn);
    if (c) {
        s_unwait(self, c);
    }
}

void
gw_conns_request_done(gw_conns_t *self, struct MHD_Connection *conn)
{
    s_conn_t *c = s_of(conn);
    if (c) {
        c->req = NULL;
        s_wait(self, c, gw_now_ms() + (int64_t)self->idle_ms + self->header_ms);
    }
}

/* Writes the 408. Plain HTTP: to the socket. TLS: as a record of the connection's session,
 * once a request line showed the handshake done (before that there is no session to speak
 * in). libmicrohttpd has nothing of its own in flight while it awaits headers, so the bytes
 * cannot interleave with its own; the socket is non-blocking, and a short send only loses the
 * courtesy, not the close. */
static void
s_send_408(gw_conns_t *self, s_conn_t *c, int fd)
{
    char msg[sizeof s_408 + sizeof S_408_BODY + 16];
    int n = snprintf(msg, sizeof msg, "%s%zu\r\n\r\n%s", s_408, sizeof S_408_BODY - 1, S_408_BODY);
    if (!self->tls) {
        (void)send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        return;
    }
    const union MHD_ConnectionInfo *si =
        c->spoke ? MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION) : NULL;
    if (si && si->tls_session) {
        (void)gnutls_record_send(si->tls_session, msg, (size_t)n);
    }
}

/* 408 and a shutdown that libmicrohttpd reads as the client leaving. */
static void
s_expire(gw_conns_t *self, s_conn_t *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (c->req) {
        c->req->status = 408; /* for the access log and metrics */
    }
    if (ci && ci->connect_fd >= 0) {
        s_send_408(self, c, ci->connect_fd);
        shutdown(ci->connect_fd, SHUT_RDWR);
    }
    yard_gw_metrics_header_timeout(self->metrics);
}

int
gw_conns_sweep(gw_conns_t *self, int64_t now_ms)
{
    int n = 0;
    for (s_conn_t *c = self->waiting, *next; c; c = next) {
        next = c->next;
        if (now_ms >= c->deadline_ms) {
            s_unwait(self, c);
            s_expire(self, c);
            n++;
        }
    }
    if (n > 0) {
        yard_log(YARD_LOG_DEBUG, "closed connections whose headers were late", YF_INT("count", n));
    }
    return n;
}

long
gw_conns_open(const gw_conns_t *self)
{
    return self->open;
}
