/* The broker's lifecycle and its loop. One thread owns every socket and every table: it
 * waits in zmq_poll on the ROUTER, the monitor PAIR and a wake eventfd (stop), then drains
 * up to S_BATCH messages with ZMQ_DONTWAIT under one clock reading, then fires deadlines and,
 * every tick, the liveness and grace sweeps. A message is validated in a fixed order (frame
 * count, command, header size, header, body size) before any state is touched; bad input is
 * counted and answered, never asserted. */
#include "broker_priv.h"
#include "metrics.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/wait.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define S_BATCH     256
#define S_MAX_PARTS 3 /* routing id, head (command + header), body */
#define S_SNDHWM    100000

uint64_t
yard__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
yard__grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap) {
        return;
    }
    uint32_t n = *cap ? *cap * 2 : 16;
    while (n < need) {
        n *= 2;
    }
    void *p = realloc(*arr, (size_t)n * elem);
    if (!p) {
        abort();
    }
    *arr = p;
    *cap = n;
}

/* --- options ---------------------------------------------------------------------------- */

/* Fields left zero take the defaults of the options table (broker/cli.c), the one place
 * they are written; then the cross-field rules the table cannot say. */
static void
s_defaults(yard_broker_opts_t *o)
{
    yard_options_fill_unset(yard_broker_options, o);
    if (o->heartbeat_max_ms < o->heartbeat_min_ms) {
        o->heartbeat_max_ms = o->heartbeat_min_ms;
    }
    if (o->max_in_flight > UINT32_MAX / 2) {
        o->max_in_flight = UINT32_MAX / 2;
    }
}

static int
s_copy_opts(yard_broker_t *b, const yard_broker_opts_t *opts)
{
    if (opts) {
        b->o = *opts;
    }
    b->o.bind = strdup(opts && opts->bind && *opts->bind
                           ? opts->bind
                           : yard_options_default(yard_broker_options, "bind"));
    b->o.log_level = NULL; /* applied by the program, not kept */
    if (!b->o.bind) {
        abort();
    }
    b->o.curve_key = b->o.curve_key ? strdup(b->o.curve_key) : NULL;
    b->o.curve_keys_dir = b->o.curve_keys_dir ? strdup(b->o.curve_keys_dir) : NULL;
    if ((opts && opts->curve_key && !b->o.curve_key) ||
        (opts && opts->curve_keys_dir && !b->o.curve_keys_dir)) {
        abort();
    }
    if ((opts && (opts->queue_max < 0 || opts->max_peers < 0 || opts->max_services < 0 ||
                  opts->max_in_flight < 0))) {
        return YARD_E_CONFIG;
    }
    s_defaults(&b->o);
    b->tick_ms = b->o.heartbeat_min_ms / 2;
    b->tick_ms = b->tick_ms < 5 ? 5 : b->tick_ms > 100 ? 100 : b->tick_ms;
    return 0;
}

/* --- lifecycle -------------------------------------------------------------------------- */

static int
s_bind_all(yard_broker_t *b)
{
    char *list = strdup(b->o.bind), *save = NULL;
    int rc = 0;
    if (!list) {
        abort();
    }
    for (char *ep = strtok_r(list, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
        while (*ep == ' ') {
            ep++;
        }
        rc = yard__keys_check_bind(b, ep);
        if (rc) {
            goto cleanup;
        }
        if (zmq_bind(b->router, ep) != 0) {
            int e = zmq_errno();
            yard_log(YARD_LOG_ERROR, "cannot bind", YF_STR("endpoint", ep),
                     YF_STR("error", zmq_strerror(e)));
            /* A malformed endpoint is the operator's typo (exit 2); a taken port is not. */
            rc = e == EINVAL || e == EPROTONOSUPPORT || e == ENOCOMPATPROTO ? YARD_E_CONFIG
                                                                            : YARD_E_IO;
            goto cleanup;
        }
    }
cleanup:
    free(list);
    return rc;
}

static int
s_open_router(yard_broker_t *b)
{
    b->router = zmq_socket(b->ctx, ZMQ_ROUTER);
    if (!b->router) {
        return YARD_E_INTERNAL;
    }
    int one = 1, zero = 0, hwm = S_SNDHWM;
    zmq_setsockopt(b->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(b->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(b->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    /* No ZMQ_MAXMSGSIZE: it would drop the peer's connection instead of answering it. */
    if (b->keys && yard__keys_apply(b) != 0) {
        return YARD_E_INTERNAL;
    }
    if (yard__monitor_open(b) != 0) {
        yard_log(YARD_LOG_WARN, "socket monitor unavailable",
                 YF_STR("error", zmq_strerror(zmq_errno())));
    }
    return s_bind_all(b);
}

int
yard_broker_new(const yard_broker_opts_t *opts, void *zmq_ctx, yard_broker_t **out)
{
    yard_broker_t *b = calloc(1, sizeof *b);
    if (!b) {
        abort();
    }
    b->wake_fd = -1;
    int rc = s_copy_opts(b, opts);
    if (rc) {
        goto cleanup;
    }
    rc = yard__keys_open(b);
    if (rc) {
        goto cleanup;
    }
    /* With CURVE the ROUTER lives where zauth answers (keys.c). */
    b->own_ctx = zmq_ctx == NULL && !b->keys;
    b->ctx = b->keys ? yard__keys_context(b) : zmq_ctx ? zmq_ctx : zmq_ctx_new();
    b->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    b->codec = yard_codec_new();
    b->requeue_codec = yard_codec_new();
    yard__pool_init(&b->pool, (uint32_t)b->o.max_in_flight);
    yard__map_init(&b->peer_map, yard__peer_key);
    atomic_init(&b->stop, false);
    if (!b->ctx || b->wake_fd < 0) {
        rc = YARD_E_INTERNAL;
        goto cleanup;
    }
    rc = s_open_router(b);
    if (rc == 0) {
        rc = yard__metrics_open(b);
    }
cleanup:
    if (rc) {
        yard_broker_destroy(&b);
    }
    *out = b;
    return rc;
}

void *
yard_broker_context(const yard_broker_t *self)
{
    return self ? self->ctx : NULL;
}

static void *s_loop(void *arg);

int
yard_broker_start(yard_broker_t *self)
{
    if (!self || self->started) {
        return YARD_E_INVALID;
    }
    atomic_store(&self->stop, false);
    if (pthread_create(&self->thread, NULL, s_loop, self) != 0) {
        return YARD_E_INTERNAL;
    }
    self->started = true;
    return 0;
}

void
yard_broker_stop(yard_broker_t *self)
{
    if (!self || !self->started) {
        return;
    }
    atomic_store(&self->stop, true);
    uint64_t one = 1;
    ssize_t n = write(self->wake_fd, &one, sizeof one);
    (void)n;
    pthread_join(self->thread, NULL);
    self->started = false;
}

void
yard_broker_destroy(yard_broker_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    yard_broker_t *b = *self_p;
    yard_broker_stop(b);
    yard__metrics_close(b);
    yard__monitor_close(b);
    if (b->router) {
        int linger = 200; /* lets the SHUTDOWN answers leave */
        zmq_setsockopt(b->router, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(b->router);
    }
    yard__keys_close(b);
    if (b->own_ctx && b->ctx) {
        zmq_ctx_term(b->ctx);
    }
    yard__out_fini(b);
    yard__peers_fini(b);
    yard__map_fini(&b->peer_map);
    yard__services_fini(b);
    yard__pool_fini(&b->pool);
    yard_codec_destroy(&b->codec);
    yard_codec_destroy(&b->requeue_codec);
    if (b->wake_fd >= 0) {
        close(b->wake_fd);
    }
    free(b->o.bind);
    free((void *)b->o.curve_key);
    free((void *)b->o.curve_keys_dir);
    free(b);
    *self_p = NULL;
}

/* --- one message ------------------------------------------------------------------------ */

static bool
s_is_answer(yard_cmd_t cmd)
{
    return cmd == YARD_CMD_REPLY || cmd == YARD_CMD_ERROR;
}

/* Frames, command, sizes and header, in that order. Returns true with *cmd and *h set when
 * the message may be acted on (a body is then in f[2], an inline one copied there, and *n
 * counts it); otherwise it has been counted and answered. */
static bool
s_validate(yard_broker_t *b, zmq_msg_t *f, int *np, yard__peer_t *p, yard_cmd_t *cmd,
           yard_header_t *h)
{
    int n = *np;
    const void *rid = zmq_msg_data(&f[0]);
    size_t len = zmq_msg_size(&f[0]);
    const char *why = NULL;
    if (n < 2) {
        yard__fault(b, rid, len, p, YARD__F_FRAMES, "a message is 1 or 2 frames",
                    YARD_E_BAD_REQUEST, 0);
        return false;
    }
    if (yard_wire_parse_command(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), cmd, &why) != 0) {
        yard__refuse_version(b, rid, len, p, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), why);
        return false;
    }
    int answer = s_is_answer(*cmd) ? 0 : YARD_E_BAD_REQUEST;
    if (n != 2 && n != (yard_cmd_has_body(*cmd) ? 3 : 2)) {
        yard__fault(b, rid, len, p, YARD__F_FRAMES, "wrong frame count for the command", answer, 0);
        return false;
    }
    if (zmq_msg_size(&f[1]) > YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX) {
        yard__fault(b, rid, len, p, YARD__F_HEADER_SIZE, "head frame over 16 KiB",
                    answer ? YARD_E_TOO_LARGE : 0, 0);
        return false;
    }
    int in = 0;
    if (yard_wire_decode(b->codec, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), cmd, h, &why) ||
        (in = yard_wire_inline(*cmd, n - 1, h, &why)) < 0) {
        /* h->id is the request's when it was readable despite the bad field (section 8). */
        yard__fault(b, rid, len, p, YARD__F_HEADER, why, answer, h->id);
        return false;
    }
    if (in) {
        /* The inline body into the body frame the rest of the broker moves around: a copy of
         * at most 1 KiB (none allocated up to 33 bytes), cheaper than the frame it saves. */
        zmq_msg_close(&f[2]);
        if (zmq_msg_init_size(&f[2], h->inline_len) != 0) {
            abort();
        }
        memcpy(zmq_msg_data(&f[2]), h->inline_body, h->inline_len);
        b->counters[YARD__C_BODY_BYTES_COPIED] += h->inline_len;
        *np = n = 3;
    }
    if (n == 3 && zmq_msg_size(&f[2]) > b->o.max_body) {
        yard__fault(b, rid, len, p, YARD__F_BODY_SIZE, "body over max_body",
                    answer ? YARD_E_TOO_LARGE : 0, h->id);
        return false;
    }
    return true;
}

/* Replica-only commands from a peer that is not a replica here: it must re-register. */
static bool
s_needs_replica(yard_cmd_t cmd, const yard_header_t *h)
{
    return s_is_answer(cmd) || cmd == YARD_CMD_DRAIN ||
           (cmd == YARD_CMD_HEARTBEAT && h->credit != 0);
}

static void
s_on_heartbeat(yard_broker_t *b, const void *rid, size_t len, yard__peer_t *p)
{
    yard_header_t out = {.heartbeat_ms = p ? p->heartbeat_ms : b->o.heartbeat_ms};
    if (p && p->svc) {
        /* The demand hint: a replica that shares its credit over several brokers moves
         * credit to the one whose queue is waiting (proto/actor_credit.c). */
        uint64_t q = p->svc->queue.count;
        out.credit = q > UINT32_MAX ? UINT32_MAX : (uint32_t)q;
    }
    b->counters[YARD__C_HEARTBEATS]++;
    yard__send(b, rid, len, YARD_CMD_HEARTBEAT, &out, NULL);
}

static void
s_on_disconnect(yard_broker_t *b, yard__peer_t *p)
{
    if (p) {
        yard__peer_gone(b, p, p->draining ? "replica_drained" : "replica_dead");
    }
}

static void
s_handle_one(yard_broker_t *b, zmq_msg_t *f, int n)
{
    const void *rid = zmq_msg_data(&f[0]);
    size_t len = zmq_msg_size(&f[0]);
    yard__peer_t *p = yard__peer_find(b, rid, len);
    if (p) {
        p->last_seen = b->now;
    }
    yard_cmd_t cmd;
    yard_header_t h;
    if (!s_validate(b, f, &n, p, &cmd, &h) || !yard__perm_allows(b, f, cmd, &h)) {
        return;
    }
    if (s_needs_replica(cmd, &h) && (!p || !p->svc)) {
        yard__send_disconnect(b, rid, len, "unknown replica: send READY");
        return;
    }
    switch (cmd) {
    case YARD_CMD_REQUEST:
    case YARD_CMD_SEND:
        yard__on_request(b, cmd, f, &h);
        break;
    case YARD_CMD_REPLY:
    case YARD_CMD_ERROR:
        yard__on_answer(b, cmd, p, f, &h);
        break;
    case YARD_CMD_READY:
        yard__on_ready(b, rid, len, p, &h);
        break;
    case YARD_CMD_PUBLISH:
        yard__on_publish(b, rid, len, &h, &f[2]);
        break;
    case YARD_CMD_SUBSCRIBE:
    case YARD_CMD_UNSUBSCRIBE:
        yard__on_subscribe(b, rid, len, p, cmd, &h);
        break;
    case YARD_CMD_HEARTBEAT:
        s_on_heartbeat(b, rid, len, p);
        break;
    case YARD_CMD_DISCONNECT:
        s_on_disconnect(b, p);
        break;
    case YARD_CMD_DRAIN:
        yard__on_drain(b, p);
        break;
    case YARD_CMD_BATCH:
        break; /* never here: s_handle unpacks batches, and their readers refuse one inside */
    }
}

/* A BATCH: each message in it is handled as if it had come alone (its own routing-id copy
 * and head frame), in order; a malformed tail is a protocol fault and what came before it
 * stands. */
static void
s_handle_batch(yard_broker_t *b, zmq_msg_t *f, int n)
{
    const void *rid = zmq_msg_data(&f[0]);
    size_t len = zmq_msg_size(&f[0]);
    yard__peer_t *p = yard__peer_find(b, rid, len);
    const char *why = NULL;
    yard_batch_reader_t rd;
    if (n != 2) {
        yard__fault(b, rid, len, p, YARD__F_FRAMES, "a BATCH is one frame", YARD_E_BAD_REQUEST, 0);
        return;
    }
    if (yard_batch_reader_init(&rd, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), &why) != 0) {
        yard__fault(b, rid, len, p, YARD__F_PROTOCOL, why, YARD_E_PROTOCOL, 0);
        return;
    }
    b->counters[YARD__C_BATCHES_IN]++;
    const void *msg;
    size_t size;
    int rc;
    while ((rc = yard_batch_next(&rd, &msg, &size, &why)) == 1) {
        zmq_msg_t e[S_MAX_PARTS];
        for (int k = 0; k < S_MAX_PARTS; k++) {
            zmq_msg_init(&e[k]);
        }
        zmq_msg_copy(&e[0], &f[0]);
        if (zmq_msg_init_size(&e[1], size) != 0) {
            abort();
        }
        memcpy(zmq_msg_data(&e[1]), msg, size);
        s_handle_one(b, e, 2);
        for (int k = 0; k < S_MAX_PARTS; k++) {
            zmq_msg_close(&e[k]);
        }
    }
    if (rc < 0) {
        yard__fault(b, rid, len, yard__peer_find(b, rid, len), YARD__F_PROTOCOL, why,
                    YARD_E_PROTOCOL, 0);
    }
}

static void
s_handle(yard_broker_t *b, zmq_msg_t *f, int n)
{
    if (n >= 2 && yard_batch_is(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]))) {
        s_handle_batch(b, f, n);
        return;
    }
    s_handle_one(b, f, n);
}

void
yard__handle(yard_broker_t *b, zmq_msg_t *f, int n)
{
    b->now_us = yard__stats_now_us();
    s_handle(b, f, n);
    yard__flush(b);
}

/* --- the loop --------------------------------------------------------------------------- */

/* Receives one whole message into f (extra frames are counted, then dropped). Returns the
 * number of frames, or 0 when nothing was waiting. */
static int
s_recv(yard_broker_t *b, zmq_msg_t *f)
{
    if (zmq_msg_recv(&f[0], b->router, ZMQ_DONTWAIT) < 0) {
        return 0;
    }
    int n = 1;
    while (n < S_MAX_PARTS && zmq_msg_more(&f[n - 1])) {
        zmq_msg_recv(&f[n++], b->router, 0);
    }
    bool more = zmq_msg_more(&f[n - 1]);
    while (more) { /* too many frames: count them, keep none */
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        zmq_msg_recv(&extra, b->router, 0);
        more = zmq_msg_more(&extra);
        zmq_msg_close(&extra);
        n++;
    }
    return n;
}

/* Handles up to S_BATCH messages. Returns true when the batch was full (more may wait). */
static bool
s_drain(yard_broker_t *b)
{
    zmq_msg_t f[S_MAX_PARTS];
    for (int i = 0; i < S_BATCH; i++) {
        for (int k = 0; k < S_MAX_PARTS; k++) {
            zmq_msg_init(&f[k]);
        }
        int n = s_recv(b, f);
        if (n > 0) {
            b->now_us = yard__stats_now_us();
            s_handle(b, f, n > S_MAX_PARTS ? S_MAX_PARTS + 1 : n);
        }
        for (int k = 0; k < S_MAX_PARTS; k++) {
            zmq_msg_close(&f[k]);
        }
        if (n == 0) {
            return false;
        }
    }
    return true;
}

static void
s_timers(yard_broker_t *b)
{
    yard__expire(b);
    if (b->now >= b->next_tick) {
        yard__peers_sweep(b);
        yard__keys_tick(b);
        yard__services_sweep(b);
        yard__trim_tick(b);
        yard__metrics_tick(b);
        if (b->ntaps) {
            yard__tap_on_tick(b);
        }
        b->next_tick = b->now + b->tick_ms;
    }
}

static long
s_poll_timeout(const yard_broker_t *b)
{
    uint64_t next = b->next_tick;
    const yard__req_t *r = yard__heap_top(&b->pool);
    if (r && r->deadline < next) {
        next = r->deadline;
    }
    return next > b->now ? (long)(next - b->now) : 0;
}

static void *
s_loop(void *arg)
{
    yard_broker_t *b = arg;
    yard_log_set_context("broker", -1);
    pthread_setname_np(pthread_self(), "yard-broker"); /* visible in top -H, perf */
    b->now = yard__now_ms();
    if (!b->start_ms) {
        b->start_ms = b->now;
    }
    b->next_tick = b->now + b->tick_ms;
    /* yard_wait() polls the sockets' own descriptors; see yard/wait.h for why that needs the
     * ROUTER drained to EAGAIN, and rechecked when we wrote to it after that. */
    yard_wait_item_t items[3] = {{.socket = b->router, .fd = -1, .dirty = true},
                                 {.fd = b->wake_fd},
                                 {.socket = b->mon, .fd = -1, .dirty = true}};
    int nitems = b->mon ? 3 : 2;
    uint64_t sends_at_drain = 0;
    bool more = false;
    while (!atomic_load(&b->stop)) {
        if (!more) {
            items[0].dirty |= b->sends != sends_at_drain;
            if (yard_wait(items, nitems, s_poll_timeout(b)) == YARD_E_SHUTDOWN) {
                break;
            }
        }
        b->now_us = yard__stats_now_us(); /* one clock read for the turn's ms and µs */
        b->now = b->now_us / 1000u;
        more = s_drain(b);
        if (!more) {
            sends_at_drain = b->sends; /* drained to EAGAIN after every write so far */
        }
        if (nitems == 3 && items[2].readable) {
            yard__monitor_read(b);
        }
        s_timers(b);
        yard__flush(b); /* the end of the turn: one frame per peer it wrote to */
    }
    yard__shutdown_requests(b);
    yard__flush(b);
    return NULL;
}
