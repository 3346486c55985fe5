/* Everything the broker writes goes through yard__send: routing id, head frame (command and
 * header encoded into a stack buffer), and the body: copied after the header when it is at
 * most YARD_WIRE_INLINE_MAX bytes (one frame fewer), else its frame moved as-is, never copied.
 * A one-frame message joins its peer's batch (yard/batch.h), and the loop sends every batch at
 * the end of its turn (yard__flush): n messages to one peer in one turn cost one frame.
 * Sends never block (ZMQ_DONTWAIT); with ZMQ_ROUTER_MANDATORY a gone peer is EHOSTUNREACH on the
 * first frame, before anything was queued, so a failed send leaves nothing half-written. Bad input
 * is counted, logged once per peer and kind, and answered here too. */
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S_HDR_BUF (YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX)
/* A peer's batch buffer that grew past this in one busy turn is freed after it. */
#define S_KEEP (16 * 1024)

static const char *const s_fault_names[] = {
#define YARD__X(n, s) s,
    YARD__FAULTS(YARD__X)
#undef YARD__X
};

static const char *const s_counter_names[] = {
#define YARD__X(n, s) s,
    YARD__COUNTERS(YARD__X)
#undef YARD__X
};

const char *
yard__fault_name(yard__fault_t kind)
{
    return s_fault_names[kind];
}

const char *
yard__counter_name(yard__counter_t c)
{
    return s_counter_names[c];
}

static int
s_errno_to_err(int e)
{
    return e == EHOSTUNREACH ? YARD_E_UNREACHABLE : YARD_E_OVERLOADED;
}

/* Writes one frame to a peer now. Returns 0, YARD_E_UNREACHABLE or YARD_E_OVERLOADED. */
static int
s_send_frame(yard_broker_t *b, const void *rid, size_t rid_len, const void *frame, size_t size,
             zmq_msg_t *body)
{
    if (zmq_send(b->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        int err = s_errno_to_err(zmq_errno());
        b->counters[err == YARD_E_UNREACHABLE ? YARD__C_PEERS_GONE : YARD__C_SEND_DROPPED]++;
        return err;
    }
    /* The routing frame went through, so the pipe takes the rest of the message. */
    zmq_send(b->router, frame, size, body ? ZMQ_SNDMORE : 0);
    if (body) {
        /* Counted as moved: the frame is handed on by reference, never read or copied. */
        b->counters[YARD__C_BODY_FRAMES_MOVED]++;
        b->counters[YARD__C_BODY_BYTES_MOVED] += zmq_msg_size(body);
        zmq_msg_send(body, b->router, 0);
    }
    b->sends++;
    return 0;
}

static yard__out_t *
s_out_find(yard_broker_t *b, const void *rid, size_t rid_len)
{
    for (uint32_t i = 0; i < b->nout; i++) {
        yard__out_t *o = &b->out[i];
        if (o->rid_len == rid_len && memcmp(o->rid, rid, rid_len) == 0) {
            return o;
        }
    }
    return NULL;
}

/* Sends o's batch. At the end of a turn (turn_end) a replica found gone is dropped at once;
 * in the middle of one, a handler may still hold the peer, so the heartbeat sweep does it. */
static void
s_out_send(yard_broker_t *b, yard__out_t *o, bool turn_end)
{
    size_t size;
    const void *frame = yard_batch_frame(&o->batch, &size);
    if (!frame) {
        return;
    }
    int rc = s_send_frame(b, o->rid, o->rid_len, frame, size, NULL);
    yard_batch_clear(&o->batch, S_KEEP);
    yard__peer_t *p = rc == YARD_E_UNREACHABLE ? yard__peer_find(b, o->rid, o->rid_len) : NULL;
    if (turn_end && p && p->svc) {
        /* What it held is answered now (WORKER_LOST, or re-sent when idempotent), not at the
         * heartbeat deadline: the batch that failed was part of it. */
        yard__peer_gone(b, p, "replica_dead");
    }
}

static void s_flush_all(yard_broker_t *b, bool turn_end);

/* The batch for a peer, made when it is the first message to it this turn; NULL while
 * flushing with every slot taken (then the message goes alone). */
static yard__out_t *
s_out_get(yard_broker_t *b, const void *rid, size_t rid_len)
{
    yard__out_t *o = s_out_find(b, rid, rid_len);
    if (o) {
        return o;
    }
    if (b->nout == YARD__OUT_SLOTS) {
        if (b->flushing) {
            return NULL;
        }
        s_flush_all(b, false); /* a turn that wrote to many peers: send what it has so far */
    }
    if (!b->out) {
        b->out = calloc(YARD__OUT_SLOTS, sizeof *b->out);
        if (!b->out) {
            abort();
        }
    }
    o = &b->out[b->nout++];
    memcpy(o->rid, rid, rid_len);
    o->rid_len = (uint8_t)rid_len;
    return o;
}

static void
s_flush_all(yard_broker_t *b, bool turn_end)
{
    b->flushing = true;
    /* A replica found gone here may re-send what it held to others, whose batches may have
     * gone already in this sweep: sweep again until every batch is empty. */
    for (bool again = true; again;) {
        again = false;
        for (uint32_t i = 0; i < b->nout; i++) {
            if (b->out[i].batch.count) {
                s_out_send(b, &b->out[i], turn_end);
                again = true;
            }
        }
    }
    b->nout = 0;
    b->flushing = false;
}

void
yard__flush(yard_broker_t *b)
{
    s_flush_all(b, true);
}

void
yard__out_fini(yard_broker_t *b)
{
    for (uint32_t i = 0; b->out && i < YARD__OUT_SLOTS; i++) {
        yard_batch_fini(&b->out[i].batch);
    }
    free(b->out);
    b->out = NULL;
    b->nout = 0;
}

static int
s_send_alone(yard_broker_t *b, const void *rid, size_t rid_len, yard_cmd_t cmd,
             const yard_header_t *h, zmq_msg_t *body)
{
    yard__out_t *o = s_out_find(b, rid, rid_len);
    if (o) {
        s_out_send(b, o, false); /* what was batched for it goes first */
    }
    uint8_t hdr[S_HDR_BUF];
    int n = yard_wire_encode(cmd, h, hdr, sizeof hdr);
    if (n < 0) {
        return n;
    }
    return s_send_frame(b, rid, rid_len, hdr, (size_t)n, body);
}

int
yard__send(yard_broker_t *b, const void *rid, size_t rid_len, yard_cmd_t cmd,
           const yard_header_t *h, zmq_msg_t *body)
{
    if (body && zmq_msg_size(body) > YARD_WIRE_INLINE_MAX) {
        return s_send_alone(b, rid, rid_len, cmd, h, body);
    }
    uint8_t hdr[S_HDR_BUF];
    size_t size = body ? zmq_msg_size(body) : 0;
    int n = body ? yard_wire_encode_inline(cmd, h, zmq_msg_data(body), size, hdr, sizeof hdr)
                 : yard_wire_encode(cmd, h, hdr, sizeof hdr);
    if (n < 0) {
        return n;
    }
    yard__out_t *o = s_out_get(b, rid, rid_len);
    int rc = o ? yard_batch_add(&o->batch, hdr, (size_t)n) : 1;
    if (rc == 1 && o) { /* full: it goes, and this starts the next */
        s_out_send(b, o, false);
        rc = yard_batch_add(&o->batch, hdr, (size_t)n);
    }
    if (rc != 0) {
        rc = s_send_frame(b, rid, rid_len, hdr, (size_t)n, NULL);
    }
    if (rc == 0 && body) {
        b->counters[YARD__C_BODY_BYTES_COPIED] += size;
        zmq_msg_close(body); /* consumed, as a sent frame would be */
        zmq_msg_init(body);
    }
    return rc;
}

void
yard__send_error(yard_broker_t *b, const void *rid, size_t rid_len, uint64_t id, int err,
                 const char *text)
{
    yard_header_t h = {.id = id, .error = yard_err_to_wire(err), .error_text = yard_str(text)};
    if (h.error < YARD__ERR_CODES) {
        b->errors_sent[h.error]++;
    }
    yard__send(b, rid, rid_len, YARD_CMD_ERROR, &h, NULL);
}

static bool s_first_time(yard_broker_t *b, const void *rid, size_t rid_len, yard__peer_t *peer,
                         yard__fault_t kind);

void
yard__refuse_version(yard_broker_t *b, const void *rid, size_t rid_len, yard__peer_t *peer,
                     const void *head, size_t size, const char *why)
{
    const uint8_t *v = head;
    if (size < YARD_WIRE_CMD_SIZE || v[0] != YARD_WIRE_SIG0 || v[1] != YARD_WIRE_SIG1 || v[2] < 1 ||
        v[2] >= YARD_WIRE_VERSION) {
        yard__fault(b, rid, rid_len, peer, YARD__F_PROTOCOL, why, YARD_E_PROTOCOL, 0);
        return;
    }
    /* A YD/1 or YD/2 peer reads only its own version's frames: the refusal goes in its
     * version (the header is encoded the same way in all three), so that it logs why instead
     * of a frame it cannot read. */
    b->faults[YARD__F_PROTOCOL]++;
    yard_header_t h = {.error = yard_err_to_wire(YARD_E_PROTOCOL), .error_text = yard_str(why)};
    uint8_t hdr[S_HDR_BUF];
    int n = yard_wire_encode(YARD_CMD_ERROR, &h, hdr, sizeof hdr);
    if (n < 0 || zmq_send(b->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        return;
    }
    hdr[2] = v[2];
    zmq_send(b->router, hdr, (size_t)n, 0);
    if (yard_log_enabled(YARD_LOG_WARN) && s_first_time(b, rid, rid_len, peer, YARD__F_PROTOCOL)) {
        yard_log(YARD_LOG_WARN, "a peer speaks an older protocol; refused", YF_STR("why", why));
    }
}

void
yard__send_disconnect(yard_broker_t *b, const void *rid, size_t rid_len, const char *text)
{
    yard_header_t h = {.error_text = yard_str(text)};
    b->counters[YARD__C_DISCONNECTS_SENT]++;
    yard__send(b, rid, rid_len, YARD_CMD_DISCONNECT, &h, NULL);
}

/* Logs once per (peer, kind): tracked peers keep a bit; others share a fixed bitset keyed
 * by a hash of their routing id, which costs no state per peer (a collision only hides a
 * log line, never shows one twice). */
static bool
s_first_time(yard_broker_t *b, const void *rid, size_t rid_len, yard__peer_t *peer,
             yard__fault_t kind)
{
    if (peer) {
        bool first = !(peer->logged & (1ull << kind));
        peer->logged |= 1ull << kind;
        return first;
    }
    uint32_t bit = (yard__hash(rid, rid_len) * YARD__F_MAX_ + (uint32_t)kind) %
                   (uint32_t)(sizeof b->logged_anon * 8);
    bool first = !(b->logged_anon[bit / 8] & (1u << (bit % 8)));
    b->logged_anon[bit / 8] |= (uint8_t)(1u << (bit % 8));
    return first;
}

static void
s_hex(const uint8_t *p, size_t n, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    size_t i = 0;
    for (; i < n && 2 * i + 2 < cap; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * i] = '\0';
}

void
yard__fault(yard_broker_t *b, const void *rid, size_t rid_len, yard__peer_t *peer,
            yard__fault_t kind, const char *why, int answer, uint64_t id)
{
    b->faults[kind]++;
    if (yard_log_enabled(YARD_LOG_WARN) && s_first_time(b, rid, rid_len, peer, kind)) {
        char hex[2 * 32 + 1];
        s_hex(rid, rid_len, hex, sizeof hex);
        yard_log(YARD_LOG_WARN, "bad input from peer", YF_STR("peer", hex),
                 YF_STR("kind", yard__fault_name(kind)), YF_STR("why", why));
    }
    if (answer) {
        yard__send_error(b, rid, rid_len, id, answer, why);
    }
}
