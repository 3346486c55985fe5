/* The broker's guarantee (docs/protocol.md 6.3), proved with real processes: every request
 * ends in exactly one REPLY or ERROR at its client, before its deadline plus one heartbeat
 * interval, while yard-actor processes (and the broker itself) are killed with SIGKILL under
 * load. Idempotent requests are re-sent to another replica, non-idempotent ones end
 * WORKER_LOST, a SIGTERMed actor drains without losing anything, and actors re-register with a
 * restarted broker by themselves.
 *
 * Each scenario runs yard-broker and yard-actor echo processes on a free port (logs in a temp
 * dir, kept when YARD_KEEP_LOGS is set) and one in-test client that keeps a window of async
 * calls outstanding. Every call carries its own index as its body, so a reply is checked to be
 * the answer to that very call, and every callback is counted per call: the check at the end
 * is "exactly one outcome each", never zero and never two.
 *
 * Nothing sleeps as synchronisation: the load loop is yard_client_dispatch() with a short
 * timeout, and every wait (a port, a process exit, replicas registered in `$sys` stats, the
 * last outcome) polls with a deadline.
 *
 * The client counts one outcome per call by construction (it unlinks a call before running
 * its callback and drops any later answer for that id), so a broker that answered twice would
 * be masked here; what this file proves is "never zero, never late, the right kind".
 *
 * Figures seen on the development box (2 shared cores with other builds; Debug, then
 * ASan+UBSan; client, broker and actors at 200 ms heartbeats; window 256; deadline 2 s, and
 * 400 ms for odd calls in scenario 1). "Lateness" is outcome time minus (call time + deadline);
 * the bound checked is 200 ms (one heartbeat) + 100 ms slack.
 *   1 kill-actor, non-idempotent: 339k-434k calls (ASan 173k-245k); errors only TIMEOUT 63-68
 *     (the 400 ms calls the frozen replica held, ended at their deadline) and WORKER_LOST
 *     61-143; worst lateness 0-5 ms; every one of 49k-108k calls started 800 ms after the last
 *     kill got a reply; broker: replicas_dead 2 (the frozen one is found by silence, ~620 ms
 *     after the freeze), peers_unreachable 2 (the plain kill, found by a failed send).
 *   2 kill-actor, idempotent: 187k-423k calls, all replies, no error; broker retries 128-178;
 *     worst latency 605-646 ms (a re-sent call waits for the silence), lateness <= -1354 ms.
 *   3 kill-broker: 48k-138k calls, 150-253 outstanding at the kill: those whose reply was
 *     already on the wire got it, the rest (97-253) ended UNREACHABLE at once (worst latency
 *     12 ms); first reply 181-192 ms after the broker's port reopened, the same 2 actor
 *     processes registered again (4 replicas).
 *   4 rolling restart: 72k-169k calls, all replies, zero errors; SIGTERM to exit 3-24 ms,
 *     clean exit status.
 * Plain echo has no slow op, so a plain SIGKILL catches only what is on the wire at that
 * instant (0-80 WORKER_LOST); the freeze (SIGSTOP) before the second kill is what makes sure
 * requests are held. A `sleep` op in echo would let a plain SIGKILL do the same.
 */
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
#include <unistd.h>

#include "harness.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/msg.h"
#include "yard/wire.h"

/* Heartbeat of every peer: broker, actors and the client. Short, so that a dead replica is
 * found in 3 * 200 ms and the whole file runs well under a minute. */
#define S_HB_MS 200

/* Scheduling slack on top of "deadline + one heartbeat". The client ends a call locally at
 * its deadline plus its heartbeat (proto/client.c), which is the bound itself; anything past
 * the bound is then only the time for this process to be scheduled and run the callback.
 * The test, a broker and two or three actor processes share 2 cores with other builds (and
 * run under ASan in CI), so a wake-up can wait a few scheduler slices: 100 ms (half a
 * heartbeat) covers that with a wide margin while still catching a missed heartbeat. */
#define S_SLACK_MS 100

#define S_TIMEOUT_MS   2000  /* each call's deadline, relative to the call */
#define S_WINDOW       256   /* calls kept outstanding */
#define S_CHUNK        65536 /* call records are allocated this many at a time */
#define S_MAX_CHUNKS   64    /* per scenario at most 4M calls; the load stops issuing there */
#define S_REPLICAS     2     /* replica threads per actor process */
#define S_START_MS     10000 /* a process must be up (port open, replicas registered) in this */
#define S_DRAIN_MS     3000  /* a SIGTERMed actor's drain limit */
#define S_MAX_ACTORS   3
#define S_STATUS_CODES 32

/* The odd calls' deadline in the non-idempotent kill scenario: under the 3 heartbeats it
 * takes the broker to find a frozen replica dead. */
#define S_SHORT_TIMEOUT_MS 400

/* A call still outstanding this long after it started is held by a frozen replica: a live
 * echo answers in a few milliseconds even on a loaded box. */
#define S_STUCK_MS 100

/* A call is settled when it starts this long after a kill: the broker has declared the dead
 * replica dead (3 heartbeats of silence at most) so no new call can be routed to it. */
#define S_SETTLE_MS (3 * S_HB_MS + 2 * S_SLACK_MS)

typedef struct s_run s_run_t;

typedef struct {
    s_run_t *run;
    uint32_t index;
    uint32_t timeout_ms; /* this call's deadline, relative to start */
    int ends;            /* callbacks seen: must end at exactly 1 */
    int status;          /* of the first outcome */
    bool bad_body;       /* a reply whose body is not this call's */
    long long start;     /* yh_now_ms() just before the call */
    long long end;       /* at the first outcome */
} s_call_t;

struct s_run {
    yard_client_t *client;
    uint32_t flags;
    uint32_t timeout_ms;            /* even calls' deadline */
    uint32_t short_timeout_ms;      /* odd calls' deadline; 0: the same as even ones */
    s_call_t *chunks[S_MAX_CHUNKS]; /* stable addresses: a call's record is its callback arg */
    size_t issued;
    size_t first_open; /* no call below this index is outstanding */
    size_t outstanding;
    size_t refused; /* yard_client_call_async() errors (their callback never runs) */
};

typedef struct {
    char *dir;
    int port;
    char endpoint[64];
    pid_t broker;
    pid_t actors[S_MAX_ACTORS];
    s_run_t run;
    yard_client_t *client;
} s_bus_t;

/* --- processes --------------------------------------------------------------------------- */

static bool
s_start_broker(s_bus_t *bus)
{
    char *argv[] = {"yard-broker", "--bind", bus->endpoint, "--heartbeat-ms", "200", NULL};
    bus->broker = yh_spawn("yard-broker", argv, NULL, bus->dir);
    return bus->broker > 0 && yh_wait_port(bus->port, S_START_MS);
}

static pid_t
s_start_actor(s_bus_t *bus, int slot)
{
    char replicas[16], drain[16];
    snprintf(replicas, sizeof replicas, "%d", S_REPLICAS);
    snprintf(drain, sizeof drain, "%d", S_DRAIN_MS);
    char *argv[] = {"yard-actor",     "echo", "--broker",   bus->endpoint, "--replicas", replicas,
                    "--heartbeat-ms", "200",  "--drain-ms", drain,         NULL};
    bus->actors[slot] = yh_spawn("yard-actor", argv, NULL, bus->dir);
    return bus->actors[slot];
}

/* True while pid has not exited; when it has, reaps it and sets *status (may be NULL). */
static bool
s_alive(pid_t pid, int *status)
{
    int st = 0;
    pid_t r;
    do {
        r = waitpid(pid, &st, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (status != NULL) {
        *status = st;
    }
    return r == 0;
}

static void
s_kill(pid_t *pid, int sig)
{
    if (*pid > 0) {
        yh_stop(*pid, sig, 5000);
        *pid = -1;
    }
}

/* --- the load ---------------------------------------------------------------------------- */

/* The body of call i: a msgpack uint32 (0xce, big-endian), so echo answers with the same. */
static void
s_body(uint32_t i, uint8_t out[5])
{
    out[0] = 0xce;
    out[1] = (uint8_t)(i >> 24);
    out[2] = (uint8_t)(i >> 16);
    out[3] = (uint8_t)(i >> 8);
    out[4] = (uint8_t)i;
}

static void
s_on_outcome(const yard_msg_t *m, void *arg)
{
    s_call_t *c = arg;
    if (++c->ends > 1) {
        return; /* counted; the check at the end reports it */
    }
    c->end = yh_now_ms();
    c->status = yard_msg_status(m);
    c->run->outstanding--;
    if (c->status == 0) {
        uint8_t want[5];
        size_t size = 0;
        const void *body = yard_msg_body(m, &size);
        s_body(c->index, want);
        c->bad_body = size != sizeof want || memcmp(body, want, sizeof want) != 0;
    }
}

static void
s_run_init(s_bus_t *bus, uint32_t flags, uint32_t short_timeout_ms)
{
    s_run_t *run = &bus->run;
    run->client = bus->client;
    run->flags = flags;
    run->timeout_ms = S_TIMEOUT_MS;
    run->short_timeout_ms = short_timeout_ms ? short_timeout_ms : S_TIMEOUT_MS;
}

static void
s_run_fini(s_run_t *run)
{
    for (size_t i = 0; i < S_MAX_CHUNKS; i++) {
        free(run->chunks[i]);
        run->chunks[i] = NULL;
    }
}

/* Call i's record (i < issued, or == issued to start a new call: NULL when the cap is hit). */
static s_call_t *
s_call_at(s_run_t *run, size_t i)
{
    size_t chunk = i / S_CHUNK;
    if (chunk >= S_MAX_CHUNKS) {
        return NULL;
    }
    if (run->chunks[chunk] == NULL) {
        run->chunks[chunk] = calloc(S_CHUNK, sizeof(s_call_t));
        assert_non_null(run->chunks[chunk]);
    }
    return &run->chunks[chunk][i % S_CHUNK];
}

/* Tops the window up to S_WINDOW outstanding calls. */
static void
s_issue(s_run_t *run)
{
    yard_call_opts_t opts = {.flags = run->flags};
    s_call_t *c;
    while (run->outstanding < S_WINDOW && (c = s_call_at(run, run->issued)) != NULL) {
        c->run = run;
        c->index = (uint32_t)run->issued;
        c->timeout_ms = c->index % 2 ? run->short_timeout_ms : run->timeout_ms;
        opts.timeout_ms = c->timeout_ms;
        uint8_t body[5];
        s_body(c->index, body);
        c->start = yh_now_ms();
        int rc =
            yard_client_call_async(run->client, "echo", body, sizeof body, &opts, s_on_outcome, c);
        if (rc != 0) {
            run->refused++;
            return;
        }
        run->issued++;
        run->outstanding++;
    }
}

/* Keeps the load going for ms milliseconds. */
static void
s_pump(s_run_t *run, long long ms)
{
    long long until = yh_now_ms() + ms;
    while (yh_now_ms() < until) {
        s_issue(run);
        yard_client_dispatch(run->client, 5);
    }
}

/* Keeps the load going until pid exits (its wait status in *status); false when it does not
 * within timeout_ms. */
static bool
s_pump_until_exit(s_run_t *run, pid_t pid, long long timeout_ms, int *status)
{
    long long until = yh_now_ms() + timeout_ms;
    while (yh_now_ms() < until) {
        if (!s_alive(pid, status)) {
            return true;
        }
        s_issue(run);
        yard_client_dispatch(run->client, 5);
    }
    return false;
}

/* Calls outstanding for S_STUCK_MS or more. */
static size_t
s_stuck(s_run_t *run)
{
    long long old = yh_now_ms() - S_STUCK_MS;
    size_t n = 0;
    while (run->first_open < run->issued && s_call_at(run, run->first_open)->ends > 0) {
        run->first_open++;
    }
    for (size_t i = run->first_open; i < run->issued; i++) {
        const s_call_t *c = s_call_at(run, i);
        if (c->start > old) {
            break; /* started in order: the rest are younger */
        }
        n += c->ends == 0;
    }
    return n;
}

/* Echo answers in microseconds, so a plain SIGKILL under load catches only the few requests
 * on the wire to the victim at that instant (0 to ~80 in practice). To be sure that a kill
 * finds requests held, the victim is first frozen with SIGSTOP: the broker fills its credit
 * with requests that stay held (the client sees calls outstanding for S_STUCK_MS), then it is
 * SIGKILLed before 3 heartbeats of its silence have passed. With its credit used up the broker
 * sends it nothing more, so it is the silence (not a failed send) that gets it declared dead:
 * the slow path of 6.3, at most 3 heartbeats after the freeze. Returns the calls seen held at
 * the kill. */
static size_t
s_freeze_and_kill(s_run_t *run, pid_t *pid)
{
    assert_int_equal(kill(*pid, SIGSTOP), 0);
    long long until = yh_now_ms() + 2 * S_HB_MS;
    while (yh_now_ms() < until && s_stuck(run) < S_REPLICAS) {
        s_issue(run);
        yard_client_dispatch(run->client, 5);
    }
    size_t stuck = s_stuck(run);
    s_kill(pid, SIGKILL); /* a stopped process dies of SIGKILL without being continued */
    return stuck;
}

/* Stops issuing and collects outcomes until none is outstanding. Every call must have ended
 * by its deadline + one heartbeat + slack, so waiting longer than that is already a failure:
 * the loop gives up one more second later so that the check can name the calls. */
static void
s_finish(s_run_t *run)
{
    long long until = yh_now_ms() + run->timeout_ms + S_HB_MS + S_SLACK_MS + 1000;
    while (yard_client_pending(run->client) > 0 && yh_now_ms() < until) {
        yard_client_dispatch(run->client, 10);
    }
}

/* --- registration through $sys stats ----------------------------------------------------- */

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

/* The echo service's replica count in a stats reply, or -1 when it has none. */
static int
s_echo_replicas(const yard_msg_t *m)
{
    size_t size = 0;
    const char *body = yard_msg_body(m, &size);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int n = -1;
    if (msgpack_unpack_next(&u, body, size, NULL) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *svcs = s_map_get(&u.data, "services");
        for (uint32_t i = 0; svcs && svcs->type == MSGPACK_OBJECT_ARRAY && i < svcs->via.array.size;
             i++) {
            const msgpack_object *s = &svcs->via.array.ptr[i];
            const msgpack_object *name = s_map_get(s, "name");
            const msgpack_object *reps = s_map_get(s, "replicas");
            if (name && name->type == MSGPACK_OBJECT_STR && name->via.str.size == 4 &&
                memcmp(name->via.str.ptr, "echo", 4) == 0 && reps &&
                reps->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                n = (int)reps->via.u64;
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    return n;
}

/* Broker counter name from `$sys` stats (docs/protocol.md 6.6), or -1 when unavailable. */
static long long
s_broker_counter(s_bus_t *bus, const char *name)
{
    yard_call_opts_t opts = {.op = "stats", .timeout_ms = S_TIMEOUT_MS};
    yard_msg_t *m = NULL;
    long long v = -1;
    if (yard_client_call(bus->client, "$sys", NULL, 0, &opts, &m) == 0) {
        size_t size = 0;
        const char *body = yard_msg_body(m, &size);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, body, size, NULL) == MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *c = s_map_get(s_map_get(&u.data, "counters"), name);
            if (c && c->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                v = (long long)c->via.u64;
            }
        }
        msgpack_unpacked_destroy(&u);
    }
    yard_msg_destroy(&m);
    return v;
}

/* Polls `$sys` stats until echo has exactly want replicas; keeps the load going in between
 * when run is not NULL. Returns false when that does not happen within timeout_ms. */
static bool
s_wait_replicas(s_bus_t *bus, s_run_t *run, int want, long long timeout_ms)
{
    long long until = yh_now_ms() + timeout_ms;
    yard_call_opts_t opts = {.op = "stats", .timeout_ms = S_HB_MS};
    while (yh_now_ms() < until) {
        yard_msg_t *m = NULL;
        int rc = yard_client_call(bus->client, "$sys", NULL, 0, &opts, &m);
        int n = rc == 0 ? s_echo_replicas(m) : -1;
        yard_msg_destroy(&m);
        if (n == want) {
            return true;
        }
        if (run != NULL) {
            s_pump(run, 20);
        } else {
            yard_client_dispatch(bus->client, 20);
        }
    }
    return false;
}

/* --- checking the outcomes --------------------------------------------------------------- */

typedef struct {
    size_t calls, replies, zero_ends, double_ends, bad_bodies, early_timeouts, late;
    size_t by_code[S_STATUS_CODES]; /* errors by wire code */
    long long worst_late;           /* max over calls of end - (start + timeout) */
    long long worst_latency;        /* max of end - start */
} s_tally_t;

/* allowed: a mask of wire codes (1u << code) a call may end with besides a reply. Checks the
 * guarantee for every call issued, prints the figures, and returns the tally. */
static s_tally_t
s_check(s_run_t *run, const char *scenario, uint32_t allowed)
{
    s_tally_t t = {.worst_late = -(long long)S_TIMEOUT_MS};
    size_t disallowed = 0;
    for (size_t i = 0; i < run->issued; i++) {
        const s_call_t *c = s_call_at(run, i);
        t.calls++;
        if (c->ends == 0) {
            t.zero_ends++;
            continue;
        }
        t.double_ends += c->ends > 1;
        long long late = c->end - (c->start + c->timeout_ms);
        t.worst_late = late > t.worst_late ? late : t.worst_late;
        t.worst_latency = c->end - c->start > t.worst_latency ? c->end - c->start : t.worst_latency;
        t.late += late > S_HB_MS + S_SLACK_MS;
        if (c->status == 0) {
            t.replies++;
            t.bad_bodies += c->bad_body;
            continue;
        }
        uint32_t code = yard_err_to_wire(c->status);
        t.by_code[code < S_STATUS_CODES ? code : 0]++;
        disallowed += code >= S_STATUS_CODES || !(allowed & (1u << code));
        /* A TIMEOUT is only right once the deadline has really passed. */
        t.early_timeouts += c->status == YARD_E_TIMEOUT && late < 0;
    }
    printf("GUARANTEE %s: calls %zu, replies %zu, refused %zu, worst lateness %lld ms vs "
           "deadline (bound %d), worst latency %lld ms",
           scenario, t.calls, t.replies, run->refused, t.worst_late, S_HB_MS + S_SLACK_MS,
           t.worst_latency);
    for (uint32_t code = 0; code < S_STATUS_CODES; code++) {
        if (t.by_code[code]) {
            printf(", %s %zu", yard_err_name(yard_err_from_wire(code)), t.by_code[code]);
        }
    }
    printf("\n");
    fflush(stdout);
    assert_int_equal(t.zero_ends, 0);
    assert_int_equal(t.double_ends, 0);
    assert_int_equal(t.bad_bodies, 0);
    assert_int_equal(disallowed, 0);
    assert_int_equal(t.early_timeouts, 0);
    assert_int_equal(t.late, 0);
    return t;
}

/* Calls started at or after since: how many, and how many ended with a reply. */
static void
s_count_since(s_run_t *run, long long since, size_t *calls, size_t *replies)
{
    *calls = *replies = 0;
    for (size_t i = 0; i < run->issued; i++) {
        const s_call_t *c = s_call_at(run, i);
        if (c->start >= since) {
            (*calls)++;
            *replies += c->ends == 1 && c->status == 0;
        }
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
    for (int i = 0; i < S_MAX_ACTORS; i++) {
        bus->actors[i] = -1;
    }
    yard_client_opts_t copts = {.heartbeat_ms = S_HB_MS, .default_timeout_ms = S_TIMEOUT_MS};
    assert_int_equal(yard_client_new(bus->endpoint, &copts, &bus->client), 0);
    *state = bus;
    return 0;
}

static int
teardown(void **state)
{
    s_bus_t *bus = *state;
    /* The client first: it ends what is pending, and those callbacks touch the run. */
    yard_client_destroy(&bus->client);
    s_run_fini(&bus->run);
    for (int i = 0; i < S_MAX_ACTORS; i++) {
        s_kill(&bus->actors[i], SIGKILL);
    }
    s_kill(&bus->broker, SIGKILL);
    if (getenv("YARD_KEEP_LOGS") != NULL) {
        printf("logs kept in %s\n", bus->dir);
    } else {
        yh_rmtree(bus->dir);
    }
    free(bus->dir);
    free(bus);
    return 0;
}

/* A broker and n actor processes, all replicas registered. */
static void
s_up(s_bus_t *bus, int n)
{
    assert_true(s_start_broker(bus));
    for (int i = 0; i < n; i++) {
        assert_true(s_start_actor(bus, i) > 0);
    }
    assert_true(s_wait_replicas(bus, NULL, n * S_REPLICAS, S_START_MS));
}

/* --- scenarios --------------------------------------------------------------------------- */

/* Load on 3 actor processes; one is SIGKILLed outright mid-run, then a second one is frozen
 * and SIGKILLed (s_freeze_and_kill) so that the kill surely finds requests held. The third
 * serves on. Returns the calls seen held by the frozen one. */
static size_t
s_kill_two_under_load(s_bus_t *bus, long long *last_kill)
{
    s_run_t *run = &bus->run;
    s_pump(run, 700);
    s_kill(&bus->actors[0], SIGKILL);
    s_pump(run, 700);
    size_t stuck = s_freeze_and_kill(run, &bus->actors[1]);
    *last_kill = yh_now_ms();
    s_pump(run, S_SETTLE_MS + 700);
    s_finish(run);
    return stuck;
}

/* Non-idempotent calls: every call ends once, with a reply or WORKER_LOST (TIMEOUT only past
 * its deadline), in time. Odd calls have a deadline (S_SHORT_TIMEOUT_MS) shorter than the 3
 * heartbeats it takes to find the frozen replica dead, so of what it held the odd calls end
 * TIMEOUT right at their deadline and the even ones WORKER_LOST when it is dropped: both
 * sides of the bound are exercised. The survivor serves on: every call started once the
 * broker has dropped the dead replicas gets a reply. */
static void
test_kill_actor_non_idempotent(void **state)
{
    s_bus_t *bus = *state;
    s_up(bus, 3);
    s_run_init(bus, 0, S_SHORT_TIMEOUT_MS);
    s_run_t *run = &bus->run;
    long long killed;
    size_t stuck = s_kill_two_under_load(bus, &killed);

    uint32_t allowed =
        (1u << yard_err_to_wire(YARD_E_WORKER_LOST)) | (1u << yard_err_to_wire(YARD_E_TIMEOUT));
    s_tally_t t = s_check(run, "kill-actor non-idempotent", allowed);
    size_t after = 0, after_ok = 0;
    s_count_since(run, killed + S_SETTLE_MS, &after, &after_ok);
    size_t lost = t.by_code[yard_err_to_wire(YARD_E_WORKER_LOST)];
    size_t timeouts = t.by_code[yard_err_to_wire(YARD_E_TIMEOUT)];
    printf("GUARANTEE kill-actor non-idempotent: %zu calls held by the frozen replica at the "
           "kill; %zu calls started %d ms after the last kill, %zu replies; broker "
           "replicas_dead %lld, peers_unreachable %lld, late_replies %lld\n",
           stuck, after, S_SETTLE_MS, after_ok, s_broker_counter(bus, "replicas_dead"),
           s_broker_counter(bus, "peers_unreachable"), s_broker_counter(bus, "late_replies"));
    assert_true(stuck > 0);
    assert_true(lost + timeouts >= stuck);
    assert_true(after > 0);
    assert_int_equal(after_ok, after);
    assert_true(s_wait_replicas(bus, NULL, S_REPLICAS, S_START_MS));
}

/* Idempotent calls, the same two kills: what the dead replicas held is re-sent to the
 * survivor, so every call gets a reply and none ends WORKER_LOST. */
static void
test_kill_actor_idempotent(void **state)
{
    s_bus_t *bus = *state;
    s_up(bus, 3);
    s_run_init(bus, YARD_FLAG_IDEMPOTENT, 0);
    s_run_t *run = &bus->run;
    long long killed;
    size_t stuck = s_kill_two_under_load(bus, &killed);

    s_tally_t t = s_check(run, "kill-actor idempotent", 0);
    long long retries = s_broker_counter(bus, "retries");
    printf("GUARANTEE kill-actor idempotent: %zu calls held by the frozen replica at the kill; "
           "broker retries %lld, peers_unreachable %lld\n",
           stuck, retries, s_broker_counter(bus, "peers_unreachable"));
    assert_int_equal(t.replies, t.calls);
    assert_true(stuck > 0);
    assert_true(retries >= (long long)stuck);
}

/* The broker is SIGKILLed under load and restarted on the same port. What was in flight ends
 * exactly once (UNREACHABLE, TIMEOUT or a reply); the actors, never restarted, register again
 * by themselves and a call succeeds within a few heartbeats of the broker's return. */
static void
test_kill_broker(void **state)
{
    s_bus_t *bus = *state;
    s_up(bus, 2);
    s_run_init(bus, 0, 0);
    s_run_t *run = &bus->run;
    pid_t a0 = bus->actors[0], a1 = bus->actors[1];

    s_pump(run, 1000);
    size_t in_flight = run->outstanding;
    s_kill(&bus->broker, SIGKILL);
    s_finish(run);
    uint32_t allowed =
        (1u << yard_err_to_wire(YARD_E_UNREACHABLE)) | (1u << yard_err_to_wire(YARD_E_TIMEOUT));
    s_check(run, "kill-broker", allowed);
    printf("GUARANTEE kill-broker: %zu calls outstanding at the kill\n", in_flight);

    assert_true(s_start_broker(bus));
    long long back = yh_now_ms();
    long long ok_at = -1;
    size_t tries = 0;
    yard_call_opts_t opts = {.timeout_ms = S_HB_MS};
    while (yh_now_ms() < back + S_START_MS) {
        uint8_t body[5];
        s_body(7, body);
        yard_msg_t *m = NULL;
        int rc = yard_client_call(bus->client, "echo", body, sizeof body, &opts, &m);
        yard_msg_destroy(&m);
        tries++;
        if (rc == 0) {
            ok_at = yh_now_ms();
            break;
        }
        /* UNREACHABLE/TIMEOUT while reconnecting; never NO_SERVICE: the new broker holds
         * calls in its start-up grace until the replicas have found it. */
        assert_true(rc == YARD_E_UNREACHABLE || rc == YARD_E_TIMEOUT);
        yard_client_dispatch(bus->client, 10);
    }
    printf("GUARANTEE kill-broker: first reply %lld ms after the broker's port opened (%zu "
           "calls)\n",
           ok_at < 0 ? -1 : ok_at - back, tries);
    assert_true(ok_at >= 0);
    /* "A few heartbeats": the broker is down for well under 100 ms here, so the actors'
     * ZeroMQ reconnect (every 100 ms at first, doubling) and their READY fit in about one
     * interval (seen: 180-190 ms); 5 intervals leave room for a slow, shared box. */
    assert_true(ok_at - back <= 5 * S_HB_MS);
    assert_true(s_wait_replicas(bus, NULL, 2 * S_REPLICAS, S_START_MS));
    assert_true(s_alive(a0, NULL));
    assert_true(s_alive(a1, NULL));
}

/* Rolling restart: two actor processes under load; each in turn is SIGTERMed (it drains) and
 * replaced, the next one stopped only once its replacement has registered. Zero errors. */
static void
test_rolling_restart(void **state)
{
    s_bus_t *bus = *state;
    s_up(bus, 2);
    s_run_init(bus, 0, 0);
    s_run_t *run = &bus->run;

    s_pump(run, 500);
    long long worst_stop = 0;
    for (int slot = 0; slot < 2; slot++) {
        pid_t old = bus->actors[slot];
        long long t0 = yh_now_ms();
        assert_int_equal(kill(old, SIGTERM), 0);
        int status = 0;
        bool exited = s_pump_until_exit(run, old, S_DRAIN_MS + 2000, &status);
        if (exited) {
            bus->actors[slot] = -1;
            worst_stop = yh_now_ms() - t0 > worst_stop ? yh_now_ms() - t0 : worst_stop;
        }
        assert_true(exited);
        /* A drained stop is a clean exit (under ASan this also means no leak). */
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_true(s_start_actor(bus, slot) > 0);
        assert_true(s_wait_replicas(bus, run, 2 * S_REPLICAS, S_START_MS));
        s_pump(run, 300);
    }
    s_finish(run);

    s_tally_t t = s_check(run, "rolling restart", 0);
    printf("GUARANTEE rolling restart: slowest SIGTERM-to-exit %lld ms\n", worst_stop);
    assert_int_equal(t.replies, t.calls);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_actor_non_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_actor_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_broker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolling_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
