/* The bench's held echo (contract in bench_echo.h). */
#include "bench_echo.h"

#include "yard/error.h"
#include "yard/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    uint64_t due_ns;
    yard_deferred_t *d;
    void *body;
    size_t size;
    bool fail;
} s_held_t;

/* The replica's held requests: a FIFO ring and the timerfd armed for its head. */
typedef struct {
    int tfd;
    s_held_t *ring;
    uint32_t cap, head, count;
    uint64_t last_due_ns; /* serial: when the request before the next one is done */
} s_hold_t;

typedef struct {
    s_hold_t *hold; /* owned by the loop source (destroyed with it) */
    uint64_t n;     /* requests seen */
} s_state_t;

static uint64_t
s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
s_arm(s_hold_t *h)
{
    struct itimerspec its = {0};
    if (h->count) {
        uint64_t due = h->ring[h->head].due_ns;
        its.it_value.tv_sec = (time_t)(due / 1000000000u);
        its.it_value.tv_nsec = (long)(due % 1000000000u);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) {
            its.it_value.tv_nsec = 1; /* zero would disarm */
        }
    }
    timerfd_settime(h->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void
s_complete(s_held_t *e, int err)
{
    if (err) {
        yard_deferred_fail(&e->d, err, NULL, "yard bench: the replica stopped");
    } else if (e->fail) {
        yard_deferred_fail(&e->d, YARD_E_INTERNAL, NULL, "yard bench: a failure asked for");
    } else {
        yard_deferred_reply(&e->d, e->body, e->size);
    }
    free(e->body);
    e->body = NULL;
}

/* Answers every held request due by now_ns (all of them when now_ns is UINT64_MAX). */
static void
s_release(s_hold_t *h, uint64_t now_ns, int err)
{
    while (h->count && h->ring[h->head].due_ns <= now_ns) {
        s_complete(&h->ring[h->head], err);
        h->head = (h->head + 1) % h->cap;
        h->count--;
    }
    s_arm(h);
}

static int
s_prepare(void *ctx, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    s_hold_t *h = ctx;
    (void)wake_ms; /* the timerfd wakes the loop, to the microsecond */
    if (max < 1) {
        return 0;
    }
    items[0] = (yard_wait_item_t){.fd = h->tfd};
    return 1;
}

static void
s_dispatch(void *ctx, yard_wait_item_t *items, int n, int64_t now_ms)
{
    s_hold_t *h = ctx;
    (void)now_ms;
    if (n > 0 && items[0].readable) {
        uint64_t expirations;
        while (read(h->tfd, &expirations, sizeof expirations) < 0 && errno == EINTR) {
        }
    }
    s_release(h, s_now_ns(), 0);
}

static bool
s_busy(void *ctx)
{
    return ((s_hold_t *)ctx)->count > 0;
}

static void
s_destroy(void *ctx)
{
    s_hold_t *h = ctx;
    s_release(h, UINT64_MAX, YARD_E_SHUTDOWN);
    close(h->tfd);
    free(h->ring);
    free(h);
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    s_state_t *st = state;
    const yard_bench_echo_opts_t *o = env->options;
    if (o->handler_ms == 0) {
        return 0;
    }
    s_hold_t *h = calloc(1, sizeof *h);
    if (!h) {
        abort();
    }
    h->cap = o->credit ? o->credit : 1;
    h->ring = calloc(h->cap, sizeof *h->ring);
    h->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (!h->ring || h->tfd < 0) {
        abort();
    }
    yard_loop_source_t src = {.ctx = h,
                              .prepare = s_prepare,
                              .dispatch = s_dispatch,
                              .busy = s_busy,
                              .destroy = s_destroy};
    int rc = yard_ctx_add_source(env->ctx, &src);
    if (rc) {
        close(h->tfd);
        free(h->ring);
        free(h);
        return rc;
    }
    st->hold = h;
    return 0;
}

static int
s_echo(yard_request_t *req, void *state)
{
    s_state_t *st = state;
    const yard_bench_echo_opts_t *o = yard_request_options(req);
    bool fail = o->fail_every && ++st->n % o->fail_every == 0;
    size_t size = 0;
    const void *body = yard_request_body(req, &size);
    if (!st->hold) {
        return fail ? yard_request_fail(req, YARD_E_INTERNAL, NULL,
                                        "yard bench: a failure asked for")
                    : yard_request_reply(req, body, size);
    }
    s_hold_t *h = st->hold;
    if (h->count == h->cap) {
        return YARD_E_OVERLOADED; /* the broker gave more than the credit: never expected */
    }
    s_held_t *e = &h->ring[(h->head + h->count) % h->cap];
    uint64_t start = s_now_ns();
    if (o->serial && h->count && h->last_due_ns > start) {
        start = h->last_due_ns; /* its work starts when the one before it is done */
    }
    *e = (s_held_t){
        .due_ns = start + (uint64_t)o->handler_ms * 1000000u, .size = size, .fail = fail};
    h->last_due_ns = e->due_ns;
    e->body = malloc(size ? size : 1);
    if (!e->body) {
        abort();
    }
    memcpy(e->body, body, size);
    e->d = yard_request_defer(req);
    if (!e->d) {
        free(e->body);
        return YARD_E_INTERNAL;
    }
    if (h->count++ == 0) {
        s_arm(h);
    }
    return 0;
}

static const yard_handler_def_t s_handlers[] = {
    {NULL, s_echo, "replies with the request's body after handler_ms"},
    {NULL, NULL, NULL},
};

const yard_actor_def_t yard__bench_echo = {
    .name = "echo",
    .description = "yard bench's echo: holds each request handler_ms, fails every Nth",
    .handlers = s_handlers,
    .options_size = sizeof(yard_bench_echo_opts_t),
    .state_size = sizeof(s_state_t),
    .init = s_init,
    .credit = 1,
};
