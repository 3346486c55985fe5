/* Leases on the memory store: one holder at a time, renewal, release, lapse and takeover,
 * held-ness as local knowledge, and the argument checks. Read as the usage example of
 * yard/lease.h (two lease objects on one store stand for two replicas); and the leases the
 * runtime keeps (yard_ctx_lease()) through the actor test harness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "yard/actor.h"
#include "yard/actor_test.h"
#include "yard/error.h"
#include "yard/lease.h"
#include "yard/loop.h"
#include "yard/store.h"

static int
setup(void **state)
{
    yard_store_t *store = NULL;
    assert_int_equal(yard_store_open("memory", &store), 0);
    *state = store;
    return 0;
}

static int
teardown(void **state)
{
    yard_store_t *store = *state;
    yard_store_destroy(&store);
    return 0;
}

static yard_lease_t *
s_lease(yard_store_t *store, const char *name, uint32_t ttl_ms)
{
    yard_lease_t *l = NULL;
    assert_int_equal(yard_lease_new(store, name, ttl_ms, &l), 0);
    assert_non_null(l);
    return l;
}

static void
test_new_checks(void **state)
{
    yard_store_t *store = *state;
    yard_lease_t *l = (yard_lease_t *)1;
    assert_int_equal(yard_lease_new(NULL, "x", 1000, &l), YARD_E_INVALID);
    assert_null(l);
    assert_int_equal(yard_lease_new(store, NULL, 1000, &l), YARD_E_INVALID);
    assert_int_equal(yard_lease_new(store, "", 1000, &l), YARD_E_INVALID);
    assert_int_equal(yard_lease_new(store, "x", YARD_LEASE_TTL_MIN - 1, &l), YARD_E_INVALID);
    assert_int_equal(yard_lease_new(store, "x", YARD_LEASE_TTL_MAX + 1, &l), YARD_E_INVALID);
    char long_name[YARD_LEASE_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(yard_lease_new(store, long_name, 1000, &l), YARD_E_INVALID);
    assert_null(l);
    long_name[YARD_LEASE_NAME_MAX] = '\0'; /* exactly the maximum is fine */
    l = s_lease(store, long_name, YARD_LEASE_TTL_MIN);
    assert_int_equal(yard_lease_acquire(l), 1);
    yard_lease_destroy(&l);
    assert_null(l);
    yard_lease_destroy(&l); /* NULL is fine */
}

/* The token is random per lease, readable, and what the store holds while the lease is held. */
static void
test_token(void **state)
{
    yard_store_t *store = *state;
    yard_lease_t *a = s_lease(store, "job:poller", 1000);
    yard_lease_t *b = s_lease(store, "job:poller", 1000);
    assert_string_not_equal(yard_lease_token(a), yard_lease_token(b));
    char suffix[64];
    snprintf(suffix, sizeof suffix, "/%ld", (long)getpid());
    const char *ta = yard_lease_token(a);
    assert_true(strlen(ta) > 33 && ta[32] == '/');
    assert_string_equal(ta + strlen(ta) - strlen(suffix), suffix);
    assert_string_equal(yard_lease_name(a), "job:poller");
    assert_int_equal(yard_lease_ttl_ms(a), 1000);

    assert_int_equal(yard_lease_acquire(a), 1);
    char *val = NULL;
    size_t len = 0;
    assert_int_equal(yard_store_get(store, "job:poller", &val, &len), 0);
    assert_string_equal(val, ta);
    free(val);
    yard_lease_destroy(&a);
    yard_lease_destroy(&b);
}

static void
test_one_holder(void **state)
{
    yard_store_t *store = *state;
    yard_lease_t *a = s_lease(store, "lease", 60000);
    yard_lease_t *b = s_lease(store, "lease", 60000);
    int64_t now = yard_loop_now_ms();
    assert_false(yard_lease_held(a, now));
    assert_int_equal(yard_lease_valid_until(a), 0);

    assert_int_equal(yard_lease_acquire(a), 1);
    assert_int_equal(yard_lease_acquire(b), 0); /* someone else holds it */
    now = yard_loop_now_ms();
    assert_true(yard_lease_held(a, now));
    assert_false(yard_lease_held(b, now));
    /* valid for the TTL less the margin, counted from before the command */
    int64_t until = yard_lease_valid_until(a);
    assert_true(until <= yard_loop_now_ms() + 60000 - 600 - 2);
    assert_true(until >= now + 60000 - 600 - 2 - 1000);

    /* acquiring again while held renews; the other cannot renew what it does not hold */
    assert_int_equal(yard_lease_acquire(a), 1);
    assert_int_equal(yard_lease_renew(a), 1);
    assert_int_equal(yard_lease_renew(b), 0);
    assert_true(yard_lease_held(a, yard_loop_now_ms()));

    /* the other's release deletes nothing; the holder's hands it over at once */
    assert_int_equal(yard_lease_release(b), 0);
    assert_int_equal(yard_lease_acquire(b), 0);
    assert_int_equal(yard_lease_release(a), 1);
    assert_false(yard_lease_held(a, yard_loop_now_ms()));
    assert_int_equal(yard_lease_renew(a), 0);
    assert_int_equal(yard_lease_acquire(b), 1);
    assert_int_equal(yard_lease_acquire(a), 0);
    assert_int_equal(yard_lease_release(a), 0); /* b's lease survives a's release */
    assert_true(yard_lease_held(b, yard_loop_now_ms()));
    assert_int_equal(yard_lease_renew(b), 1);

    /* other names are other leases */
    yard_lease_t *c = s_lease(store, "lease:other", 60000);
    assert_int_equal(yard_lease_acquire(c), 1);
    yard_lease_destroy(&a);
    yard_lease_destroy(&b);
    yard_lease_destroy(&c);
}

/* A holder that stops renewing loses the lease at its TTL: locally first (held turns false
 * before the key lapses), then another takes it over, and the old holder's renewal says lost. */
static void
test_lapse_and_takeover(void **state)
{
    yard_store_t *store = *state;
    yard_lease_t *a = s_lease(store, "lapse", 100);
    yard_lease_t *b = s_lease(store, "lapse", 100);
    int64_t t0 = yard_loop_now_ms();
    assert_int_equal(yard_lease_acquire(a), 1);
    int64_t until = yard_lease_valid_until(a);
    assert_true(until >= t0 + 100 - 1 - 2 && until <= yard_loop_now_ms() + 100 - 1 - 2);

    int64_t deadline = t0 + 5000;
    int got = 0;
    int64_t held_false_at = 0, taken_at = 0;
    while (yard_loop_now_ms() < deadline && got != 1) {
        int64_t now = yard_loop_now_ms();
        if (!held_false_at && !yard_lease_held(a, now)) {
            held_false_at = now;
        }
        got = yard_lease_acquire(b);
        assert_true(got == 0 || got == 1);
        if (got == 1) {
            taken_at = yard_loop_now_ms();
        }
    }
    assert_int_equal(got, 1);
    assert_true(held_false_at != 0);
    assert_true(held_false_at <= taken_at); /* a knew before b could take it */
    assert_true(taken_at - t0 >= 100 - 1);  /* not before the TTL */
    assert_false(yard_lease_held(a, yard_loop_now_ms()));
    assert_int_equal(yard_lease_renew(a), 0); /* lost */
    assert_int_equal(yard_lease_valid_until(a), 0);
    assert_true(yard_lease_held(b, yard_loop_now_ms()));
    yard_lease_destroy(&a);
    yard_lease_destroy(&b);
}

/* Renewing at a third of the TTL keeps the lease past many TTLs; the other never gets it. */
static void
test_renew_keeps_it(void **state)
{
    yard_store_t *store = *state;
    yard_lease_t *a = s_lease(store, "kept", 300);
    yard_lease_t *b = s_lease(store, "kept", 300);
    assert_int_equal(yard_lease_acquire(a), 1);
    int64_t t0 = yard_loop_now_ms(), next_renew = t0 + 100;
    int renewals = 0;
    while (yard_loop_now_ms() - t0 < 1300) { /* more than 4 TTLs */
        int64_t now = yard_loop_now_ms();
        if (now >= next_renew) {
            assert_int_equal(yard_lease_renew(a), 1);
            renewals++;
            next_renew = now + 100;
        }
        assert_true(yard_lease_held(a, yard_loop_now_ms()));
        assert_int_equal(yard_lease_acquire(b), 0);
        struct timespec pace = {0, 5 * 1000 * 1000}; /* pacing the checks, not a wait */
        nanosleep(&pace, NULL);
    }
    assert_true(renewals >= 10);
    yard_lease_destroy(&a);
    yard_lease_destroy(&b);
}

/* A key overwritten by someone who ignores leases (or of the wrong kind) is lost, not held. */
static void
test_overwritten(void **state)
{
    yard_store_t *store = *state;
    yard_lease_t *a = s_lease(store, "over", 60000);
    assert_int_equal(yard_lease_acquire(a), 1);
    assert_int_equal(yard_store_set(store, "over", "intruder", 8, 0), 0);
    assert_int_equal(yard_lease_renew(a), 0);
    assert_false(yard_lease_held(a, yard_loop_now_ms()));
    assert_int_equal(yard_lease_release(a), 0);
    char *val = NULL;
    assert_int_equal(yard_store_get(store, "over", &val, NULL), 0);
    assert_string_equal(val, "intruder"); /* not deleted by the lease */
    free(val);
    assert_int_equal(yard_store_del(store, "over"), 1);
    assert_int_equal(yard_store_sadd(store, "over", "m"), 1);
    assert_int_equal(yard_lease_acquire(a), 0); /* a set sits on the key */
    assert_int_equal(yard_lease_release(a), 0);
    yard_lease_destroy(&a);
}

/* --- runtime-managed: yard_ctx_lease() through the actor test harness ------------------- */

typedef struct {
    int acquired, lost;
    yard_ctx_t *ctx; /* as the callback saw it */
    yard_lease_t *lease;
} s_seen_t;

static s_seen_t s_seen;

static void
s_on_change(yard_ctx_t *ctx, yard_lease_t *lease, bool held, void *arg)
{
    s_seen_t *seen = arg;
    assert_ptr_equal(lease, seen->lease);
    /* told held only while it is */
    assert_int_equal(held, yard_lease_held(lease, yard_loop_now_ms()));
    seen->ctx = ctx;
    if (held) {
        seen->acquired++;
    } else {
        seen->lost++;
    }
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    (void)state;
    return yard_ctx_lease(env->ctx, "t:lease", 300, s_on_change, &s_seen, &s_seen.lease);
}

static int
s_noop(yard_request_t *req, void *state)
{
    (void)state;
    return yard_request_reply(req, NULL, 0);
}

static const yard_handler_def_t s_handlers[] = {{.op = "noop", .fn = s_noop}, {0}};
static const yard_actor_def_t s_def = {
    .name = "lease_test", .handlers = s_handlers, .init = s_init};

static bool
s_acquired(void *arg)
{
    return s_seen.acquired >= *(int *)arg;
}

static bool
s_lost(void *arg)
{
    return s_seen.lost >= *(int *)arg;
}

/* Acquired on the first turns; lost the moment a renewal finds the key taken; taken back once
 * the key is free; released and reported lost on drain. */
static void
test_ctx_lease_cycle(void **state)
{
    (void)state;
    memset(&s_seen, 0, sizeof s_seen);
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&s_def, NULL, &t), 0);
    assert_non_null(s_seen.lease);
    assert_int_equal(s_seen.acquired, 0); /* nothing happens before the loop turns */
    int want = 1;
    assert_int_equal(yard_actor_test_run(t, 3000, s_acquired, &want), 0);
    assert_ptr_equal(s_seen.ctx, yard_actor_test_ctx(t));
    assert_true(yard_lease_held(s_seen.lease, yard_loop_now_ms()));
    yard_store_t *store = yard_ctx_store(yard_actor_test_ctx(t));
    char *val = NULL;
    assert_int_equal(yard_store_get(store, "t:lease", &val, NULL), 0);
    assert_string_equal(val, yard_lease_token(s_seen.lease));
    free(val);

    /* someone overwrites the key: the next renewal (within a third of the TTL) says lost */
    int64_t t0 = yard_loop_now_ms();
    assert_int_equal(yard_store_set(store, "t:lease", "intruder", 8, 0), 0);
    assert_int_equal(yard_actor_test_run(t, 3000, s_lost, &want), 0);
    assert_true(yard_loop_now_ms() - t0 <= 100 + 100);
    assert_false(yard_lease_held(s_seen.lease, yard_loop_now_ms()));
    /* while it is taken the replica keeps trying, and gets nothing */
    want = 2;
    assert_int_equal(yard_actor_test_run(t, 400, s_acquired, &want), YARD_E_TIMEOUT);
    assert_int_equal(s_seen.acquired, 1);
    /* freed: taken back */
    assert_int_equal(yard_store_del(store, "t:lease"), 1);
    assert_int_equal(yard_actor_test_run(t, 3000, s_acquired, &want), 0);
    assert_int_equal(s_seen.lost, 1);
    /* renewed while the loop turns: still held after several TTLs */
    want = 3;
    assert_int_equal(yard_actor_test_run(t, 1000, s_acquired, &want), YARD_E_TIMEOUT);
    assert_int_equal(s_seen.lost, 1);
    assert_true(yard_lease_held(s_seen.lease, yard_loop_now_ms()));

    yard_actor_test_destroy(&t); /* drain releases it and says so */
    assert_int_equal(s_seen.lost, 2);
    assert_int_equal(s_seen.acquired, 2);
}

static void
test_ctx_lease_checks(void **state)
{
    (void)state;
    memset(&s_seen, 0, sizeof s_seen);
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&s_def, NULL, &t), 0);
    yard_ctx_t *ctx = yard_actor_test_ctx(t);
    yard_lease_t *l = (yard_lease_t *)1;
    assert_int_equal(yard_ctx_lease(NULL, "x", 300, NULL, NULL, &l), YARD_E_INVALID);
    assert_null(l);
    assert_int_equal(yard_ctx_lease(ctx, "", 300, NULL, NULL, &l), YARD_E_INVALID);
    assert_int_equal(yard_ctx_lease(ctx, "x", 1, NULL, NULL, &l), YARD_E_INVALID);
    /* init took one; fill up to the maximum, then one more is refused */
    for (int i = 1; i < YARD_CTX_LEASES_MAX; i++) {
        char name[32];
        snprintf(name, sizeof name, "t:many:%d", i);
        assert_int_equal(yard_ctx_lease(ctx, name, 300, NULL, NULL, i % 2 ? &l : NULL), 0);
    }
    assert_int_equal(yard_ctx_lease(ctx, "t:one-too-many", 300, NULL, NULL, &l), YARD_E_TOO_LARGE);
    assert_null(l);
    yard_actor_test_destroy(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lapse_and_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renew_keeps_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwritten, setup, teardown),
        cmocka_unit_test(test_ctx_lease_cycle),
        cmocka_unit_test(test_ctx_lease_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
