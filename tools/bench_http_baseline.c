/* yard bench http's baseline: a bare libmicrohttpd server that answers every request with the
 * same bytes the gateway answered (status, body, Content-Type and the gateway's own headers),
 * without the bus. It runs in the bench's process with the gateway's threading (one polling
 * thread, or a pool of `threads` on epoll, with suspend/resume allowed as the gateway needs),
 * connection limit and timeout, so the ratio measures what the gateway adds per request and
 * nothing else.
 *
 * Keep-alive: libmicrohttpd 0.9.75 answers `Connection: close` when a response is queued on the
 * access handler's first call for a request (shared/ANCHORS.md). The handler returns MHD_YES on
 * the first call, swallows any body on the following ones, and queues on the last one. */
#include "cli.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shape of the baseline (shared with cmd_bench_http.c, which declares the same). */
typedef struct {
    unsigned threads;            /* 1: one internal polling thread; more: an epoll pool */
    unsigned connection_limit;   /* 0: libmicrohttpd's default */
    unsigned connection_timeout; /* seconds; 0: none */
    unsigned status;
    const char *body; /* borrowed until yard__http_baseline_stop() */
    size_t body_len;
    const char *const *headers; /* name, value, name, value, ..., NULL; borrowed likewise */
} yard_http_baseline_opts_t;

typedef struct yard_http_baseline yard_http_baseline_t;
int yard__http_baseline_start(const yard_http_baseline_opts_t *opts, yard_http_baseline_t **out);
uint16_t yard__http_baseline_port(const yard_http_baseline_t *self);
void yard__http_baseline_stop(yard_http_baseline_t **self_p);

struct yard_http_baseline {
    struct MHD_Daemon *daemon;
    yard_http_baseline_opts_t o;
    uint16_t port;
};

/* Marks a request whose first access-handler call has been seen. */
static char s_started;

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    yard_http_baseline_t *self = cls;
    if (!*req_cls) {
        *req_cls = &s_started; /* first call: headers only; queueing now would lose keep-alive */
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* the body is not looked at: the answer is fixed */
        return MHD_YES;
    }
    /* A response per request, as any server with a dynamic answer builds one; the bytes are
     * persistent, so nothing is copied. */
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        self->o.body_len, (void *)self->o.body, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        return MHD_NO;
    }
    for (const char *const *h = self->o.headers; h && h[0] && h[1]; h += 2) {
        MHD_add_response_header(resp, h[0], h[1]);
    }
    enum MHD_Result rc = MHD_queue_response(conn, self->o.status, resp);
    MHD_destroy_response(resp);
    return rc;
}

int
yard__http_baseline_start(const yard_http_baseline_opts_t *opts, yard_http_baseline_t **out)
{
    *out = NULL;
    yard_http_baseline_t *self = calloc(1, sizeof *self);
    if (!self) {
        abort();
    }
    self->o = *opts;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (opts->threads > 1) {
        flags |= MHD_USE_EPOLL;
    }
    struct MHD_OptionItem items[8];
    int n = 0;
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &addr};
    if (opts->threads > 1) {
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, opts->threads, NULL};
    }
    if (opts->connection_limit) {
        items[n++] =
            (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, opts->connection_limit, NULL};
    }
    items[n++] =
        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, opts->connection_timeout, NULL};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    self->daemon = MHD_start_daemon(flags, 0, NULL, NULL, s_access, self, MHD_OPTION_ARRAY, items,
                                    MHD_OPTION_END);
    if (!self->daemon) {
        fprintf(stderr, "yard bench http: the bare libmicrohttpd server did not start\n");
        free(self);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    if (!self->port) {
        fprintf(stderr, "yard bench http: the bare server's port is unknown\n");
        yard__http_baseline_stop(&self);
        return -1;
    }
    *out = self;
    return 0;
}

uint16_t
yard__http_baseline_port(const yard_http_baseline_t *self)
{
    return self->port;
}

void
yard__http_baseline_stop(yard_http_baseline_t **self_p)
{
    yard_http_baseline_t *self = *self_p;
    if (!self) {
        return;
    }
    if (self->daemon) {
        MHD_stop_daemon(self->daemon);
    }
    free(self);
    *self_p = NULL;
}
