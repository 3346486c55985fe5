/* slow_actor: a test actor whose every request takes a time the caller chooses, so that a
 * test can be sure a replica holds requests when it kills it (echo answers in microseconds,
 * so a kill finds almost nothing held).
 *
 * Service "slow", any op. The body is a msgpack map with an "ms" key holding a positive
 * integer (other keys are ignored and come back unchanged), or a plain positive integer: the
 * milliseconds of "work". The handler defers the request; the replica's timer thread replies
 * with the request's own body once that time has passed. A body that is neither, or an "ms"
 * of 0 or over S_MAX_MS, fails BAD_REQUEST at once.
 *
 * Invariant: every deferred token is completed exactly once, by the timer thread: when due,
 * or at fini (the replica has drained; what is left is answered SHUTDOWN, which the runtime
 * drops because it already answered TIMEOUT). fini joins the thread, so a SIGTERMed process
 * exits with nothing leaked. Each replica has its own thread and queue (its state).
 *
 * A program like any actor: yard_actor_main() gives it --broker, --heartbeat-ms, --replicas,
 * --credit, --drain-ms and --help. */
#include "yard/actor.h"
#include "yard/error.h"

#include <msgpack.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_MAX_MS 60000 /* longer "work" is a caller's mistake, not a test of deadlines */

typedef struct s_job {
    struct s_job *next;
    yard_deferred_t *d;
    long long due_ms; /* CLOCK_MONOTONIC */
    size_t size;
    unsigned char body[]; /* the request's body, the reply */
} s_job_t;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    s_job_t *jobs;       /* sorted by due_ms, earliest first */
    bool quit;
    bool started;
    pthread_t thread;
} s_state_t;

static long long
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Completes due jobs (all of them once quit is set) until quit and nothing is left. */
static void *
s_timer_main(void *arg)
{
    s_state_t *st = arg;
    pthread_mutex_lock(&st->lock);
    for (;;) {
        s_job_t *j = st->jobs;
        if (j == NULL) {
            if (st->quit) {
                break;
            }
            pthread_cond_wait(&st->cond, &st->lock);
            continue;
        }
        long long now = s_now_ms();
        if (!st->quit && j->due_ms > now) {
            struct timespec ts;
            ts.tv_sec = (time_t)(j->due_ms / 1000);
            ts.tv_nsec = (long)(j->due_ms % 1000) * 1000000L;
            pthread_cond_timedwait(&st->cond, &st->lock, &ts);
            continue; /* woken early by a new earlier job, by quit, or spuriously */
        }
        st->jobs = j->next;
        bool quit = st->quit;
        pthread_mutex_unlock(&st->lock);
        /* YARD_E_TIMEOUT when the runtime already answered at the deadline: nothing to do. */
        if (quit) {
            yard_deferred_fail(&j->d, YARD_E_SHUTDOWN, NULL, "slow_actor stopped");
        } else {
            yard_deferred_reply(&j->d, j->body, j->size);
        }
        free(j);
        pthread_mutex_lock(&st->lock);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    (void)env;
    s_state_t *st = state;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&st->lock, NULL);
    if (pthread_create(&st->thread, NULL, s_timer_main, st) != 0) {
        pthread_cond_destroy(&st->cond);
        pthread_mutex_destroy(&st->lock);
        return YARD_E_INTERNAL;
    }
    st->started = true;
    return 0;
}

static void
s_fini(void *state)
{
    s_state_t *st = state;
    if (!st->started) {
        return;
    }
    pthread_mutex_lock(&st->lock);
    st->quit = true;
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->lock);
    pthread_join(st->thread, NULL);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->lock);
    st->started = false;
}

/* The requested milliseconds, or 0 when the body asks for none that is valid. */
static uint64_t
s_requested_ms(const msgpack_object *o)
{
    if (o == NULL) {
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return o->via.u64 <= S_MAX_MS ? o->via.u64 : 0;
    }
    if (o->type != MSGPACK_OBJECT_MAP) {
        return 0;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 2 &&
            memcmp(k->via.str.ptr, "ms", 2) == 0) {
            const msgpack_object *v = &o->via.map.ptr[i].val;
            return v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= S_MAX_MS ? v->via.u64
                                                                                        : 0;
        }
    }
    return 0;
}

static int
s_slow(yard_request_t *req, void *state)
{
    s_state_t *st = state;
    uint64_t ms = s_requested_ms(yard_request_object(req));
    if (ms == 0) {
        return yard_request_fail(req, YARD_E_BAD_REQUEST, NULL,
                                 "body: {\"ms\": 1..60000} or a positive integer");
    }
    size_t size = 0;
    const void *body = yard_request_body(req, &size);
    s_job_t *j = malloc(sizeof *j + size);
    if (j == NULL) {
        abort();
    }
    j->d = yard_request_defer(req);
    if (j->d == NULL) {
        free(j);
        return YARD_E_INTERNAL; /* already answered: cannot happen in a fresh handler */
    }
    j->due_ms = s_now_ms() + (long long)ms;
    j->size = size;
    if (size) {
        memcpy(j->body, body, size);
    }
    pthread_mutex_lock(&st->lock);
    s_job_t **pp = &st->jobs;
    while (*pp != NULL && (*pp)->due_ms <= j->due_ms) {
        pp = &(*pp)->next;
    }
    j->next = *pp;
    *pp = j;
    if (st->jobs == j) {
        pthread_cond_signal(&st->cond); /* the new earliest: the timer sleeps too long */
    }
    pthread_mutex_unlock(&st->lock);
    return 0;
}

static const yard_handler_def_t s_handlers[] = {
    {NULL, s_slow, "replies with the body after the milliseconds it asks for ({\"ms\": N} or N)"},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_def = {
    .name = "slow",
    .description = "test actor: replies with the body after {\"ms\": N} (or N) milliseconds",
    .handlers = s_handlers,
    .state_size = sizeof(s_state_t),
    .credit = 8,
    .init = s_init,
    .fini = s_fini,
};

int
main(int argc, char **argv)
{
    return yard_actor_main(&s_def, argc, argv);
}
