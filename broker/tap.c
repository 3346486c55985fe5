/* Copies of the traffic through the broker for `yard tap`, rate-limited so that tapping never
 * slows the bus.
 *
 * A tapper subscribes to `$tap.PATTERN` or `$tap.@RATE.PATTERN` (clients cannot publish `$`
 * subjects, so only the broker delivers on them). Each such subscription is a tap here; with
 * none (b->ntaps == 0) the hooks in broker_priv.h cost one branch. With taps, a REQUEST, SEND,
 * REPLY, ERROR or PUBLISH whose service or subject matches PATTERN is delivered to the tapper
 * as a PUBLISH on `$tap.[@RATE.]NAME`: the body frame is a zmq_msg_copy of the original (a
 * reference, never a byte copy) and what the tapper needs to know travels in `tap.*` headers
 * (docs/protocol.md, "Taps and events").
 *
 * Invariant: a tap spends a token per copy from its own bucket (RATE per second, a second's
 * worth of burst, RATE at most S_RATE_MAX); a copy with no token, or that the tapper's pipe
 * does not take, is dropped and counted, and the count rides on the next copy delivered, or,
 * when nothing flows for a second, on a `dropped` notice from the tick. Nothing here can fail
 * the message it copies: the original goes on exactly as without a tapper.
 *
 * Sensitive ops (their service's replicas listed them in READY: logins, tokens, passwords)
 * are shown without their bodies, ever: a copy of such a request or answer carries no body
 * frame, only `tap.size` (the body's bytes) and `tap.hidden: sensitive`, and an error's text
 * is left out too (it may quote the input); the kind, op, ids, latency and error name remain,
 * so a tapper still sees that the call happened, how big it was and how it ended. */
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/subject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_PREFIX       "$tap."
#define S_PREFIX_LEN   (sizeof S_PREFIX - 1)
#define S_RATE_DEFAULT 200u
#define S_RATE_MAX     10000u
#define S_NOTICE_MS    1000u /* a pending dropped count waits at most this long for a copy */
#define S_HEADERS      10

struct yard__tap {
    yard__peer_t *peer;   /* the tapper; its subscription owns the pattern's bytes */
    char *pattern;        /* owned copy of the whole subscription pattern */
    uint32_t pattern_len; /* of pattern */
    uint32_t prefix_len;  /* "$tap." or "$tap.@RATE.": the delivered subject's start */
    uint32_t rate;        /* copies per second */
    uint64_t milli;       /* tokens in thousandths; at most rate * 1000 */
    uint64_t refill_ms;   /* b->now at the last refill */
    uint64_t sent_ms;     /* b->now at the last copy or notice sent */
    uint64_t dropped;     /* copies dropped since the last one that carried the count */
};

static bool
s_is_tap(yard_str_t pattern)
{
    return pattern.len > S_PREFIX_LEN && memcmp(pattern.ptr, S_PREFIX, S_PREFIX_LEN) == 0;
}

/* Parses "@RATE." after the prefix, if there. Returns its length (0: none) and sets *rate. */
static uint32_t
s_rate_token(yard_str_t pattern, uint32_t *rate)
{
    uint32_t i = S_PREFIX_LEN;
    if (i >= pattern.len || pattern.ptr[i] != '@') {
        return 0;
    }
    uint64_t v = 0;
    uint32_t j = i + 1;
    for (; j < pattern.len && pattern.ptr[j] >= '0' && pattern.ptr[j] <= '9'; j++) {
        v = v > S_RATE_MAX ? v : v * 10 + (uint64_t)(pattern.ptr[j] - '0');
    }
    if (j == i + 1 || j + 1 >= pattern.len || pattern.ptr[j] != '.') {
        return 0; /* not a rate token: part of the pattern */
    }
    *rate = v == 0 ? 1 : v > S_RATE_MAX ? S_RATE_MAX : (uint32_t)v;
    return j + 1 - i;
}

static yard_str_t
s_match_part(const yard__tap_t *t)
{
    return (yard_str_t){t->pattern + t->prefix_len, t->pattern_len - t->prefix_len};
}

static uint64_t
s_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* --- headers ---------------------------------------------------------------------------- */

typedef struct {
    yard_kv_t kv[S_HEADERS];
    uint32_t n;
    char num[S_HEADERS][24]; /* decimal values */
} s_headers_t;

static void
s_put(s_headers_t *hs, const char *key, yard_str_t value)
{
    if (hs->n < S_HEADERS && value.len > 0) {
        hs->kv[hs->n++] = (yard_kv_t){yard_str(key), value};
    }
}

static void
s_put_u64(s_headers_t *hs, const char *key, uint64_t v)
{
    if (hs->n < S_HEADERS) {
        int n = snprintf(hs->num[hs->n], sizeof hs->num[0], "%llu", (unsigned long long)v);
        s_put(hs, key, (yard_str_t){hs->num[hs->n], (uint32_t)n});
    }
}

/* --- delivery --------------------------------------------------------------------------- */

/* Sends one copy (or notice: body NULL) to t on subject prefix + name, with the pending
 * dropped count added. Returns true when the tapper's pipe took it. */
static bool
s_send(yard_broker_t *b, yard__tap_t *t, yard_str_t name, s_headers_t *hs, const zmq_msg_t *body)
{
    char subject[S_PREFIX_LEN + 16 + YARD_WIRE_NAME_MAX + 1];
    if (t->prefix_len + name.len > YARD_WIRE_NAME_MAX) {
        return false; /* the name does not fit under the prefix: counted as dropped */
    }
    memcpy(subject, t->pattern, t->prefix_len);
    memcpy(subject + t->prefix_len, name.ptr, name.len);
    if (t->dropped) {
        s_put_u64(hs, "tap.dropped", t->dropped);
    }
    yard_header_t out = {
        .service = {subject, t->prefix_len + name.len}, .headers = hs->kv, .header_count = hs->n};
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    if (body) {
        zmq_msg_copy(&frame, (zmq_msg_t *)body); /* shares the bytes: a reference count */
    }
    int rc =
        yard__send(b, t->peer->id, t->peer->id_len, YARD_CMD_PUBLISH, &out, body ? &frame : NULL);
    zmq_msg_close(&frame);
    if (rc == 0) {
        t->dropped = 0;
        t->sent_ms = b->now;
    }
    return rc == 0;
}

/* Takes a token from t's bucket. */
static bool
s_take(yard_broker_t *b, yard__tap_t *t)
{
    uint64_t cap = (uint64_t)t->rate * 1000u;
    if (b->now > t->refill_ms) {
        t->milli += (b->now - t->refill_ms) * t->rate;
        t->milli = t->milli > cap ? cap : t->milli;
        t->refill_ms = b->now;
    }
    if (t->milli < 1000u) {
        return false;
    }
    t->milli -= 1000u;
    return true;
}

typedef void (*s_fill_fn)(s_headers_t *hs, const void *arg);

/* Offers one message to every tap whose pattern matches name. */
static void
s_offer(yard_broker_t *b, yard_str_t name, s_fill_fn fill, const void *arg, const zmq_msg_t *body)
{
    for (uint32_t i = 0; i < b->ntaps; i++) {
        yard__tap_t *t = b->taps[i];
        if (!yard_subject_match(s_match_part(t), name)) {
            continue;
        }
        if (!s_take(b, t)) {
            t->dropped++;
            continue;
        }
        s_headers_t hs;
        hs.n = 0;
        fill(&hs, arg);
        if (!s_send(b, t, name, &hs, body)) {
            t->dropped++;
        }
    }
}

/* --- the hooks -------------------------------------------------------------------------- */

/* A short, stable tag for a client's routing id, so a reply can be paired with its request
 * (ids are only unique per client). */
static uint32_t
s_client_tag(const zmq_msg_t *rid)
{
    return yard__hash(zmq_msg_data((zmq_msg_t *)rid), zmq_msg_size((zmq_msg_t *)rid));
}

typedef struct {
    yard_cmd_t cmd;
    const yard_header_t *h;
    uint32_t client;
    uint64_t latency_us;
    bool has_latency;
    bool hidden;   /* a sensitive op: no body, no error text */
    uint64_t size; /* the body's bytes, shown when hidden */
} s_msg_t;

/* What stands for a hidden body: its size, and why it is not there. */
static void
s_fill_hidden(s_headers_t *hs, const s_msg_t *m)
{
    if (m->hidden) {
        if (m->cmd != YARD_CMD_ERROR) { /* an error has no body */
            s_put_u64(hs, "tap.size", m->size);
        }
        s_put(hs, "tap.hidden", yard_str("sensitive"));
    }
}

static void
s_fill_request(s_headers_t *hs, const void *arg)
{
    const s_msg_t *m = arg;
    s_put(hs, "tap.kind", yard_str(m->cmd == YARD_CMD_SEND ? "send" : "request"));
    s_put(hs, "tap.op", m->h->op);
    if (m->cmd == YARD_CMD_REQUEST) {
        s_put_u64(hs, "tap.id", m->h->id);
    }
    s_put_u64(hs, "tap.client", m->client);
    s_fill_hidden(hs, m);
}

void
yard__tap_on_request(yard_broker_t *b, yard_str_t service, yard_cmd_t cmd, const zmq_msg_t *frames,
                     const yard_header_t *h, bool hidden)
{
    s_msg_t m = {.cmd = cmd,
                 .h = h,
                 .client = s_client_tag(&frames[0]),
                 .hidden = hidden,
                 .size = zmq_msg_size((zmq_msg_t *)&frames[2])};
    s_offer(b, service, s_fill_request, &m, hidden ? NULL : &frames[2]);
}

static void
s_fill_answer(s_headers_t *hs, const void *arg)
{
    const s_msg_t *m = arg;
    bool ok = m->cmd == YARD_CMD_REPLY;
    s_put(hs, "tap.kind", yard_str(ok ? "reply" : "error"));
    s_put_u64(hs, "tap.id", m->h->id);
    s_put_u64(hs, "tap.client", m->client);
    if (m->has_latency) {
        s_put_u64(hs, "tap.latency_us", m->latency_us);
    }
    if (!ok) {
        const yard_header_t *h = m->h;
        uint32_t code = h->error ? h->error : yard_err_to_wire(YARD_E_INTERNAL);
        s_put(hs, "tap.error",
              h->app_error.len ? h->app_error : yard_str(yard_err_name(yard_err_from_wire(code))));
        if (!m->hidden) {
            s_put(hs, "tap.text", h->error_text);
        }
    }
    s_fill_hidden(hs, m);
}

void
yard__tap_on_answer(yard_broker_t *b, const yard__req_t *r, yard_cmd_t cmd, const zmq_msg_t *body,
                    const yard_header_t *h)
{
    /* h is the replica's header: its id is the broker's; the tapper wants the client's. */
    yard_header_t ch = *h;
    ch.id = r->client_id;
    bool reply = cmd == YARD_CMD_REPLY;
    s_msg_t m = {.cmd = cmd,
                 .h = &ch,
                 .client = s_client_tag(&r->rid),
                 .hidden = r->sensitive,
                 .size = reply ? zmq_msg_size((zmq_msg_t *)body) : 0};
    if (r->t0_us) {
        uint64_t now = s_mono_us();
        m.latency_us = now > r->t0_us ? now - r->t0_us : 0;
        m.has_latency = true;
    }
    yard_str_t service = {r->svc->name, r->svc->name_len};
    s_offer(b, service, s_fill_answer, &m, reply && !r->sensitive ? body : NULL);
}

static void
s_fill_publish(s_headers_t *hs, const void *arg)
{
    (void)arg;
    s_put(hs, "tap.kind", yard_str("publish"));
}

void
yard__tap_on_publish(yard_broker_t *b, yard_str_t subject, const yard_header_t *h,
                     const zmq_msg_t *body)
{
    (void)h;
    s_offer(b, subject, s_fill_publish, NULL, body);
}

/* --- notices ---------------------------------------------------------------------------- */

/* A subject the tapper's own pattern matches, for notices: its wildcards made concrete. */
static yard_str_t
s_notice_name(const yard__tap_t *t, char *buf, size_t cap)
{
    yard_str_t m = s_match_part(t);
    size_t n = m.len < cap ? m.len : cap;
    for (size_t i = 0; i < n; i++) {
        bool wild = (m.ptr[i] == '*' || m.ptr[i] == '>') && (i == 0 || m.ptr[i - 1] == '.') &&
                    (i + 1 == m.len || m.ptr[i + 1] == '.');
        buf[i] = wild ? '_' : m.ptr[i];
    }
    return (yard_str_t){buf, (uint32_t)n};
}

static void
s_notice(yard_broker_t *b, yard__tap_t *t, const char *kind, uint32_t rate)
{
    char name[YARD_WIRE_NAME_MAX + 1];
    s_headers_t hs;
    hs.n = 0;
    s_put(&hs, "tap.kind", yard_str(kind));
    if (rate) {
        s_put_u64(&hs, "tap.rate", rate);
        s_put_u64(&hs, "tap.rate_max", S_RATE_MAX);
    }
    s_send(b, t, s_notice_name(t, name, sizeof name), &hs, NULL);
}

void
yard__tap_on_tick(yard_broker_t *b)
{
    for (uint32_t i = 0; i < b->ntaps; i++) {
        yard__tap_t *t = b->taps[i];
        if (t->dropped && b->now - t->sent_ms >= S_NOTICE_MS) {
            s_notice(b, t, "dropped", 0);
        }
    }
}

/* --- taps come and go with their subscriptions ------------------------------------------- */

void
yard__tap_subscribed(yard_broker_t *b, yard__peer_t *p, yard_str_t pattern)
{
    if (!s_is_tap(pattern)) {
        return;
    }
    yard__tap_t *t = calloc(1, sizeof *t);
    char *copy = malloc(pattern.len + 1);
    if (!t || !copy) {
        abort();
    }
    memcpy(copy, pattern.ptr, pattern.len);
    copy[pattern.len] = '\0';
    t->peer = p;
    t->pattern = copy;
    t->pattern_len = pattern.len;
    t->rate = S_RATE_DEFAULT;
    t->prefix_len = (uint32_t)S_PREFIX_LEN + s_rate_token(pattern, &t->rate);
    t->milli = (uint64_t)t->rate * 1000u;
    t->refill_ms = t->sent_ms = b->now;
    if (!b->o.tap) {
        s_notice(b, t, "off", 0); /* `yard tap` says so and exits 1 */
        free(t->pattern);
        free(t);
        return;
    }
    yard__grow((void **)&b->taps, &b->taps_cap, b->ntaps + 1, sizeof *b->taps);
    b->taps[b->ntaps++] = t;
    s_notice(b, t, "hello", t->rate);
}

void
yard__tap_unsubscribed(yard_broker_t *b, yard__peer_t *p, yard_str_t pattern)
{
    if (!s_is_tap(pattern)) {
        return;
    }
    for (uint32_t i = 0; i < b->ntaps; i++) {
        yard__tap_t *t = b->taps[i];
        if (t->peer == p && yard_str_eq(pattern, (yard_str_t){t->pattern, t->pattern_len})) {
            free(t->pattern);
            free(t);
            b->taps[i] = b->taps[--b->ntaps];
            break;
        }
    }
    if (b->ntaps == 0) {
        free(b->taps);
        b->taps = NULL;
        b->taps_cap = 0;
    }
}
