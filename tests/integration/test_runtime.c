/* The client and the actor runtime end to end, through a real broker running in this process
 * on a free TCP port: replicas sharing work, pipelined async calls, deferred answers from
 * another thread, deadlines, NO_SERVICE, a broker restart, pub/sub fan-out, drain on stop and
 * client failover between two brokers. Every wait polls the client with a deadline. */
#include "bus_json.h"
#include "harness.h"
#include "json_doc.h"
#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <time.h>

#define S_HB 100 /* heartbeat everywhere, so that failures are seen in tenths of a second */

/* --- a test actor: "rt" ------------------------------------------------------------------ */

static atomic_int s_per_replica[8];
static atomic_int s_held; /* requests the slow op has taken */

typedef struct {
    int replica;
} s_state_t;

/* A worker thread that completes deferred tokens after a delay (simulated slow work). */
typedef struct s_job {
    yard_deferred_t *d;
    long long due_ms;
    char body[64];
    size_t size;
    struct s_job *next;
} s_job_t;

static pthread_mutex_t s_jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_jobs_cond = PTHREAD_COND_INITIALIZER;
static s_job_t *s_jobs;
static bool s_jobs_quit;
static pthread_t s_worker;

static void *
s_worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&s_jobs_lock);
    for (;;) {
        while (!s_jobs && !s_jobs_quit) {
            pthread_cond_wait(&s_jobs_cond, &s_jobs_lock);
        }
        if (!s_jobs && s_jobs_quit) {
            break;
        }
        s_job_t *j = s_jobs;
        long long now = yh_now_ms();
        if (j->due_ms > now) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            long long wait = j->due_ms - now;
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s_jobs_cond, &s_jobs_lock, &ts);
            continue;
        }
        s_jobs = j->next;
        pthread_mutex_unlock(&s_jobs_lock);
        yard_deferred_reply(&j->d, j->body, j->size);
        free(j);
        pthread_mutex_lock(&s_jobs_lock);
    }
    pthread_mutex_unlock(&s_jobs_lock);
    return NULL;
}

/* Queues d for completion after delay_ms (jobs complete in order of submission). */
static void
s_job_add(yard_deferred_t *d, const void *body, size_t size, int delay_ms)
{
    s_job_t *j = calloc(1, sizeof *j);
    assert_non_null(j);
    j->d = d;
    j->due_ms = yh_now_ms() + delay_ms;
    j->size = size < sizeof j->body ? size : sizeof j->body;
    memcpy(j->body, body, j->size);
    pthread_mutex_lock(&s_jobs_lock);
    s_job_t **pp = &s_jobs;
    while (*pp) {
        pp = &(*pp)->next;
    }
    *pp = j;
    pthread_cond_signal(&s_jobs_cond);
    pthread_mutex_unlock(&s_jobs_lock);
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    ((s_state_t *)state)->replica = env->replica;
    return 0;
}

static int
s_op_echo(yard_request_t *req, void *state)
{
    s_state_t *st = state;
    atomic_fetch_add(&s_per_replica[st->replica & 7], 1);
    size_t size;
    const void *body = yard_request_body(req, &size);
    return yard_request_reply(req, body, size);
}

static int
s_op_defer(yard_request_t *req, void *state)
{
    (void)state;
    size_t size;
    const void *body = yard_request_body(req, &size);
    yard_deferred_t *d = yard_request_defer(req);
    assert_non_null(d);
    assert_int_equal(yard_request_reply(req, body, size), YARD_E_INVALID);
    s_job_add(d, body, size, 0);
    return 0;
}

static int
s_op_slow(yard_request_t *req, void *state)
{
    (void)state;
    size_t size;
    const void *body = yard_request_body(req, &size);
    yard_deferred_t *d = yard_request_defer(req);
    atomic_fetch_add(&s_held, 1);
    s_job_add(d, body, size, 300);
    return 0;
}

static _Atomic(yard_deferred_t *) s_hung; /* set by the replica thread */

static int
s_op_hang(yard_request_t *req, void *state)
{
    (void)state;
    atomic_store(&s_hung, yard_request_defer(req)); /* completed by the test, late */
    return 0;
}

static int
s_op_fail(yard_request_t *req, void *state)
{
    (void)state;
    assert_int_equal(yard_request_set_header(req, "http.status", "404"), 0);
    return yard_request_fail(req, YARD_E_SERVICE, "no_such_user", "user 42 does not exist");
}

/* Answer headers set before deferring travel with the token; one set on the token too. */
static int
s_op_created(yard_request_t *req, void *state)
{
    (void)state;
    assert_int_equal(yard_request_set_header(req, "http.status", "200"), 0);
    assert_int_equal(yard_request_set_header(req, "http.status", "201"), 0); /* replaces */
    size_t size;
    const void *body = yard_request_body(req, &size);
    yard_deferred_t *d = yard_request_defer(req);
    assert_int_equal(yard_request_set_header(req, "late", "x"), YARD_E_INVALID);
    assert_int_equal(yard_deferred_set_header(d, "http.header.Location", "/v1/things/7"), 0);
    s_job_add(d, body, size, 0);
    return 0;
}

static const yard_handler_def_t s_handlers[] = {
    {"defer", s_op_defer, "answers from another thread"},
    {"slow", s_op_slow, "answers from another thread after 300 ms"},
    {"hang", s_op_hang, "never answers by itself"},
    {"fail", s_op_fail, "fails with a service error"},
    {"created", s_op_created, "answers later with headers"},
    {NULL, s_op_echo, "echoes"},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_rt = {
    .name = "rt",
    .description = "runtime test actor",
    .handlers = s_handlers,
    .state_size = sizeof(s_state_t),
    .credit = 32,
    .init = s_init,
};

/* --- fixtures ---------------------------------------------------------------------------- */

static yard_broker_t *
s_broker(const char *endpoint)
{
    yard_broker_opts_t o = {.bind = (char *)endpoint, .heartbeat_ms = S_HB, .grace_ms = 2000};
    /* The CURVE run (curve.cmake): the broker takes its keys from the environment too. */
    o.curve_key = getenv("YARD_CURVE_KEY");
    o.curve_keys_dir = getenv("YARD_CURVE_KEYS_DIR");
    yard_broker_t *b = NULL;
    assert_int_equal(yard_broker_new(&o, NULL, &b), 0);
    assert_int_equal(yard_broker_start(b), 0);
    return b;
}

static yard_actor_t *
s_actor_fill(const char *brokers, int replicas, bool fill)
{
    yard_actor_opts_t o = {.broker = (char *)brokers,
                           .replicas = replicas,
                           .heartbeat_ms = S_HB,
                           .drain_ms = 3000,
                           .fill = fill};
    yard_actor_t *a = NULL;
    assert_int_equal(yard_actor_start(&s_rt, &o, NULL, &a), 0);
    return a;
}

static yard_actor_t *
s_actor(const char *brokers, int replicas)
{
    yard_actor_opts_t o = {
        .broker = (char *)brokers, .replicas = replicas, .heartbeat_ms = S_HB, .drain_ms = 3000};
    yard_actor_t *a = NULL;
    assert_int_equal(yard_actor_start(&s_rt, &o, NULL, &a), 0);
    return a;
}

static yard_client_t *
s_client(const char *brokers)
{
    yard_client_opts_t o = {.heartbeat_ms = S_HB, .default_timeout_ms = 3000};
    yard_client_t *c = NULL;
    assert_int_equal(yard_client_new(brokers, &o, &c), 0);
    return c;
}

/* Calls until the service is registered (a fresh broker answers NO_SERVICE until the first
 * READY arrives), up to a deadline. Returns the last status. */
static int
s_call_until_up(yard_client_t *c, const char *body, int deadline_ms)
{
    long long until = yh_now_ms() + deadline_ms;
    yard_call_opts_t co = {.timeout_ms = 1000};
    int rc;
    do {
        yard_msg_t *reply = NULL;
        rc = yard_client_call(c, "rt", body, strlen(body), &co, &reply);
        if (rc == 0) {
            size_t size;
            const void *got = yard_msg_body(reply, &size);
            assert_int_equal(size, strlen(body));
            assert_memory_equal(got, body, size);
        }
        yard_msg_destroy(&reply);
    } while (rc != 0 && yh_now_ms() < until);
    return rc;
}

typedef struct {
    int done;
    int ok;
    int errors[32];
    char last[64];
} s_tally_t;

static void
s_tally_cb(const yard_msg_t *reply, void *arg)
{
    s_tally_t *t = arg;
    t->done++;
    int st = yard_msg_status(reply);
    if (st == 0) {
        t->ok++;
    } else if (-st < 32) {
        t->errors[-st]++;
    }
}

static void
s_wait_done(yard_client_t *c, s_tally_t *t, int want, int deadline_ms)
{
    long long until = yh_now_ms() + deadline_ms;
    while (t->done < want && yh_now_ms() < until) {
        yard_client_dispatch(c, 50);
    }
    assert_int_equal(t->done, want);
}

/* --- tests ------------------------------------------------------------------------------- */

static void
test_three_replicas_share_work(void **state)
{
    (void)state;
    const char *ep = yh_endpoint(yh_free_port());
    char *ept = strdup(ep);
    yard_broker_t *b = s_broker(ept);
    yard_actor_t *a = s_actor(ept, 3);
    yard_client_t *c = s_client(ept);
    for (int i = 0; i < 8; i++) {
        atomic_store(&s_per_replica[i], 0);
    }
    assert_int_equal(s_call_until_up(c, "\xa5hello", 5000), 0);
    /* All three replicas must have registered: keep calling in bursts until each has work. */
    long long until = yh_now_ms() + 5000;
    s_tally_t t = {0};
    int sent = 0;
    while (yh_now_ms() < until &&
           (atomic_load(&s_per_replica[0]) == 0 || atomic_load(&s_per_replica[1]) == 0 ||
            atomic_load(&s_per_replica[2]) == 0)) {
        for (int i = 0; i < 30; i++, sent++) {
            assert_int_equal(yard_client_call_async(c, "rt", "\xc0", 1, NULL, s_tally_cb, &t), 0);
        }
        s_wait_done(c, &t, sent, 5000);
    }
    assert_int_equal(t.ok, sent);
    for (int i = 0; i < 3; i++) {
        assert_true(atomic_load(&s_per_replica[i]) > 0);
    }
    yard_client_destroy(&c);
    yard_actor_destroy(&a);
    yard_broker_destroy(&b);
    free(ept);
}

/* How many of rt's replicas `$sys replicas` lists with "fill": true, once it lists want of
 * them (they register one by one), up to a deadline; -1 when it never listed want. */
static int
s_replicas_filling(yard_client_t *c, long want)
{
    long long until = yh_now_ms() + 5000;
    while (yh_now_ms() < until) {
        yh_result_t r = yh_call_json(c, "$sys", "replicas", "{\"service\":\"rt\"}", NULL, 1000);
        yh_json_t *doc = r.status == 0 && r.json ? yh_json_parse(r.json, strlen(r.json)) : NULL;
        yh_result_free(&r);
        const msgpack_object *reps = doc ? yh_json_at(yh_json_root(doc), "replicas") : NULL;
        if (reps && yh_json_count(reps, "") == want) {
            int filling = 0;
            for (uint32_t i = 0; i < reps->via.array.size; i++) {
                filling += yh_json_bool(&reps->via.array.ptr[i], "fill") == 1;
            }
            yh_json_destroy(&doc);
            return filling;
        }
        yh_json_destroy(&doc);
        yard_client_dispatch(c, 20);
    }
    return -1;
}

/* Zeroes the replicas' counts. */
static void
s_counts_reset(void)
{
    for (int i = 0; i < 8; i++) {
        atomic_store(&s_per_replica[i], 0);
    }
}

/* The replicas' counts, in decreasing order. */
static void
s_counts_sorted(int out[3])
{
    for (int i = 0; i < 3; i++) {
        out[i] = atomic_load(&s_per_replica[i]);
    }
    for (int i = 0; i < 3; i++) {
        for (int k = i + 1; k < 3; k++) {
            if (out[k] > out[i]) {
                int t = out[i];
                out[i] = out[k];
                out[k] = t;
            }
        }
    }
}

/* n calls to rt, one at a time, each answered; then how the replicas shared them (sorted). */
static void
s_one_at_a_time(yard_client_t *c, int n, int counts[3])
{
    s_counts_reset();
    for (int i = 0; i < n; i++) {
        yard_msg_t *reply = NULL;
        assert_int_equal(yard_client_call(c, "rt", "\xc0", 1, NULL, &reply), 0);
        yard_msg_destroy(&reply);
    }
    s_counts_sorted(counts);
}

/* With fill (READY FILL, docs/protocol.md 6.1) the broker keeps giving requests to the replica
 * it took last while that one has credit: calls one at a time all land on one replica, and a
 * burst larger than its credit fills it, then the next replica takes the rest. */
static void
test_fill_keeps_one_replica_busy(void **state)
{
    (void)state;
    const char *ep = yh_endpoint(yh_free_port());
    char *ept = strdup(ep);
    yard_broker_t *b = s_broker(ept);
    yard_actor_t *a = s_actor_fill(ept, 3, true);
    yard_client_t *c = s_client(ept);
    assert_int_equal(s_call_until_up(c, "\xa5hello", 5000), 0);
    assert_int_equal(s_replicas_filling(c, 3), 3);
    int n[3];
    s_one_at_a_time(c, 20, n);
    assert_int_equal(n[0], 20); /* round-robin would give each about 7 */
    assert_int_equal(n[1], 0);
    s_counts_reset();
    /* One batch (corked) of 40 against a credit of 32 each: the broker routes all of it in one
     * turn, before any answer can return credit. */
    s_tally_t t = {0};
    yard_client_cork(c);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(yard_client_call_async(c, "rt", "\xc0", 1, NULL, s_tally_cb, &t), 0);
    }
    yard_client_uncork(c);
    s_wait_done(c, &t, 40, 5000);
    assert_int_equal(t.ok, 40);
    s_counts_sorted(n);
    assert_int_equal(n[0], 32);
    assert_int_equal(n[1], 8);
    assert_int_equal(n[2], 0);
    yard_client_destroy(&c);
    yard_actor_destroy(&a);
    /* Without fill, READY does not ask for it, and calls one at a time go round. */
    a = s_actor_fill(ept, 3, false);
    c = s_client(ept);
    assert_int_equal(s_call_until_up(c, "\xa5hello", 5000), 0);
    assert_int_equal(s_replicas_filling(c, 3), 0);
    s_one_at_a_time(c, 30, n);
    assert_int_equal(n[0], 10);
    assert_int_equal(n[2], 10);
    yard_client_destroy(&c);
    yard_actor_destroy(&a);
    yard_broker_destroy(&b);
    free(ept);
}

typedef struct {
    int done;
    int bad;
} s_pipe_t;

static void
s_pipe_cb(const yard_msg_t *reply, void *arg)
{
    s_pipe_t *p = arg;
    size_t size;
    const unsigned char *body = yard_msg_body(reply, &size);
    if (yard_msg_status(reply) != 0 || size != 5 || body[0] != 0xce) {
        p->bad++;
    }
    p->done++;
}

static void
test_async_pipelined(void **state)
{
    (void)state;
    char *ep = strdup(yh_endpoint(yh_free_port()));
    yard_broker_t *b = s_broker(ep);
    yard_actor_t *a = s_actor(ep, 2);
    yard_client_t *c = s_client(ep);
    assert_int_equal(s_call_until_up(c, "\x01", 5000), 0);
    s_pipe_t p = {0};
    const int total = 5000, window = 64;
    int sent = 0;
    long long until = yh_now_ms() + 8000;
    while (p.done < total && yh_now_ms() < until) {
        while (sent < total && sent - p.done < window) {
            unsigned char body[5] = {0xce, (unsigned char)(sent >> 24), (unsigned char)(sent >> 16),
                                     (unsigned char)(sent >> 8), (unsigned char)sent};
            assert_int_equal(yard_client_call_async(c, "rt", body, 5, NULL, s_pipe_cb, &p), 0);
            sent++;
        }
        yard_client_dispatch(c, 100);
    }
    assert_int_equal(p.done, total);
    assert_int_equal(p.bad, 0);
    assert_int_equal(yard_client_pending(c), 0);
    yard_client_destroy(&c);
    yard_actor_destroy(&a);
    yard_broker_destroy(&b);
    free(ep);
}

static void
test_deferred_and_errors(void **state)
{
    (void)state;
    char *ep = strdup(yh_endpoint(yh_free_port()));
    yard_broker_t *b = s_broker(ep);
    yard_actor_t *a = s_actor(ep, 1);
    yard_client_t *c = s_client(ep);
    assert_int_equal(s_call_until_up(c, "\x02", 5000), 0);

    /* A deferred answer from another thread. */
    yard_call_opts_t co = {.op = "defer"};
    yard_msg_t *reply = NULL;
    assert_int_equal(yard_client_call(c, "rt", "\xa2hi", 3, &co, &reply), 0);
    size_t size;
    assert_memory_equal(yard_msg_body(reply, &size), "\xa2hi", 3);
    yard_msg_destroy(&reply);

    /* A service error carries its name and text. */
    co.op = "fail";
    assert_int_equal(yard_client_call(c, "rt", "\xc0", 1, &co, &reply), YARD_E_SERVICE);
    assert_non_null(reply);
    assert_string_equal(yard_msg_app_error(reply), "no_such_user");
    assert_string_equal(yard_msg_error_text(reply), "user 42 does not exist");
    assert_string_equal(yard_msg_header(reply, "http.status"), "404"); /* through the broker */
    yard_msg_destroy(&reply);

    /* Answer headers reach the caller, from a deferred answer too. */
    co.op = "created";
    assert_int_equal(yard_client_call(c, "rt", "\xc0", 1, &co, &reply), 0);
    assert_string_equal(yard_msg_header(reply, "http.status"), "201");
    assert_string_equal(yard_msg_header(reply, "http.header.Location"), "/v1/things/7");
    assert_null(yard_msg_header(reply, "late"));
    yard_msg_destroy(&reply);

    /* A handler that does not answer by the deadline: TIMEOUT, and a late completion is
     * refused. */
    co.op = "hang";
    co.timeout_ms = 300;
    long long t0 = yh_now_ms();
    assert_int_equal(yard_client_call(c, "rt", "\xc0", 1, &co, &reply), YARD_E_TIMEOUT);
    assert_true(yh_now_ms() - t0 < 300 + 3 * S_HB + 200);
    yard_msg_destroy(&reply);
    yard_deferred_t *hung = atomic_exchange(&s_hung, NULL);
    assert_non_null(hung);
    /* The replica's deadline (the broker's remaining time at forwarding) is no later than the
     * broker's, so by now its runtime has answered TIMEOUT or is about to: give its loop one
     * poll interval, then a late completion is refused. */
    yard_client_dispatch(c, 100);
    assert_int_equal(yard_deferred_reply(&hung, "\xc0", 1), YARD_E_TIMEOUT);
    assert_null(hung);

    /* No such service. */
    assert_int_equal(yard_client_call(c, "nobody", "\xc0", 1, NULL, &reply), YARD_E_NO_SERVICE);
    yard_msg_destroy(&reply);

    yard_client_destroy(&c);
    yard_actor_destroy(&a);
    yard_broker_destroy(&b);
    free(ep);
}

static void *
s_poke_later(void *arg)
{
    int fd = *(int *)arg;
    usleep(50 * 1000); /* the event under test: a write while the client waits */
    uint64_t one = 1;
    assert_int_equal(write(fd, &one, sizeof one), sizeof one);
    return NULL;
}

/* A client's owner thread can wait on the bus and on its own descriptor at once: it wakes
 * for the descriptor without polling, and still runs callbacks as replies arrive. */
static void
test_dispatch_fd(void **state)
{
    (void)state;
    char *ep = strdup(yh_endpoint(yh_free_port()));
    yard_broker_t *b = s_broker(ep);
    yard_actor_t *a = s_actor(ep, 1);
    yard_client_t *c = s_client(ep);
    assert_int_equal(s_call_until_up(c, "\x01", 5000), 0);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(efd >= 0);

    bool ready = true;
    assert_int_equal(yard_client_dispatch_fd(c, -1, -1, &ready), YARD_E_INVALID);

    /* A reply: the callback runs, the descriptor stays quiet. */
    s_tally_t t = {0};
    assert_int_equal(yard_client_call_async(c, "rt", "\x02", 1, NULL, s_tally_cb, &t), 0);
    long long until = yh_now_ms() + 3000;
    while (t.done == 0 && yh_now_ms() < until) {
        assert_true(yard_client_dispatch_fd(c, 1000, efd, &ready) >= 0);
        assert_false(ready);
    }
    assert_int_equal(t.ok, 1);

    /* Nothing outstanding: a write from another thread ends the wait, long before its 10 s. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_poke_later, &efd), 0);
    long long t0 = yh_now_ms();
    assert_int_equal(yard_client_dispatch_fd(c, 10000, efd, &ready), 0);
    assert_true(ready);
    assert_true(yh_now_ms() - t0 < 5000);
    pthread_join(th, NULL);

    close(efd);
    yard_client_destroy(&c);
    yard_actor_destroy(&a);
    yard_broker_destroy(&b);
    free(ep);
}

static void
test_broker_restart(void **state)
{
    (void)state;
    char *ep = strdup(yh_endpoint(yh_free_port()));
    yard_broker_t *b = s_broker(ep);
    yard_actor_t *a = s_actor(ep, 2);
    yard_client_t *c = s_client(ep);
    assert_int_equal(s_call_until_up(c, "\x03", 5000), 0);
    yard_broker_destroy(&b);
    b = s_broker(ep);
    /* The replicas re-register by themselves; the client reconnects by itself. */
    assert_int_equal(s_call_until_up(c, "\x04", 8000), 0);
    yard_client_destroy(&c);
    yard_actor_destroy(&a);
    yard_broker_destroy(&b);
    free(ep);
}

typedef struct {
    int got;
    char subject[64];
} s_sub_t;

static void
s_sub_cb(const yard_msg_t *msg, void *arg)
{
    s_sub_t *s = arg;
    s->got++;
    snprintf(s->subject, sizeof s->subject, "%s", yard_msg_subject(msg));
}

static void
test_pubsub_fanout(void **state)
{
    (void)state;
    char *ep = strdup(yh_endpoint(yh_free_port()));
    yard_broker_t *b = s_broker(ep);
    yard_client_t *pub = s_client(ep);
    yard_client_t *s1 = s_client(ep);
    yard_client_t *s2 = s_client(ep);
    s_sub_t r1 = {0}, r2 = {0}, r3 = {0};
    assert_int_equal(yard_client_subscribe(s1, "jobs.*", s_sub_cb, &r1), 0);
    assert_int_equal(yard_client_subscribe(s2, "jobs.>", s_sub_cb, &r2), 0);
    assert_int_equal(yard_client_subscribe(s2, "other.x", s_sub_cb, &r3), 0);
    assert_int_equal(yard_client_subscribe(s1, "bad..pattern", s_sub_cb, &r3), YARD_E_INVALID);
    /* Subscriptions are not acknowledged: publish until both have one (at-most-once). */
    long long until = yh_now_ms() + 5000;
    while ((r1.got == 0 || r2.got == 0) && yh_now_ms() < until) {
        assert_int_equal(yard_client_publish(pub, "jobs.mail", "\x01", 1), 0);
        yard_client_dispatch(pub, 0);
        yard_client_dispatch(s1, 20);
        yard_client_dispatch(s2, 20);
    }
    assert_true(r1.got > 0);
    assert_true(r2.got > 0);
    assert_int_equal(r3.got, 0);
    assert_string_equal(r1.subject, "jobs.mail");
    assert_string_equal(r2.subject, "jobs.mail");
    assert_int_equal(yard_client_publish(pub, "jobs.*", "\x01", 1), YARD_E_INVALID);
    yard_client_destroy(&pub);
    yard_client_destroy(&s1);
    yard_client_destroy(&s2);
    yard_broker_destroy(&b);
    free(ep);
}

static void *
s_stopper(void *arg)
{
    yard_actor_stop(arg);
    return NULL;
}

static void
test_drain_loses_nothing(void **state)
{
    (void)state;
    char *ep = strdup(yh_endpoint(yh_free_port()));
    yard_broker_t *b = s_broker(ep);
    yard_actor_t *a = s_actor(ep, 2);
    yard_client_t *c = s_client(ep);
    assert_int_equal(s_call_until_up(c, "\x05", 5000), 0);
    atomic_store(&s_held, 0);
    s_tally_t t = {0};
    yard_call_opts_t co = {.op = "slow"};
    const int n = 20;
    for (int i = 0; i < n; i++) {
        assert_int_equal(yard_client_call_async(c, "rt", "\xc0", 1, &co, s_tally_cb, &t), 0);
    }
    long long until = yh_now_ms() + 5000;
    while (atomic_load(&s_held) < n && yh_now_ms() < until) {
        yard_client_dispatch(c, 20);
    }
    assert_int_equal(atomic_load(&s_held), n);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_stopper, a), 0);
    s_wait_done(c, &t, n, 5000);
    assert_int_equal(t.ok, n);
    pthread_join(th, NULL);
    yard_client_destroy(&c);
    yard_actor_destroy(&a);
    yard_broker_destroy(&b);
    free(ep);
}

static void
test_client_failover(void **state)
{
    (void)state;
    char *e1 = strdup(yh_endpoint(yh_free_port()));
    char *e2 = strdup(yh_endpoint(yh_free_port()));
    char both[160];
    snprintf(both, sizeof both, "%s,%s", e1, e2);
    yard_broker_t *b1 = s_broker(e1);
    yard_broker_t *b2 = s_broker(e2);
    yard_actor_t *a = s_actor(both, 1); /* registers with both brokers */
    yard_client_t *c = s_client(both);  /* uses the first until it fails */
    assert_int_equal(s_call_until_up(c, "\x06", 5000), 0);
    /* Make sure the second broker knows the service too before the first goes away. */
    yard_client_t *c2 = s_client(e2);
    assert_int_equal(s_call_until_up(c2, "\x07", 5000), 0);
    yard_client_destroy(&c2);
    yard_broker_destroy(&b1);
    /* An idempotent call survives: re-sent through the second broker if the first took it. */
    yard_call_opts_t co = {.flags = YARD_FLAG_IDEMPOTENT, .timeout_ms = 3000};
    yard_msg_t *reply = NULL;
    long long t0 = yh_now_ms();
    assert_int_equal(yard_client_call(c, "rt", "\x08", 1, &co, &reply), 0);
    assert_true(yh_now_ms() - t0 < 3000);
    yard_msg_destroy(&reply);
    assert_int_equal(s_call_until_up(c, "\x09", 3000), 0);
    yard_client_destroy(&c);
    yard_actor_destroy(&a);
    yard_broker_destroy(&b2);
    free(e1);
    free(e2);
}

static void
test_unreachable_and_shutdown(void **state)
{
    (void)state;
    /* No broker at all: a call ends TIMEOUT at its deadline plus one heartbeat at most, or
     * UNREACHABLE when the client gives the broker up first. */
    char *ep = strdup(yh_endpoint(yh_free_port()));
    yard_client_t *c = s_client(ep);
    yard_call_opts_t co = {.timeout_ms = 200};
    long long t0 = yh_now_ms();
    int rc = yard_client_call(c, "rt", "\xc0", 1, &co, NULL);
    assert_true(rc == YARD_E_TIMEOUT || rc == YARD_E_UNREACHABLE);
    assert_true(yh_now_ms() - t0 < 200 + 3 * S_HB + 300);
    s_tally_t t = {0};
    co.timeout_ms = 60000;
    assert_int_equal(yard_client_call_async(c, "rt", "\xc0", 1, &co, s_tally_cb, &t), 0);
    assert_int_equal(yard_client_pending(c), 1);
    yard_client_destroy(&c);
    assert_int_equal(t.done, 1);
    assert_int_equal(t.errors[-YARD_E_SHUTDOWN], 1);
    free(ep);
}

static int
s_setup(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_WARN);
    return pthread_create(&s_worker, NULL, s_worker_main, NULL);
}

static int
s_teardown(void **state)
{
    (void)state;
    pthread_mutex_lock(&s_jobs_lock);
    s_jobs_quit = true;
    pthread_cond_signal(&s_jobs_cond);
    pthread_mutex_unlock(&s_jobs_lock);
    pthread_join(s_worker, NULL);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_replicas_share_work),
        cmocka_unit_test(test_fill_keeps_one_replica_busy),
        cmocka_unit_test(test_async_pipelined),
        cmocka_unit_test(test_deferred_and_errors),
        cmocka_unit_test(test_dispatch_fd),
        cmocka_unit_test(test_broker_restart),
        cmocka_unit_test(test_pubsub_fanout),
        cmocka_unit_test(test_drain_loses_nothing),
        cmocka_unit_test(test_client_failover),
        cmocka_unit_test(test_unreachable_and_shutdown),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
