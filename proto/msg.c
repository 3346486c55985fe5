/* yard_msg_t: a received reply, error or delivery, plus the small socket helpers the client
 * and the actor runtime share. A message owns its body frame (moved in from the socket,
 * never copied) and NUL-terminated copies of its strings in one arena that is reused when the
 * message is refilled. */
#include "alloc_internal.h"
#include "msg_internal.h"
#include "curve_internal.h"
#include "yard/curve.h"
#include "yard/error.h"
#include "yard/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
yard__msg_init(yard_msg_t *m)
{
    memset(m, 0, sizeof *m);
    zmq_msg_init(&m->body);
    m->error_text = m->app_error = m->subject = "";
}

void
yard__msg_fini(yard_msg_t *m)
{
    zmq_msg_close(&m->body);
    free(m->arena);
    free(m->headers);
    memset(m, 0, sizeof *m);
}

/* Appends s to the arena at *off and returns where it landed (offset). */
static size_t
s_put(yard_msg_t *m, size_t *off, yard_str_t s)
{
    size_t at = *off;
    if (s.len) {
        memcpy(m->arena + at, s.ptr, s.len);
    }
    m->arena[at + s.len] = '\0';
    *off = at + s.len + 1;
    return at;
}

void
yard__msg_set(yard_msg_t *m, int status, const yard_header_t *h, bool is_delivery, zmq_msg_t *body)
{
    m->status = status;
    zmq_msg_close(&m->body);
    zmq_msg_init(&m->body);
    if (body) {
        zmq_msg_move(&m->body, body);
    }
    yard_str_t subject = is_delivery ? h->service : yard_str(NULL);
    size_t need = h->error_text.len + h->app_error.len + subject.len + 3;
    for (uint32_t i = 0; i < h->header_count; i++) {
        need += h->headers[i].key.len + h->headers[i].value.len + 2;
    }
    if (need > m->arena_cap) {
        m->arena_cap = need < 256 ? 256 : need;
        m->arena = yard__xrealloc(m->arena, m->arena_cap);
    }
    if (h->header_count * 2 > m->header_cap) {
        m->header_cap = h->header_count * 2;
        m->headers = yard__xrealloc(m->headers, m->header_cap * sizeof *m->headers);
    }
    size_t off = 0;
    size_t et = s_put(m, &off, h->error_text);
    size_t ae = s_put(m, &off, h->app_error);
    size_t su = s_put(m, &off, subject);
    size_t hoff[2 * YARD_WIRE_HEADERS_MAX];
    uint32_t n = h->header_count <= YARD_WIRE_HEADERS_MAX ? h->header_count : 0;
    for (uint32_t i = 0; i < n; i++) {
        hoff[2 * i] = s_put(m, &off, h->headers[i].key);
        hoff[2 * i + 1] = s_put(m, &off, h->headers[i].value);
    }
    m->error_text = m->arena + et;
    m->app_error = m->arena + ae;
    m->subject = m->arena + su;
    for (uint32_t i = 0; i < 2 * n; i++) {
        m->headers[i] = m->arena + hoff[i];
    }
    m->header_count = n;
}

void
yard__msg_set_local(yard_msg_t *m, int status, const char *text)
{
    yard_header_t h = {.error_text = yard_str(text)};
    if (h.error_text.len > YARD_WIRE_TEXT_MAX) {
        h.error_text.len = YARD_WIRE_TEXT_MAX;
    }
    yard__msg_set(m, status, &h, false, NULL);
}

yard_msg_t *
yard__msg_take(yard_msg_t *m)
{
    yard_msg_t *out = yard__xcalloc(1, sizeof *out);
    memcpy(out, m, sizeof *out);
    /* The body moves with zmq_msg_move; the arena and header array change hands. */
    zmq_msg_init(&out->body);
    zmq_msg_move(&out->body, &m->body);
    memset(m, 0, sizeof *m);
    yard__msg_init(m);
    return out;
}

bool
yard__msg_has_details(const yard_msg_t *m)
{
    return m->error_text[0] || m->app_error[0];
}

int
yard_msg_status(const yard_msg_t *self)
{
    return self->status;
}

const char *
yard_msg_error_text(const yard_msg_t *self)
{
    return self->error_text;
}

const char *
yard_msg_app_error(const yard_msg_t *self)
{
    return self->app_error;
}

const void *
yard_msg_body(const yard_msg_t *self, size_t *size)
{
    zmq_msg_t *body = (zmq_msg_t *)&self->body; /* zmq's accessors are not const-qualified */
    size_t n = zmq_msg_size(body);
    if (size) {
        *size = n;
    }
    return n ? zmq_msg_data(body) : "";
}

const char *
yard_msg_subject(const yard_msg_t *self)
{
    return self->subject;
}

const char *
yard_msg_header(const yard_msg_t *self, const char *key)
{
    for (uint32_t i = 0; key && i < self->header_count; i++) {
        if (strcmp(self->headers[2 * i], key) == 0) {
            return self->headers[2 * i + 1];
        }
    }
    return NULL;
}

size_t
yard_msg_header_count(const yard_msg_t *self)
{
    return self->header_count;
}

int
yard_msg_header_at(const yard_msg_t *self, size_t i, const char **key, const char **value)
{
    if (i >= self->header_count) {
        return YARD_E_INVALID;
    }
    *key = self->headers[2 * i];
    *value = self->headers[2 * i + 1];
    return 0;
}

void
yard_msg_destroy(yard_msg_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    yard__msg_fini(*self_p);
    free(*self_p);
    *self_p = NULL;
}

/* --- shared socket helpers --------------------------------------------------------------- */

int64_t
yard__clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
yard__bus_send(void *sock, yard_cmd_t cmd, const yard_header_t *h, zmq_msg_t *body)
{
    uint8_t head[YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX];
    if (body && zmq_msg_size(body) <= YARD_WIRE_INLINE_MAX) {
        /* One frame: libzmq's cost is per frame, and copying a small body is cheaper. */
        int n = yard_wire_encode_inline(cmd, h, zmq_msg_data(body), zmq_msg_size(body), head,
                                        sizeof head);
        zmq_msg_close(body);
        if (n < 0) {
            return n;
        }
        return zmq_send(sock, head, (size_t)n, ZMQ_DONTWAIT) < 0 ? YARD_E_OVERLOADED : 0;
    }
    int n = yard_wire_encode(cmd, h, head, sizeof head);
    if (n < 0) {
        if (body) {
            zmq_msg_close(body);
        }
        return n;
    }
    /* A multipart message is accepted whole or not at all once its first frame is in. */
    if (zmq_send(sock, head, (size_t)n, (body ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0) {
        if (body) {
            zmq_msg_close(body);
        }
        return YARD_E_OVERLOADED;
    }
    if (body && zmq_msg_send(body, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(body);
    }
    return 0;
}

void
yard__msg_set_bytes(zmq_msg_t *m, const void *data, size_t size)
{
    /* Up to 33 bytes cost no allocation: libzmq keeps them in the message itself. */
    zmq_msg_close(m);
    if (zmq_msg_init_size(m, size) != 0) {
        abort();
    }
    if (size) {
        memcpy(zmq_msg_data(m), data, size);
    }
}

static atomic_uint_fast64_t s_monitor_seq;

#define S_HANDSHAKE_FAILED                                                                         \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

/* A failed handshake with the broker is a setup error the user must see named (the calls
 * themselves end UNREACHABLE or TIMEOUT): logged once per process and kind. */
static void
s_handshake_failed(int event, uint32_t value)
{
    static atomic_uint logged;
    unsigned bit = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH       ? 1u
                   : event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? 2u
                                                                  : 4u;
    if (atomic_fetch_or(&logged, bit) & bit) {
        return;
    }
    const char *why;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        why = "the broker refused this process's CURVE key: its public certificate is not in the "
              "broker's curve.keys_dir";
    } else if (!yard_curve_enabled()) {
        why = "the broker requires CURVE: set curve.key (this process's NAME_secret) and "
              "curve.broker_key (the broker's public certificate), or YARD_CURVE_KEY and "
              "YARD_CURVE_BROKER_KEY";
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        why = "the broker does not speak CURVE on this endpoint, but curve.broker_key is set";
    } else {
        why = "CURVE handshake failed: is curve.broker_key the broker's public certificate?";
    }
    yard_log(YARD_LOG_ERROR, "cannot connect to the broker", YF_STR("why", why),
             YF_INT("code", value));
}

int
yard__bus_monitor_open(void *ctx, void *sock, void **pair)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://yard-monitor-%llu",
             (unsigned long long)atomic_fetch_add(&s_monitor_seq, 1));
    *pair = NULL;
    if (zmq_socket_monitor(
            sock, ep, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | S_HANDSHAKE_FAILED) != 0) {
        return YARD_E_INTERNAL;
    }
    void *p = zmq_socket(ctx, ZMQ_PAIR);
    int zero = 0;
    if (!p || zmq_setsockopt(p, ZMQ_LINGER, &zero, sizeof zero) != 0 || zmq_connect(p, ep) != 0) {
        if (p) {
            zmq_close(p);
        }
        zmq_socket_monitor(sock, NULL, 0);
        return YARD_E_INTERNAL;
    }
    *pair = p;
    return 0;
}

void
yard__bus_monitor_close(void *sock, void **pair)
{
    if (sock) {
        zmq_socket_monitor(sock, NULL, 0);
    }
    if (*pair) {
        zmq_close(*pair);
        *pair = NULL;
    }
}

int
yard__bus_monitor_read(void *pair)
{
    zmq_msg_t f;
    zmq_msg_init(&f);
    if (!pair || zmq_msg_recv(&f, pair, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&f);
        return 0;
    }
    int event = 0;
    uint32_t value = 0;
    if (zmq_msg_size(&f) >= 6) {
        uint16_t e;
        memcpy(&e, zmq_msg_data(&f), sizeof e);
        memcpy(&value, (const char *)zmq_msg_data(&f) + 2, sizeof value);
        event = e;
    }
    if (event & S_HANDSHAKE_FAILED) {
        s_handshake_failed(event, value);
    }
    /* The second frame is the endpoint; skip every remaining frame. */
    while (zmq_msg_more(&f)) {
        if (zmq_msg_recv(&f, pair, 0) < 0) {
            break;
        }
    }
    zmq_msg_close(&f);
    return event;
}

int
yard__endpoints_parse(const char *list, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!list || !*list) {
        return YARD_E_CONFIG;
    }
    size_t cap = 1;
    for (const char *p = list; *p; p++) {
        cap += *p == ',';
    }
    char **eps = yard__xcalloc(cap, sizeof *eps);
    char *copy = yard__xstrdup(list);
    int rc = 0;
    size_t count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') {
            tok++;
        }
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ') {
            tok[--len] = '\0';
        }
        const char *sep = strstr(tok, "://");
        if (!sep || sep == tok || sep[3] == '\0') {
            rc = YARD_E_CONFIG;
            break;
        }
        eps[count++] = yard__xstrdup(tok);
    }
    free(copy);
    if (rc == 0 && count == 0) {
        rc = YARD_E_CONFIG;
    }
    if (rc != 0) {
        yard__endpoints_free(eps, count);
        return rc;
    }
    *out = eps;
    *n = count;
    return 0;
}

void
yard__endpoints_free(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i]);
    }
    free(list);
}

void *
yard__bus_open(void *ctx, const char *endpoint, int linger_ms, void **mon)
{
    *mon = NULL;
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    if (!sock) {
        yard_log(YARD_LOG_ERROR, "cannot create socket",
                 YF_STR("error", zmq_strerror(zmq_errno())));
        return NULL;
    }
    /* A restarted broker is found again within ivl_max: replicas register again and clients
     * renew subscriptions within one heartbeat of it appearing. */
    int ivl = 100, ivl_max = 250, hwm = 100000;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (yard__curve_apply(sock) != 0) { /* logged there */
        zmq_close(sock);
        return NULL;
    }
    yard__bus_monitor_open(ctx, sock, mon);
    if (zmq_connect(sock, endpoint) != 0) {
        yard_log(YARD_LOG_ERROR, "cannot connect", YF_STR("endpoint", endpoint),
                 YF_STR("error", zmq_strerror(zmq_errno())));
        yard__bus_close(&sock, mon);
        return NULL;
    }
    return sock;
}

bool
yard__endpoint_monitored(const char *endpoint)
{
    return strncmp(endpoint, "inproc://", 9) != 0;
}

void
yard__bus_close(void **sock, void **mon)
{
    if (*sock) {
        yard__bus_monitor_close(*sock, mon);
        zmq_close(*sock);
        *sock = NULL;
    }
}
