/* Fuzzes the broker with a sequence of messages from four fake peers, in-process: no socket
 * carries them; each is handed to the loop's handler (yard__handle) exactly as the loop would,
 * with a fake clock between messages and the loop's timers (deadlines, liveness, grace) run as
 * it advances. A fresh broker per input, so every crash replays from its file alone.
 *
 * Input: byte 0 selects the ROUTER's mode (bit 0 set: sends to unknown peers fail, as in
 * production, so replicas "vanish"; clear: they succeed silently, so routing goes deep). Then
 * messages, each:
 *   control byte: bits 0-1 peer, bits 2-3 frame count (0: 2, 1: 3, 2: 1, 3: too many),
 *                 bits 4-7 clock step (step^2 * 40 ms, up to 9 s: deadlines and heartbeats)
 *   u16 LE length + head frame (command prefix + msgpack header), u8 length + body frame.
 * Lengths past the input's end are cut short. */
#include "broker_priv.h"
#include "yard/broker.h"
#include "yard/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zmq.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *p;
    size_t left;
} s_in_t;

static size_t
s_take(s_in_t *in, size_t want, const uint8_t **out)
{
    size_t n = want < in->left ? want : in->left;
    *out = in->p;
    in->p += n;
    in->left -= n;
    return n;
}

static void
s_frame(zmq_msg_t *m, const void *p, size_t n)
{
    zmq_msg_init_size(m, n);
    if (n) {
        memcpy(zmq_msg_data(m), p, n);
    }
}

static void
s_timers(yard_broker_t *b)
{
    yard__expire(b);
    if (b->now >= b->next_tick) {
        yard__peers_sweep(b);
        yard__services_sweep(b);
        if (b->ntaps) {
            yard__tap_on_tick(b);
        }
        b->next_tick = b->now + b->tick_ms;
    }
}

/* One message from the input; false when the input is used up. */
static bool
s_one(yard_broker_t *b, s_in_t *in)
{
    static const int s_frames[4] = {2, 3, 1, 4};
    const uint8_t *p;
    if (s_take(in, 1, &p) == 0) {
        return false;
    }
    uint8_t c = p[0];
    char rid[5] = {0, 'p', 'e', 'e', (char)('A' + (c & 3))};
    int n = s_frames[(c >> 2) & 3];
    uint64_t step = (uint64_t)(c >> 4);
    b->now += step * step * 40;
    s_timers(b);

    const uint8_t *lp, *head, *body;
    uint8_t l2[2] = {0, 0};
    size_t got = s_take(in, 2, &lp);
    memcpy(l2, lp, got);
    size_t hn = s_take(in, (size_t)l2[0] | (size_t)l2[1] << 8, &head);
    size_t bl = s_take(in, 1, &lp) ? lp[0] : 0;
    size_t bn = s_take(in, bl, &body);

    zmq_msg_t f[3];
    s_frame(&f[0], rid, sizeof rid);
    s_frame(&f[1], head, hn);
    s_frame(&f[2], body, bn);
    yard__handle(b, f, n);
    for (int k = 0; k < 3; k++) {
        zmq_msg_close(&f[k]);
    }
    return true;
}

/* A broker, waiting out a reaper backlog (sockets or descriptors still being closed) for up
 * to 5 s; a broker that cannot be made then is a crash. */
static yard_broker_t *
s_broker_new(const yard_broker_opts_t *o, void *ctx)
{
    for (int i = 0; i < 5000; i++) {
        yard_broker_t *b = NULL;
        if (yard_broker_new(o, ctx, &b) == 0) {
            return b;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static void *ctx;
    static unsigned long seq;
    if (!ctx) {
        yard_log_set_level(YARD_LOG_OFF);
        ctx = zmq_ctx_new();
        /* libzmq closes sockets on its reaper thread, which can lag behind a fuzzer making
         * three per input (ROUTER, monitor, monitor PAIR): room for the backlog. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, 16384);
    }
    if (size == 0) {
        return 0;
    }
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://yard-fuzz-broker-%lu", seq++);
    yard_broker_opts_t o = {.bind = ep, .tap = true, .queue_max = 8, .max_in_flight = 16};
    yard_broker_t *b = s_broker_new(&o, ctx);
    int mandatory = data[0] & 1;
    zmq_setsockopt(b->router, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory);
    b->now = b->start_ms = 1000000;
    b->next_tick = b->now + b->tick_ms;
    s_in_t in = {data + 1, size - 1};
    while (s_one(b, &in)) {
    }
    yard__shutdown_requests(b);
    yard_broker_destroy(&b);
    return 0;
}
