/* Everything the broker writes goes through yard__send: routing id, head frame (command and
 * header encoded into a stack buffer), and the body: copied after the header when it is at
 * most YARD_WIRE_INLINE_MAX bytes (one frame fewer), else its frame moved as-is, never copied.
 * Sends never block (ZMQ_DONTWAIT); with ZMQ_ROUTER_MANDATORY a gone peer is EHOSTUNREACH on the
 * first frame, before anything was queued, so a failed send leaves nothing half-written. Bad input
 * is counted, logged once per peer and kind, and answered here too. */
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/log.h"

#include <errno.h>

#define S_HDR_BUF (YARD_WIRE_HEADER_MAX + YARD_WIRE_INLINE_MAX)

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

int
yard__send(yard_broker_t *b, const void *rid, size_t rid_len, yard_cmd_t cmd,
           const yard_header_t *h, zmq_msg_t *body)
{
    uint8_t hdr[S_HDR_BUF];
    bool inline_body = body && zmq_msg_size(body) <= YARD_WIRE_INLINE_MAX;
    int n = inline_body ? yard_wire_encode_inline(cmd, h, zmq_msg_data(body), zmq_msg_size(body),
                                                  hdr, sizeof hdr)
                        : yard_wire_encode(cmd, h, hdr, sizeof hdr);
    if (n < 0) {
        return n;
    }
    if (zmq_send(b->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        int err = s_errno_to_err(zmq_errno());
        b->counters[err == YARD_E_UNREACHABLE ? YARD__C_PEERS_GONE : YARD__C_SEND_DROPPED]++;
        return err;
    }
    /* The routing frame went through, so the pipe takes the rest of the message. */
    if (inline_body) {
        zmq_send(b->router, hdr, (size_t)n, 0);
        b->counters[YARD__C_BODY_BYTES_COPIED] += zmq_msg_size(body);
        zmq_msg_close(body); /* consumed, as a sent frame would be */
        zmq_msg_init(body);
    } else {
        zmq_send(b->router, hdr, (size_t)n, body ? ZMQ_SNDMORE : 0);
        if (body) {
            /* Counted as moved: the frame is handed on by reference, never read or copied. */
            b->counters[YARD__C_BODY_FRAMES_MOVED]++;
            b->counters[YARD__C_BODY_BYTES_MOVED] += zmq_msg_size(body);
            zmq_msg_send(body, b->router, 0);
        }
    }
    b->sends++;
    return 0;
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
    if (size < YARD_WIRE_CMD_SIZE || v[0] != YARD_WIRE_SIG0 || v[1] != YARD_WIRE_SIG1 ||
        v[2] != 1) {
        yard__fault(b, rid, rid_len, peer, YARD__F_PROTOCOL, why, YARD_E_PROTOCOL, 0);
        return;
    }
    /* A YD/1 peer reads only YD/1 frames: the refusal goes in its version (the header is
     * encoded the same way), so that it logs why instead of a frame it cannot read. */
    b->faults[YARD__F_PROTOCOL]++;
    yard_header_t h = {.error = yard_err_to_wire(YARD_E_PROTOCOL), .error_text = yard_str(why)};
    uint8_t hdr[S_HDR_BUF];
    int n = yard_wire_encode(YARD_CMD_ERROR, &h, hdr, sizeof hdr);
    if (n < 0 || zmq_send(b->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        return;
    }
    hdr[2] = 1;
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
