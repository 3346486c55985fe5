/* The broker's guarantee (docs/protocol.md 6.3) checked at the wire: every REQUEST it accepts
 * ends in exactly one REPLY or ERROR, before its deadline plus one heartbeat, while replicas
 * die holding requests.
 *
 * test_guarantee.c counts outcomes through the client library, which lets one outcome through
 * per call id and drops any later answer, so a broker that answered a request twice would pass
 * it. Here the client is a raw ZeroMQ DEALER speaking YD/3 itself (yard_wire_encode/decode
 * only): every REPLY and ERROR that arrives is counted against its id, and the socket is read
 * for a heartbeat and more after the last answer expected, so a second answer has every chance
 * to show.
 *
 * The bus: yard-broker and 3 slow_actor processes (2 replicas, credit 8 each), every peer at
 * 200 ms heartbeats. Each request asks for 50-400 ms of work, so replicas always hold requests
 * (the broker's queue is never empty with ~100 outstanding against 48 credit): a plain SIGKILL
 * kills a replica pair holding up to 16, and a SIGSTOP (then SIGKILL, before the broker's
 * 3 heartbeats of patience run out) makes the broker find the second pair dead by silence.
 * Requests are a random mix (fixed seed) of IDEMPOTENT and not, with deadlines of 1-3 s.
 *
 * Nothing sleeps as synchronisation: every wait is a zmq_poll on the client socket with a
 * deadline (a registered service: probe until it stops answering NO_SERVICE; all replicas:
 * `$sys` stats; the end: no request outstanding). Figures are printed with print_message.
 *
 * Figures seen on the development box (2 shared cores; Debug, and ASan+UBSan alike): ~590
 * requests, 541-546 replies, WORKER_LOST 12-16 (none idempotent), TIMEOUT 30-35 (all at or
 * after their deadline: the survivor's 16 credit cannot keep up with 100 outstanding), broker
 * retries 15-18 (so the two victims held ~16 each, their full credit), replicas_dead 4 and
 * peers_unreachable 0 (both found by silence), zero ids answered twice, worst lateness 1-2 ms
 * against the 300 ms bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include "harness.h"
#include "yard/error.h"
#include "yard/batch.h"
#include "yard/wire.h"

#define S_HB_MS 200 /* every peer's heartbeat: a dead replica is found in 3 * 200 ms */

/* Scheduling slack on top of "deadline + one heartbeat". The broker itself answers TIMEOUT
 * within its timer's precision (it polls until the earliest deadline) and WORKER_LOST before
 * the deadline (a request whose deadline passed is TIMEOUT, not LOST); what can come on top is
 * this process's own wake-up and read, and the broker's, on 2 cores shared by a broker, three
 * actors and other builds, under ASan in CI: a few scheduler slices. 100 ms (half a heartbeat)
 * covers that widely while a missed heartbeat (200 ms) still fails. */
#define S_SLACK_MS 100

/* A TIMEOUT may show up this much before our own reckoning of the deadline: the broker stamps
 * arrival on its millisecond clock, read once per loop turn, and we stamp the send on ours,
 * each truncated to the millisecond. Anything earlier is a deadline not honoured. */
#define S_EARLY_MS 2

#define S_ACTORS      3
#define S_REPLICAS    2 /* per actor process */
#define S_CREDIT      8 /* per replica */
#define S_WINDOW      100
#define S_MAX_REQS    8192
#define S_MAX_CTL     4096  /* control requests (probes, stats) */
#define S_START_MS    10000 /* a process must be up and registered in this */
#define S_CODES       32
#define S_CTL_BIT     (1ull << 62) /* control ids: apart from load ids 1..S_MAX_REQS */
#define S_SEED        0x5eed1234u
#define S_SERVICE     "slow"
#define S_BODY_SIZE   19
#define S_STATS_BYTES 65536

typedef struct {
    long long sent_at;   /* yh_now_ms() just before the send */
    long long answer_at; /* the first answer's arrival */
    uint32_t timeout_ms;
    uint32_t work_ms;
    bool idempotent;
    int answers;    /* REPLY + ERROR frames seen for this id: must end at exactly 1 */
    uint32_t code;  /* the first answer: 0 for REPLY, else the ERROR's wire code */
    uint32_t code2; /* the second answer's, when there is one */
    bool bad_body;  /* a REPLY whose body is not this request's */
} s_req_t;

typedef struct {
    char *dir;
    int port;
    char endpoint[64];
    pid_t broker;
    pid_t actors[S_ACTORS];
    void *ctx, *dealer;
    yard_codec_t *codec;
    uint32_t rng;
    long long last_send;

    s_req_t reqs[S_MAX_REQS]; /* load request id i + 1 is reqs[i] */
    size_t sent, outstanding;
    long long last_answer;

    /* control requests: answers counted per id too; the one awaited is copied out */
    int ctl_answers[S_MAX_CTL];
    long long ctl_sent_at[S_MAX_CTL];
    uint32_t ctl_timeout[S_MAX_CTL];
    bool ctl_slow[S_MAX_CTL]; /* addressed to the slow service (it counts them) */
    size_t ctl_sent;
    uint64_t ctl_wait_id;
    bool ctl_done;
    uint32_t ctl_code;
    size_t ctl_size;
    unsigned char ctl_body[S_STATS_BYTES];

    /* everything that came off the wire */
    size_t replies, errors[S_CODES], heartbeats, odd,
        batches; /* odd: anything a client never gets */
    size_t slow_replies, slow_errors, slow_no_service;
    size_t unknown_ids;
} s_bus_t;

/* --- wire -------------------------------------------------------------------------------- */

static uint32_t
s_rand(s_bus_t *bus, uint32_t lo, uint32_t hi)
{
    bus->rng ^= bus->rng << 13;
    bus->rng ^= bus->rng >> 17;
    bus->rng ^= bus->rng << 5;
    return lo + bus->rng % (hi - lo + 1);
}

/* Load request id's body: {"ms": work_ms, "id": id}, which slow_actor sends back as is. */
static void
s_body(uint64_t id, uint32_t work_ms, unsigned char out[S_BODY_SIZE])
{
    unsigned char *p = out;
    *p++ = 0x82;
    *p++ = 0xa2, *p++ = 'm', *p++ = 's';
    *p++ = 0xcd, *p++ = (unsigned char)(work_ms >> 8), *p++ = (unsigned char)work_ms;
    *p++ = 0xa2, *p++ = 'i', *p++ = 'd';
    *p++ = 0xcf;
    for (int s = 56; s >= 0; s -= 8) {
        *p++ = (unsigned char)(id >> s);
    }
}

static void
s_send(s_bus_t *bus, yard_cmd_t cmd, const yard_header_t *h, const void *body, size_t size)
{
    unsigned char head[512];
    int n = yard_wire_encode(cmd, h, head, sizeof head);
    assert_true(n > 0);
    bool more = cmd == YARD_CMD_REQUEST;
    assert_int_equal(zmq_send(bus->dealer, head, (size_t)n, more ? ZMQ_SNDMORE : 0), n);
    if (more) {
        assert_int_equal(zmq_send(bus->dealer, body, size, 0), (int)size);
    }
    bus->last_send = yh_now_ms();
}

/* A client with requests in flight heartbeats when it has sent nothing for an interval. */
static void
s_heartbeat(s_bus_t *bus)
{
    if (yh_now_ms() - bus->last_send >= S_HB_MS) {
        yard_header_t h = {.heartbeat_ms = S_HB_MS};
        s_send(bus, YARD_CMD_HEARTBEAT, &h, NULL, 0);
    }
}

static void
s_on_load_answer(s_bus_t *bus, uint64_t id, uint32_t code, const void *body, size_t size)
{
    if (id == 0 || id > bus->sent) {
        bus->unknown_ids++;
        return;
    }
    s_req_t *r = &bus->reqs[id - 1];
    long long now = yh_now_ms();
    bus->last_answer = now;
    if (++r->answers > 1) {
        r->code2 = code; /* counted; the check at the end reports it */
        return;
    }
    r->answer_at = now;
    r->code = code;
    bus->outstanding--;
    if (code == 0) {
        unsigned char want[S_BODY_SIZE];
        s_body(id, r->work_ms, want);
        r->bad_body = size != sizeof want || memcmp(body, want, sizeof want) != 0;
    }
}

static void
s_on_ctl_answer(s_bus_t *bus, uint64_t id, uint32_t code, const void *body, size_t size)
{
    uint64_t seq = id & ~S_CTL_BIT;
    if (seq >= bus->ctl_sent) {
        bus->unknown_ids++;
        return;
    }
    if (bus->ctl_slow[seq]) {
        bus->slow_replies += code == 0;
        bus->slow_errors += code != 0 && code != (uint32_t)yard_err_to_wire(YARD_E_NO_SERVICE);
        bus->slow_no_service += code == (uint32_t)yard_err_to_wire(YARD_E_NO_SERVICE);
    }
    long long late = yh_now_ms() - (bus->ctl_sent_at[seq] + bus->ctl_timeout[seq]);
    assert_true(late <= S_HB_MS + S_SLACK_MS);
    if (++bus->ctl_answers[seq] == 1 && id == bus->ctl_wait_id) {
        bus->ctl_done = true;
        bus->ctl_code = code;
        bus->ctl_size = size < sizeof bus->ctl_body ? size : sizeof bus->ctl_body;
        if (bus->ctl_size > 0) {
            memcpy(bus->ctl_body, body, bus->ctl_size);
        }
    }
}

/* Counts one message: its head (data, size) and, when frames is 2, its body frame. */
static void
s_on_message(s_bus_t *bus, const void *data, size_t size_in, int frames, zmq_msg_t *bodyf)
{
    yard_cmd_t cmd;
    yard_header_t h;
    const char *why = NULL;
    int rc = yard_wire_decode(bus->codec, data, size_in, &cmd, &h, &why);
    if (rc != 0) {
        print_message("undecodable message from the broker: %s\n", why ? why : "?");
    }
    assert_int_equal(rc, 0);
    /* A small body travels after the header (one frame), a larger one in its own frame. */
    int in = yard_wire_inline(cmd, frames, &h, &why);
    assert_true(in >= 0);
    const void *body = in ? h.inline_body : frames > 1 ? zmq_msg_data(bodyf) : NULL;
    size_t size = in ? h.inline_len : frames > 1 ? zmq_msg_size(bodyf) : 0;
    if (cmd == YARD_CMD_REPLY || cmd == YARD_CMD_ERROR) {
        uint32_t code = cmd == YARD_CMD_REPLY ? 0 : h.error;
        assert_true(cmd == YARD_CMD_REPLY ? (frames == 2 || in == 1) : (frames == 1 && code != 0));
        if (code == 0) {
            bus->replies++;
        } else {
            bus->errors[code < S_CODES ? code : 0]++;
        }
        if (h.id & S_CTL_BIT) {
            s_on_ctl_answer(bus, h.id, code, body, size);
        } else {
            s_on_load_answer(bus, h.id, code, body, size);
        }
    } else if (cmd == YARD_CMD_HEARTBEAT) {
        bus->heartbeats++;
    } else {
        bus->odd++;
        print_message("unexpected %s from the broker\n", yard_cmd_name((int)cmd));
    }
}

/* Reads and counts one ZeroMQ message (every message of a BATCH); false when none is
 * waiting. */
static bool
s_recv_one(s_bus_t *bus)
{
    zmq_msg_t f[2];
    zmq_msg_init(&f[0]);
    zmq_msg_init(&f[1]);
    if (zmq_msg_recv(&f[0], bus->dealer, ZMQ_DONTWAIT) < 0) {
        assert_int_equal(zmq_errno(), EAGAIN);
        zmq_msg_close(&f[0]);
        zmq_msg_close(&f[1]);
        return false;
    }
    int frames = 1;
    while (zmq_msg_more(&f[frames - 1]) && frames < 2) {
        assert_true(zmq_msg_recv(&f[frames], bus->dealer, 0) >= 0);
        frames++;
    }
    assert_false(zmq_msg_more(&f[frames - 1])); /* YD/3 messages have 1 or 2 frames */
    if (yard_batch_is(zmq_msg_data(&f[0]), zmq_msg_size(&f[0]))) {
        assert_int_equal(frames, 1);
        yard_batch_reader_t rd;
        const char *why = NULL;
        assert_int_equal(
            yard_batch_reader_init(&rd, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), &why), 0);
        const void *m;
        size_t n;
        int rc;
        while ((rc = yard_batch_next(&rd, &m, &n, &why)) == 1) {
            s_on_message(bus, m, n, 1, NULL);
        }
        assert_int_equal(rc, 0);
        bus->batches++;
    } else {
        s_on_message(bus, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), frames, &f[1]);
    }
    zmq_msg_close(&f[0]);
    zmq_msg_close(&f[1]);
    return true;
}

/* Waits up to ms for input (a poll with a deadline), then reads all that is waiting. */
static void
s_read(s_bus_t *bus, long ms)
{
    s_heartbeat(bus);
    zmq_pollitem_t it = {.socket = bus->dealer, .events = ZMQ_POLLIN};
    int n = zmq_poll(&it, 1, ms);
    assert_true(n >= 0 || zmq_errno() == EINTR);
    while (s_recv_one(bus)) {
    }
}

/* Sends a control request and reads (counting load answers too) until its answer; returns its
 * wire code (0: REPLY, body in bus->ctl_body), or -1 when none came in time. */
static int
s_call(s_bus_t *bus, const char *service, const char *op, const void *body, size_t size,
       uint32_t timeout_ms)
{
    assert_true(bus->ctl_sent < S_MAX_CTL);
    uint64_t seq = bus->ctl_sent++;
    bus->ctl_wait_id = S_CTL_BIT | seq;
    bus->ctl_done = false;
    bus->ctl_timeout[seq] = timeout_ms;
    bus->ctl_slow[seq] = strcmp(service, S_SERVICE) == 0;
    yard_header_t h = {.id = bus->ctl_wait_id,
                       .service = yard_str(service),
                       .op = yard_str(op),
                       .timeout_ms = timeout_ms};
    bus->ctl_sent_at[seq] = yh_now_ms();
    s_send(bus, YARD_CMD_REQUEST, &h, body, size);
    long long until = bus->ctl_sent_at[seq] + timeout_ms + S_HB_MS + S_SLACK_MS;
    while (!bus->ctl_done && yh_now_ms() < until) {
        s_read(bus, 10);
    }
    return bus->ctl_done ? (int)bus->ctl_code : -1;
}

/* --- $sys stats -------------------------------------------------------------------------- */

static const msgpack_object *
s_map_get(const msgpack_object *o, const char *key)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            memcmp(k->via.str.ptr, key, klen) == 0) {
            return &o->via.map.ptr[i].val;
        }
    }
    return NULL;
}

static long long
s_uint(const msgpack_object *o)
{
    return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (long long)o->via.u64 : -1;
}

/* The stats map, unpacked into u (destroy it), or false when $sys did not answer. */
static bool
s_stats(s_bus_t *bus, msgpack_unpacked *u)
{
    msgpack_unpacked_init(u);
    if (s_call(bus, "$sys", "stats", "\x80", 1, 1000) != 0) {
        return false;
    }
    return msgpack_unpack_next(u, (const char *)bus->ctl_body, bus->ctl_size, NULL) ==
               MSGPACK_UNPACK_SUCCESS &&
           u->data.type == MSGPACK_OBJECT_MAP;
}

static const msgpack_object *
s_slow_stats(const msgpack_object *stats)
{
    const msgpack_object *svcs = s_map_get(stats, "services");
    for (uint32_t i = 0; svcs && svcs->type == MSGPACK_OBJECT_ARRAY && i < svcs->via.array.size;
         i++) {
        const msgpack_object *name = s_map_get(&svcs->via.array.ptr[i], "name");
        if (name && name->type == MSGPACK_OBJECT_STR && name->via.str.size == strlen(S_SERVICE) &&
            memcmp(name->via.str.ptr, S_SERVICE, strlen(S_SERVICE)) == 0) {
            return &svcs->via.array.ptr[i];
        }
    }
    return NULL;
}

/* Polls stats until the slow service has want replicas (and, with idle, nothing in flight
 * anywhere in the broker). */
static bool
s_wait_stats(s_bus_t *bus, long long want, bool idle, long long timeout_ms)
{
    long long until = yh_now_ms() + timeout_ms;
    while (yh_now_ms() < until) {
        msgpack_unpacked u;
        bool ok = s_stats(bus, &u);
        const msgpack_object *counters = ok ? s_map_get(&u.data, "counters") : NULL;
        ok = ok && s_uint(s_map_get(s_slow_stats(&u.data), "replicas")) == want &&
             (!idle || s_uint(s_map_get(counters, "in_flight")) == 0);
        msgpack_unpacked_destroy(&u);
        if (ok) {
            return true;
        }
        s_read(bus, 20);
    }
    return false;
}

/* --- processes --------------------------------------------------------------------------- */

static void
s_start(s_bus_t *bus)
{
    char *bargv[] = {"yard-broker", "--bind", bus->endpoint, "--heartbeat-ms", "200", NULL};
    bus->broker = yh_spawn("yard-broker", bargv, NULL, bus->dir);
    assert_true(bus->broker > 0);
    assert_true(yh_wait_port(bus->port, S_START_MS));
    for (int i = 0; i < S_ACTORS; i++) {
        char *argv[] = {"slow_actor", "--broker",   bus->endpoint, "--heartbeat-ms",
                        "200",        "--replicas", "2",           "--credit",
                        "8",          NULL};
        bus->actors[i] = yh_spawn("slow_actor", argv, NULL, bus->dir);
        assert_true(bus->actors[i] > 0);
    }
    /* The service exists once a first READY is in: probe until it stops being NO_SERVICE. A
     * probe is a valid request (1 ms of work), so a live service answers REPLY. */
    long long until = yh_now_ms() + S_START_MS;
    int code = -1;
    size_t probes = 0;
    while (code != 0 && yh_now_ms() < until) {
        code = s_call(bus, S_SERVICE, NULL, "\x01", 1, 500);
        probes++;
        assert_true(code == 0 || code == -1 || code == (int)yard_err_to_wire(YARD_E_NO_SERVICE));
        if (code != 0) {
            s_read(bus, 20); /* a poll with a deadline: the next probe, or stray input */
        }
    }
    assert_int_equal(code, 0);
    /* slow_actor's documented contract for a body without valid "ms". */
    assert_int_equal(s_call(bus, S_SERVICE, NULL, "\xc0", 1, 500),
                     (int)yard_err_to_wire(YARD_E_BAD_REQUEST));
    assert_true(s_wait_stats(bus, S_ACTORS * S_REPLICAS, false, S_START_MS));
    print_message("EXACTLY-ONCE up: %zu probes until the service answered\n", probes);
}

/* --- the load ---------------------------------------------------------------------------- */

static void
s_issue(s_bus_t *bus)
{
    while (bus->outstanding < S_WINDOW && bus->sent < S_MAX_REQS) {
        s_req_t *r = &bus->reqs[bus->sent];
        uint64_t id = ++bus->sent;
        r->timeout_ms = s_rand(bus, 1000, 3000);
        r->work_ms = s_rand(bus, 50, 400);
        r->idempotent = s_rand(bus, 0, 1);
        unsigned char body[S_BODY_SIZE];
        s_body(id, r->work_ms, body);
        yard_header_t h = {.id = id,
                           .service = yard_str(S_SERVICE),
                           .timeout_ms = r->timeout_ms,
                           .flags = r->idempotent ? YARD_FLAG_IDEMPOTENT : 0};
        r->sent_at = yh_now_ms();
        s_send(bus, YARD_CMD_REQUEST, &h, body, sizeof body);
        bus->outstanding++;
    }
}

static void
s_pump(s_bus_t *bus, long long ms)
{
    long long until = yh_now_ms() + ms;
    while (yh_now_ms() < until) {
        s_issue(bus);
        s_read(bus, 5);
    }
}

/* --- fixture ----------------------------------------------------------------------------- */

static int
setup(void **state)
{
    s_bus_t *bus = calloc(1, sizeof *bus);
    assert_non_null(bus);
    bus->dir = yh_tmpdir();
    assert_non_null(bus->dir);
    bus->port = yh_free_port();
    assert_true(bus->port > 0);
    snprintf(bus->endpoint, sizeof bus->endpoint, "%s", yh_endpoint(bus->port));
    bus->broker = -1;
    for (int i = 0; i < S_ACTORS; i++) {
        bus->actors[i] = -1;
    }
    bus->rng = S_SEED;
    bus->codec = yard_codec_new();
    bus->ctx = zmq_ctx_new();
    bus->dealer = zmq_socket(bus->ctx, ZMQ_DEALER);
    assert_non_null(bus->dealer);
    int zero = 0;
    zmq_setsockopt(bus->dealer, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(bus->dealer, bus->endpoint), 0);
    *state = bus;
    return 0;
}

static int
teardown(void **state)
{
    s_bus_t *bus = *state;
    zmq_close(bus->dealer);
    zmq_ctx_term(bus->ctx);
    yard_codec_destroy(&bus->codec);
    for (int i = 0; i < S_ACTORS; i++) {
        if (bus->actors[i] > 0) {
            yh_stop(bus->actors[i], SIGKILL, 5000);
        }
    }
    if (bus->broker > 0) {
        yh_stop(bus->broker, SIGKILL, 5000);
    }
    if (getenv("YARD_KEEP_LOGS") != NULL) {
        printf("logs kept in %s\n", bus->dir);
    } else {
        yh_rmtree(bus->dir);
    }
    free(bus->dir);
    free(bus);
    return 0;
}

/* --- the test ---------------------------------------------------------------------------- */

typedef struct {
    size_t zero, twice, bad_body, early_timeouts, late, lost_idempotent, lost_out_of_window;
    size_t disallowed, replies, by_code[S_CODES], by_code_idem[S_CODES];
    long long worst_late, worst_latency;
} s_tally_t;

/* A dead replica is found within 3 heartbeats of its last message (at the latest the kill, or
 * the freeze), plus one tick of the broker's sweep (heartbeat_min_ms / 2 = 50 ms); answers
 * then take the slack to reach us. */
#define S_FOUND_DEAD_MS (3 * S_HB_MS + 50 + S_SLACK_MS)

static bool
s_in_window(long long at, long long from)
{
    return at >= from && at <= from + S_FOUND_DEAD_MS;
}

/* kills: when each victim stopped sending (SIGKILL, or SIGSTOP for the frozen one). */
static s_tally_t
s_tally(const s_bus_t *bus, const long long kills[2])
{
    s_tally_t t = {.worst_late = -3000};
    const uint32_t timeout = yard_err_to_wire(YARD_E_TIMEOUT);
    const uint32_t lost = yard_err_to_wire(YARD_E_WORKER_LOST);
    for (size_t i = 0; i < bus->sent; i++) {
        const s_req_t *r = &bus->reqs[i];
        if (r->answers == 0) {
            t.zero++;
            print_message("id %zu: no answer (sent at %lld, deadline %u ms)\n", i + 1, r->sent_at,
                          r->timeout_ms);
            continue;
        }
        if (r->answers > 1) {
            t.twice++;
            print_message("id %zu: %d answers, codes %u then %u (%s)\n", i + 1, r->answers, r->code,
                          r->code2, r->idempotent ? "idempotent" : "not idempotent");
        }
        long long late = r->answer_at - (r->sent_at + r->timeout_ms);
        t.worst_late = late > t.worst_late ? late : t.worst_late;
        long long lat = r->answer_at - r->sent_at;
        t.worst_latency = lat > t.worst_latency ? lat : t.worst_latency;
        t.late += late > S_HB_MS + S_SLACK_MS;
        t.by_code[r->code < S_CODES ? r->code : 0]++;
        t.by_code_idem[r->code < S_CODES ? r->code : 0] += r->idempotent;
        if (r->code == 0) {
            t.replies++;
            t.bad_body += r->bad_body;
        } else if (r->code == timeout) {
            t.early_timeouts += late < -S_EARLY_MS; /* only at/after the deadline */
        } else if (r->code == lost) {
            /* Only a replica's death loses a request, as soon as it is found dead, and an
             * idempotent one is re-sent instead unless its deadline has passed. */
            t.lost_out_of_window +=
                !s_in_window(r->answer_at, kills[0]) && !s_in_window(r->answer_at, kills[1]);
            t.lost_idempotent += r->idempotent && late < -S_EARLY_MS;
        } else {
            t.disallowed++;
            print_message("id %zu: unexpected error %s\n", i + 1,
                          yard_err_name(yard_err_from_wire(r->code)));
        }
    }
    return t;
}

/* Broker stats against what came off the wire: every counter that can be matched exactly. */
static void
s_check_stats(s_bus_t *bus, long long *retries)
{
    /* Everything is answered and both dead replicas are dropped: nothing in flight. */
    assert_true(s_wait_stats(bus, S_REPLICAS, true, 5000));
    size_t sent_requests = bus->sent + bus->ctl_sent + 1; /* the stats call below included */
    size_t replies = bus->replies, errors = 0;
    for (int c = 0; c < S_CODES; c++) {
        errors += bus->errors[c];
    }
    msgpack_unpacked u;
    assert_true(s_stats(bus, &u));
    const msgpack_object *cnt = s_map_get(&u.data, "counters");
    const msgpack_object *slow = s_slow_stats(&u.data);
    long long b_requests = s_uint(s_map_get(cnt, "requests"));
    long long b_replies = s_uint(s_map_get(cnt, "replies"));
    long long b_errors = 0;
    char line[1024];
    int off = snprintf(line, sizeof line, "broker errors:");
    for (uint32_t c = 1; c < S_CODES; c++) {
        char key[64];
        snprintf(key, sizeof key, "error.%s", yard_err_name(yard_err_from_wire(c)));
        long long v = s_uint(s_map_get(cnt, key));
        if (v < 0) {
            continue; /* past the table */
        }
        b_errors += v;
        if (v > 0 && off < (int)sizeof line) {
            off += snprintf(line + off, sizeof line - (size_t)off, " %s %lld", key + 6, v);
        }
        /* Each ERROR the broker counts sending is one we read, code by code. */
        assert_int_equal(v, (long long)bus->errors[c]);
    }
    *retries = s_uint(s_map_get(cnt, "retries"));
    print_message("EXACTLY-ONCE broker: requests %lld, replies %lld, errors %lld, retries %lld, "
                  "replicas_dead %lld, late_replies %lld, peers_unreachable %lld; %s\n",
                  b_requests, b_replies, b_errors, *retries,
                  s_uint(s_map_get(cnt, "replicas_dead")), s_uint(s_map_get(cnt, "late_replies")),
                  s_uint(s_map_get(cnt, "peers_unreachable")), line);
    print_message("EXACTLY-ONCE broker %s: requests %lld, replies %lld, errors %lld\n", S_SERVICE,
                  s_uint(s_map_get(slow, "requests")), s_uint(s_map_get(slow, "replies")),
                  s_uint(s_map_get(slow, "errors")));
    /* Every REQUEST we sent was counted; each ended in one answer, all of which we read, except
     * this stats request (its REPLY is counted after the map is built). */
    assert_int_equal(b_requests, (long long)sent_requests);
    assert_int_equal(b_replies, (long long)replies);
    assert_int_equal(b_requests, b_replies + b_errors + 1);
    assert_int_equal(s_uint(s_map_get(cnt, "in_flight")), 0);
    /* Both victims' replicas were dropped: by silence (replicas_dead), or by a failed send. */
    long long dead = s_uint(s_map_get(cnt, "replicas_dead"));
    assert_true(dead <= 2 * S_REPLICAS);
    assert_true(dead + s_uint(s_map_get(cnt, "peers_unreachable")) >= 2 * S_REPLICAS);
    /* The slow service saw every request for it but those answered NO_SERVICE before it
     * existed, and answered each once. */
    long long slow_requests = s_uint(s_map_get(slow, "requests"));
    size_t load_replies = 0;
    for (size_t i = 0; i < bus->sent; i++) {
        load_replies += bus->reqs[i].answers > 0 && bus->reqs[i].code == 0;
    }
    size_t ctl_slow = 0;
    for (size_t i = 0; i < bus->ctl_sent; i++) {
        ctl_slow += bus->ctl_slow[i];
    }
    assert_int_equal(slow_requests, (long long)(bus->sent + ctl_slow - bus->slow_no_service));
    assert_int_equal(s_uint(s_map_get(slow, "replies")),
                     (long long)(load_replies + bus->slow_replies));
    assert_int_equal(s_uint(s_map_get(slow, "errors")),
                     (long long)(bus->sent - load_replies + bus->slow_errors));
    assert_int_equal(slow_requests,
                     s_uint(s_map_get(slow, "replies")) + s_uint(s_map_get(slow, "errors")));
    msgpack_unpacked_destroy(&u);
}

/* ~100 requests outstanding on 3 actor processes; one is SIGKILLed, a second is frozen and
 * SIGKILLed before the broker's patience runs out; then every id is checked for exactly one
 * answer of the right kind, in time, and the broker's counters against the wire. */
static void
test_exactly_once_at_the_wire(void **state)
{
    s_bus_t *bus = *state;
    s_start(bus);

    s_pump(bus, 1000);
    long long kill1 = yh_now_ms();
    size_t held1 = bus->outstanding;
    assert_int_equal(kill(bus->actors[0], SIGKILL), 0);
    assert_true(WIFSIGNALED(yh_stop(bus->actors[0], SIGKILL, 5000)));
    bus->actors[0] = -1;
    s_pump(bus, 1000);

    /* Frozen: its connection stays up and it holds its credit, so only its silence can get it
     * declared dead (3 heartbeats); the SIGKILL comes after 2, and changes nothing for the
     * broker. */
    long long kill2 = yh_now_ms();
    assert_int_equal(kill(bus->actors[1], SIGSTOP), 0);
    s_pump(bus, 2 * S_HB_MS);
    assert_true(WIFSIGNALED(yh_stop(bus->actors[1], SIGKILL, 5000)));
    bus->actors[1] = -1;
    s_pump(bus, 1500);
    long long stopped = yh_now_ms();
    size_t at_stop = bus->outstanding;

    /* Every answer is due by its deadline + a heartbeat: wait that long (and a second more,
     * so that a failure can name the missing ids), then read on for at least one heartbeat
     * after the last answer and past every deadline + heartbeat + slack, to catch seconds. */
    long long last_due = 0;
    for (size_t i = 0; i < bus->sent; i++) {
        long long due = bus->reqs[i].sent_at + bus->reqs[i].timeout_ms + S_HB_MS + S_SLACK_MS;
        last_due = due > last_due ? due : last_due;
    }
    while (bus->outstanding > 0 && yh_now_ms() < last_due + 1000) {
        s_read(bus, 10);
    }
    long long tail_until = bus->last_answer + S_HB_MS + S_SLACK_MS;
    tail_until = tail_until > last_due ? tail_until : last_due;
    while (yh_now_ms() < tail_until) {
        s_read(bus, 10);
    }

    const long long kills[2] = {kill1, kill2};
    s_tally_t t = s_tally(bus, kills);
    const uint32_t lost = yard_err_to_wire(YARD_E_WORKER_LOST);
    const uint32_t timeout = yard_err_to_wire(YARD_E_TIMEOUT);
    print_message("EXACTLY-ONCE load: sent %zu (%zu outstanding at the first kill, %zu when "
                  "issuing stopped %lld ms after the freeze), replies %zu, WORKER_LOST %zu "
                  "(idempotent %zu), TIMEOUT %zu (idempotent %zu), other errors %zu; zero "
                  "answers %zu, two or more %zu, unknown ids %zu; worst lateness %lld ms vs "
                  "deadline (bound %d), worst latency %lld ms; %zu batches from the broker\n",
                  bus->sent, held1, at_stop, stopped - kill2, t.replies, t.by_code[lost],
                  t.by_code_idem[lost], t.by_code[timeout], t.by_code_idem[timeout], t.disallowed,
                  t.zero, t.twice, bus->unknown_ids, t.worst_late, S_HB_MS + S_SLACK_MS,
                  t.worst_latency, bus->batches);
    assert_int_equal(t.zero, 0);
    assert_int_equal(t.twice, 0);
    assert_int_equal(bus->unknown_ids, 0);
    assert_int_equal(bus->odd, 0);
    assert_int_equal(t.bad_body, 0);
    assert_int_equal(t.disallowed, 0);
    assert_int_equal(t.early_timeouts, 0);
    assert_int_equal(t.late, 0);
    assert_int_equal(t.lost_idempotent, 0);
    assert_int_equal(t.lost_out_of_window, 0);
    for (size_t i = 0; i < bus->ctl_sent; i++) {
        assert_int_equal(bus->ctl_answers[i], 1);
    }
    /* The kills found requests held: non-idempotent ones were lost (or timed out), idempotent
     * ones re-sent. */
    assert_true(t.by_code[lost] > 0);

    long long retries = -1;
    s_check_stats(bus, &retries);
    assert_true(retries > 0);

    /* The survivor stops cleanly: its fini joins its timer threads (and under ASan, exit
     * status 0 also means LeakSanitizer found nothing). */
    int st = yh_stop(bus->actors[2], SIGTERM, 10000);
    bus->actors[2] = -1;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exactly_once_at_the_wire, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
