/* yard bench http's baseline: a bare libmicrohttpd server that answers every request with the
 * same bytes the gateway answered (status, body, Content-Type and the gateway's own headers),
 * without the bus. It runs in the bench's process as a bare server would run: libmicrohttpd's
 * own pool of epoll threads (S_BASELINE_FLAGS), with as many threads as the gateway has serving
 * loops and the gateway's connection limit and timeout, so the ratio measures what the gateway
 * adds per request, its bus round trip included. The bytes come from one request made by hand to
 * the gateway (yard__http_ask()), which the bench also uses to wait until the gateway answers.
 *
 * Keep-alive: libmicrohttpd 0.9.75 answers `Connection: close` when a response is queued on the
 * access handler's first call for a request (shared/ANCHORS.md). The handler returns MHD_YES on
 * the first call, swallows any body on the following ones, and queues on the last one. */
#include "bench_http_baseline.h"

#include "cli.h"

#include "yard/gateway.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_BASELINE_FLAGS (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL)
#define S_MAX_HEADERS    16

/* --- one HTTP request by hand: the gateway's answer, kept for the bare server -------------- */

struct yard_http_answer {
    unsigned status;
    char *raw;                                  /* the whole response; owns the strings below */
    const char *headers[2 * S_MAX_HEADERS + 1]; /* name, value, ..., NULL */
    const char *body;
    size_t body_len;
};

/* Headers the bare server's libmicrohttpd sets itself, per response. */
static bool
s_own_header(const char *name)
{
    static const char *const own[] = {
        "Date", "Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive", NULL};
    for (const char *const *p = own; *p; p++) {
        if (strcasecmp(name, *p) == 0) {
            return true;
        }
    }
    return false;
}

/* Splits a complete response of len bytes (Connection: close, so it ended at EOF) in place:
 * status, the headers to replay, the body (Content-Length bytes of it). */
static int
s_answer_parse(yard_http_answer_t *a, size_t len)
{
    char *end = strstr(a->raw, "\r\n\r\n");
    if (!end || sscanf(a->raw, "HTTP/1.%*c %u", &a->status) != 1) {
        return -1;
    }
    *end = '\0';
    a->body = end + 4;
    a->body_len = len - (size_t)(a->body - a->raw);
    char *line = strstr(a->raw, "\r\n");
    int n = 0;
    while (line && line < end) {
        *line = '\0';
        line += 2;
        char *next = strstr(line, "\r\n");
        char *colon = strchr(line, ':');
        if (!colon) {
            return -1;
        }
        *colon = '\0';
        char *value = colon + 1;
        value += strspn(value, " \t");
        if (strcasecmp(line, "Content-Length") == 0) {
            size_t cl = strtoull(value, NULL, 10);
            if (cl > a->body_len) {
                return -1;
            }
            a->body_len = cl;
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            return -1; /* the gateway answers with a length; anything else we do not replay */
        }
        if (!s_own_header(line) && n < 2 * S_MAX_HEADERS) {
            a->headers[n++] = line;
            a->headers[n++] = value;
        }
        line = next;
    }
    a->headers[n] = NULL;
    return 0;
}

/* Reads the whole answer from fd into a->raw (grown as needed, up to YARD__HTTP_ANSWER_MAX),
 * NUL-terminated; returns its length, or -1. */
static ssize_t
s_answer_read(int fd, yard_http_answer_t *a)
{
    size_t len = 0, cap = 65536;
    if (!(a->raw = malloc(cap))) {
        abort();
    }
    for (;;) {
        if (len + 1 == cap) {
            if (cap >= YARD__HTTP_ANSWER_MAX) {
                return -1;
            }
            cap *= 2;
            if (!(a->raw = realloc(a->raw, cap))) {
                abort();
            }
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0) {
            return -1;
        }
        ssize_t n = recv(fd, a->raw + len, cap - 1 - len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    a->raw[len] = '\0';
    return (ssize_t)len;
}

/* Sends all len bytes of buf to fd; 0 or -1. */
static int
s_send_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int
yard__http_ask(uint16_t port, const char *method, const char *path, const char *json_body,
               yard_http_answer_t **out)
{
    *out = NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char *req = NULL;
    int rlen = json_body ? asprintf(&req,
                                    "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                                    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                                    "Connection: close\r\n\r\n%s",
                                    method, path, port, strlen(json_body), json_body)
                         : asprintf(&req,
                                    "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                                    "Connection: close\r\n\r\n",
                                    method, path, port);
    if (rlen < 0) {
        abort();
    }
    yard_http_answer_t *a = calloc(1, sizeof *a);
    if (!a) {
        abort();
    }
    int rc = -1;
    ssize_t len = -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        s_send_all(fd, req, (size_t)rlen) == 0 && (len = s_answer_read(fd, a)) >= 0) {
        rc = s_answer_parse(a, (size_t)len);
    }
    close(fd);
    free(req);
    if (rc) {
        yard__http_answer_destroy(&a);
    }
    *out = a;
    return rc;
}

unsigned
yard__http_answer_status(const yard_http_answer_t *self)
{
    return self->status;
}

size_t
yard__http_answer_body_len(const yard_http_answer_t *self)
{
    return self->body_len;
}

void
yard__http_answer_destroy(yard_http_answer_t **self_p)
{
    yard_http_answer_t *self = *self_p;
    if (self) {
        free(self->raw);
        free(self);
        *self_p = NULL;
    }
}

/* --- the bare server ------------------------------------------------------------------------ */

struct yard_http_baseline {
    struct MHD_Daemon *daemon;
    const yard_http_answer_t *answer;
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
        self->answer->body_len, (void *)self->answer->body, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        return MHD_NO;
    }
    for (const char *const *h = self->answer->headers; h[0] && h[1]; h += 2) {
        MHD_add_response_header(resp, h[0], h[1]);
    }
    enum MHD_Result rc = MHD_queue_response(conn, self->answer->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

int
yard__http_baseline_start(unsigned threads, unsigned connection_limit,
                          uint32_t connection_timeout_ms, const yard_http_answer_t *answer,
                          yard_http_baseline_t **out)
{
    *out = NULL;
    yard_http_baseline_t *self = calloc(1, sizeof *self);
    if (!self) {
        abort();
    }
    self->answer = answer;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned timeout_s = (connection_timeout_ms + 999) / 1000;
    /* libmicrohttpd's fastest built-in mode for a server that answers at once: a pool of
     * epoll threads, as many as the gateway's serving threads, and the gateway's limits. */
    self->daemon =
        MHD_start_daemon(S_BASELINE_FLAGS, 0, NULL, NULL, s_access, self, MHD_OPTION_SOCK_ADDR,
                         &addr, MHD_OPTION_THREAD_POOL_SIZE, threads ? threads : 1,
                         MHD_OPTION_CONNECTION_LIMIT, connection_limit ? connection_limit : 10000,
                         MHD_OPTION_CONNECTION_TIMEOUT, timeout_s ? timeout_s : 1, MHD_OPTION_END);
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
