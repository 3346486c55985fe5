/* Timers on the test harness's fake clock: "every" with and without jitter, "at" a realtime
 * instant, cancelling (from inside the callback too), the order of due timers, the cap and
 * bad arguments. Reads as a usage example of yard/timer.h. */
#include "yard/actor.h"
#include "yard/actor_test.h"
#include "yard/timer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_RUNS_MAX 4096

/* The replica's state: when each callback ran, by tag. */
typedef struct {
    yard_ctx_t *ctx;
    size_t n;
    int64_t at[S_RUNS_MAX];
    int tag[S_RUNS_MAX];
    yard_timer_t *self; /* a timer that cancels itself */
    yard_timer_t *victim;
    int stop_after;
} s_state_t;

typedef struct {
    s_state_t *st;
    int tag;
} s_arg_t;

static int
s_init(void *state, const yard_actor_env_t *env)
{
    ((s_state_t *)state)->ctx = env->ctx;
    return 0;
}

static int
s_noop(yard_request_t *req, void *state)
{
    (void)state;
    return yard_request_reply(req, NULL, 0);
}

static const yard_handler_def_t s_handlers[] = {{NULL, s_noop, "nothing"}, {NULL, NULL, NULL}};
static const yard_actor_def_t s_def = {
    .name = "ticker",
    .handlers = s_handlers,
    .state_size = sizeof(s_state_t),
    .init = s_init,
};

static void
s_record(yard_ctx_t *ctx, void *arg)
{
    s_arg_t *a = arg;
    s_state_t *st = a->st;
    assert_ptr_equal(ctx, st->ctx);
    assert_true(st->n < S_RUNS_MAX);
    st->at[st->n] = yard_ctx_now_ms(ctx);
    st->tag[st->n++] = a->tag;
}

static s_state_t *
s_new(yard_actor_test_t **t)
{
    assert_int_equal(yard_actor_test_new(&s_def, NULL, t), 0);
    s_state_t *st = yard_ctx_state(yard_actor_test_ctx(*t));
    assert_non_null(st->ctx);
    assert_int_equal(yard_ctx_now_ms(st->ctx), 0);
    return st;
}

static void
test_every_exact(void **state)
{
    (void)state;
    yard_actor_test_t *t;
    s_state_t *st = s_new(&t);
    s_arg_t a = {st, 1};
    yard_timer_t *tm = yard_timer_every(st->ctx, 50, 0, s_record, &a);
    assert_non_null(tm);
    yard_actor_test_advance(t, 49);
    assert_int_equal(st->n, 0); /* the first run is one period from now */
    yard_actor_test_advance(t, 1);
    assert_int_equal(st->n, 1);
    yard_actor_test_advance(t, 151); /* 100, 150, 200 */
    assert_int_equal(st->n, 4);
    for (size_t i = 0; i < st->n; i++) {
        assert_int_equal(st->at[i], 50 * (int64_t)(i + 1));
    }
    assert_int_equal(yard_ctx_now_ms(st->ctx), 201);
    yard_timer_cancel(&tm);
    assert_null(tm);
    yard_actor_test_advance(t, 1000);
    assert_int_equal(st->n, 4);
    yard_actor_test_destroy(&t);
    assert_null(t);
}

/* Over many periods every interval stays within +-20%, and the jitter really spreads them. */
static void
test_every_jitter_bounds(void **state)
{
    (void)state;
    yard_actor_test_t *t;
    s_state_t *st = s_new(&t);
    s_arg_t a = {st, 1};
    assert_non_null(yard_timer_every(st->ctx, 1000, 20, s_record, &a));
    yard_actor_test_advance(t, 2000 * 1000);
    assert_true(st->n >= 1600); /* 2000 s / at most 1.2 s */
    int64_t lo = INT64_MAX, hi = 0;
    for (size_t i = 0; i < st->n; i++) {
        int64_t gap = st->at[i] - (i ? st->at[i - 1] : 0);
        assert_in_range(gap, 800, 1200);
        lo = gap < lo ? gap : lo;
        hi = gap > hi ? gap : hi;
    }
    assert_true(lo < 850); /* a uniform draw over 1600 periods reaches both ends */
    assert_true(hi > 1150);
    yard_actor_test_destroy(&t); /* the runtime ends a timer nobody cancelled */
}

static void
test_every_full_jitter_never_zero(void **state)
{
    (void)state;
    yard_actor_test_t *t;
    s_state_t *st = s_new(&t);
    s_arg_t a = {st, 1};
    assert_non_null(yard_timer_every(st->ctx, 2, 100, s_record, &a));
    yard_actor_test_advance(t, 2000);
    assert_true(st->n >= 500 && st->n <= 2000);
    for (size_t i = 1; i < st->n; i++) {
        assert_in_range(st->at[i] - st->at[i - 1], 1, 4);
    }
    yard_actor_test_destroy(&t);
}

static void
test_at(void **state)
{
    (void)state;
    yard_actor_test_t *t;
    s_state_t *st = s_new(&t);
    int64_t wall0 = yard_ctx_wall_ms(st->ctx);
    assert_int_equal(wall0, 1767225600000LL); /* the fake wall clock: 2026-01-01T00:00:00Z */
    s_arg_t a = {st, 1}, past = {st, 2};
    assert_non_null(yard_timer_at(st->ctx, wall0 + 500, s_record, &a));
    assert_non_null(yard_timer_at(st->ctx, wall0 - 60000, s_record, &past));
    yard_actor_test_advance(t, 0); /* an instant in the past runs on the next turn */
    assert_int_equal(st->n, 1);
    assert_int_equal(st->tag[0], 2);
    yard_actor_test_advance(t, 499);
    assert_int_equal(st->n, 1);
    yard_actor_test_advance(t, 1);
    assert_int_equal(st->n, 2);
    assert_int_equal(st->at[1], 500);
    assert_int_equal(yard_ctx_wall_ms(st->ctx), wall0 + 500);
    yard_actor_test_advance(t, 100000); /* once only */
    assert_int_equal(st->n, 2);
    /* The ends of the range neither overflow nor misfire. */
    s_arg_t never = {st, 3}, ancient = {st, 4};
    yard_timer_t *far = yard_timer_at(st->ctx, INT64_MAX, s_record, &never);
    assert_non_null(far);
    assert_non_null(yard_timer_at(st->ctx, INT64_MIN, s_record, &ancient));
    yard_actor_test_advance(t, INT64_MAX);
    assert_int_equal(st->n, 3);
    assert_int_equal(st->tag[2], 4);
    yard_timer_cancel(&far);
    yard_actor_test_destroy(&t);
}

static void
s_cancel_self(yard_ctx_t *ctx, void *arg)
{
    s_state_t *st = arg;
    s_arg_t a = {st, 7};
    s_record(ctx, &a);
    if ((int)st->n == st->stop_after) {
        yard_timer_cancel(&st->self);
        assert_null(st->self);
    }
}

static void
s_cancel_other(yard_ctx_t *ctx, void *arg)
{
    (void)ctx;
    s_state_t *st = arg;
    yard_timer_cancel(&st->victim);
}

static void
test_cancel(void **state)
{
    (void)state;
    yard_actor_test_t *t;
    s_state_t *st = s_new(&t);
    s_arg_t a = {st, 1};
    /* Cancelled before it is due: never runs. */
    yard_timer_t *tm = yard_timer_every(st->ctx, 10, 0, s_record, &a);
    yard_timer_t *once = yard_timer_at(st->ctx, yard_ctx_wall_ms(st->ctx) + 5, s_record, &a);
    yard_timer_cancel(&tm);
    yard_timer_cancel(&once);
    yard_timer_cancel(&once); /* already NULL: nothing */
    yard_timer_cancel(NULL);
    yard_actor_test_advance(t, 100);
    assert_int_equal(st->n, 0);

    /* Cancelled from inside its own callback, on its third run. */
    st->stop_after = 3;
    st->self = yard_timer_every(st->ctx, 10, 0, s_cancel_self, st);
    assert_non_null(st->self);
    yard_actor_test_advance(t, 1000);
    assert_int_equal(st->n, 3);
    assert_null(st->self);

    /* One callback cancels another timer due at the same time, which then does not run. */
    st->n = 0;
    assert_non_null(yard_timer_every(st->ctx, 10, 0, s_cancel_other, st));
    st->victim = yard_timer_every(st->ctx, 10, 0, s_record, &a);
    yard_actor_test_advance(t, 100);
    assert_int_equal(st->n, 0);
    assert_null(st->victim);
    yard_actor_test_destroy(&t);
}

static void
test_order(void **state)
{
    (void)state;
    yard_actor_test_t *t;
    s_state_t *st = s_new(&t);
    int64_t w = yard_ctx_wall_ms(st->ctx);
    s_arg_t a30 = {st, 30}, a10 = {st, 10}, a20 = {st, 20}, b10 = {st, 11}, e = {st, 25};
    assert_non_null(yard_timer_at(st->ctx, w + 30, s_record, &a30));
    assert_non_null(yard_timer_at(st->ctx, w + 10, s_record, &a10));
    assert_non_null(yard_timer_at(st->ctx, w + 20, s_record, &a20));
    assert_non_null(yard_timer_at(st->ctx, w + 10, s_record, &b10)); /* same time: started later */
    assert_non_null(yard_timer_every(st->ctx, 25, 0, s_record, &e));
    yard_actor_test_advance(t, 60);
    int want_tag[] = {10, 11, 20, 25, 30, 25};
    int64_t want_at[] = {10, 10, 20, 25, 30, 50};
    assert_int_equal(st->n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(st->tag[i], want_tag[i]);
        assert_int_equal(st->at[i], want_at[i]);
    }
    yard_actor_test_destroy(&t);
}

/* A timer started from a callback for "now" runs after it, at the same instant. */
static void
s_chain(yard_ctx_t *ctx, void *arg)
{
    s_arg_t *a = arg;
    s_record(ctx, a);
    static s_arg_t next; /* a may be this one: read it first */
    int tag = a->tag;
    next = (s_arg_t){a->st, tag + 1};
    if (tag < 3) {
        assert_non_null(yard_timer_at(ctx, yard_ctx_wall_ms(ctx), s_chain, &next));
    }
}

static void
test_started_from_callback(void **state)
{
    (void)state;
    yard_actor_test_t *t;
    s_state_t *st = s_new(&t);
    s_arg_t a = {st, 1};
    assert_non_null(yard_timer_at(st->ctx, yard_ctx_wall_ms(st->ctx) + 40, s_chain, &a));
    yard_actor_test_advance(t, 100);
    assert_int_equal(st->n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(st->tag[i], (int)i + 1);
        assert_int_equal(st->at[i], 40);
    }
    yard_actor_test_destroy(&t);
}

static void
test_cap_and_bad_arguments(void **state)
{
    (void)state;
    yard_actor_test_t *t;
    s_state_t *st = s_new(&t);
    s_arg_t a = {st, 1};
    assert_null(yard_timer_every(st->ctx, 0, 0, s_record, &a));
    assert_null(yard_timer_every(st->ctx, 10, 101, s_record, &a));
    assert_null(yard_timer_every(st->ctx, 10, 0, NULL, &a));
    assert_null(yard_timer_every(NULL, 10, 0, s_record, &a));
    assert_null(yard_timer_at(st->ctx, 0, NULL, &a));
    yard_timer_t **all = calloc(YARD_TIMERS_MAX, sizeof *all);
    assert_non_null(all);
    for (int i = 0; i < YARD_TIMERS_MAX; i++) {
        all[i] = yard_timer_every(st->ctx, 1000 + (uint32_t)i, 0, s_record, &a);
        assert_non_null(all[i]);
    }
    assert_null(yard_timer_every(st->ctx, 10, 0, s_record, &a)); /* over the cap */
    yard_timer_cancel(&all[17]);
    assert_non_null(yard_timer_every(st->ctx, 10, 0, s_record, &a)); /* room again */
    /* Cancel from the middle of the heap in a scrambled order: the rest still runs in order. */
    for (int i = 0; i < YARD_TIMERS_MAX; i += 3) {
        yard_timer_cancel(&all[i]);
    }
    yard_actor_test_advance(t, 1000 + YARD_TIMERS_MAX);
    for (size_t i = 1; i < st->n; i++) {
        assert_true(st->at[i] >= st->at[i - 1]);
    }
    assert_true(st->n > YARD_TIMERS_MAX / 2);
    free(all);
    yard_actor_test_destroy(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_exact),
        cmocka_unit_test(test_every_jitter_bounds),
        cmocka_unit_test(test_every_full_jitter_never_zero),
        cmocka_unit_test(test_at),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_started_from_callback),
        cmocka_unit_test(test_cap_and_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
