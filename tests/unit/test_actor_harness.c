/* The actor test harness (yard/actor_test.h): an actor driven through the runtime's own
 * option, state, init/fini and handler-lookup code without sockets. Options read without
 * state, a config given as YAML text, events captured, loop sources turned and destroyed
 * before fini, and the handler lookup's fallback. Reads as a usage example of
 * yard/actor_test.h and of the replica context in yard/actor.h. */
#include "yard/actor.h"
#include "yard/actor_test.h"
#include "yard/error.h"
#include "yard/loop.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* --- greet: one option, one op, no state, no init ------------------------------------------ */

typedef struct {
    char *greeting;
    int64_t times;
} s_greet_opts_t;

static const yard_option_t s_greet_options[] = {
    {.key = "greeting",
     .type = YARD_OPT_STRING,
     .default_value = "hello",
     .offset = offsetof(s_greet_opts_t, greeting),
     .help = "what to say"},
    {.key = "times",
     .type = YARD_OPT_INT,
     .default_value = "1",
     .offset = offsetof(s_greet_opts_t, times),
     .help = "how often",
     .min = 1,
     .max = 10},
    {.key = NULL},
};

static int
s_hello(yard_request_t *req, void *state)
{
    (void)state; /* no state_size: nothing in it */
    const s_greet_opts_t *o = yard_request_options(req);
    assert_ptr_equal(o, yard_ctx_options(yard_request_ctx(req)));
    char out[64];
    size_t len = strlen(o->greeting);
    assert_true(len < 31);
    out[0] = (char)(0xa0 | len); /* a msgpack fixstr */
    memcpy(out + 1, o->greeting, len);
    int rc = yard_ctx_publish(yard_request_ctx(req), "greet.said", out, len + 1);
    assert_int_equal(rc, 0);
    return yard_request_reply(req, out, len + 1);
}

static const yard_handler_def_t s_greet_handlers[] = {
    {"hello", s_hello, "says the greeting"},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_greet = {
    .name = "greet",
    .handlers = s_greet_handlers,
    .options = s_greet_options,
    .options_size = sizeof(s_greet_opts_t),
};

static void
s_expect_reply(yard_request_t *req, const char *want, size_t want_size)
{
    const void *body = NULL;
    size_t size = 0;
    assert_int_equal(yard_request_outcome_test(req, &body, &size, NULL), 0);
    assert_int_equal(size, want_size);
    assert_memory_equal(body, want, size);
}

static void
test_options_without_state(void **state)
{
    (void)state;
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&s_greet, NULL, &t), 0);
    yard_request_t *req = yard_actor_test_call(t, "hello", NULL, 0);
    s_expect_reply(req, "\xa5hello", 6); /* the table's default */
    assert_ptr_equal(yard_request_ctx(req), yard_actor_test_ctx(t));
    yard_request_destroy_test(&req);
    yard_actor_test_destroy(&t);
    assert_null(t);

    assert_int_equal(yard_actor_test_new(&s_greet, "greet:\n  greeting: hi\n  times: 3\n", &t), 0);
    const s_greet_opts_t *o = yard_ctx_options(yard_actor_test_ctx(t));
    assert_int_equal(o->times, 3);
    req = yard_actor_test_call(t, "hello", NULL, 0);
    s_expect_reply(req, "\xa2hi", 3);
    yard_request_destroy_test(&req);
    yard_actor_test_destroy(&t);

    /* A request made without the harness has no context, hence no options. */
    req = yard_request_new_test("greet", "hello", NULL, 0);
    assert_null(yard_request_options(req));
    assert_null(yard_request_ctx(req));
    yard_request_destroy_test(&req);
}

static void
test_bad_config(void **state)
{
    (void)state;
    yard_actor_test_t *t = (yard_actor_test_t *)1;
    /* The runtime's own checks: an unknown key, a value out of the table's range. */
    assert_int_equal(yard_actor_test_new(&s_greet, "greet:\n  greting: hi\n", &t), YARD_E_CONFIG);
    assert_null(t);
    assert_int_equal(yard_actor_test_new(&s_greet, "greet:\n  times: 11\n", &t), YARD_E_CONFIG);
    assert_int_equal(yard_actor_test_new(&s_greet, "greet: [\n", &t), YARD_E_CONFIG);
    yard_actor_def_t nameless = s_greet;
    nameless.name = NULL;
    assert_int_equal(yard_actor_test_new(&nameless, NULL, &t), YARD_E_INVALID);
}

static void
test_publish_captured(void **state)
{
    (void)state;
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&s_greet, NULL, &t), 0);
    yard_ctx_t *ctx = yard_actor_test_ctx(t);
    assert_int_equal(yard_actor_test_published(t, 0, NULL, NULL, NULL), 0);
    for (int i = 0; i < 2; i++) {
        yard_request_t *req = yard_actor_test_call(t, "hello", NULL, 0);
        yard_request_destroy_test(&req);
    }
    assert_int_equal(yard_ctx_publish(ctx, "greet.empty", NULL, 0), 0);
    const char *subject = NULL;
    const void *body = NULL;
    size_t size = 0;
    assert_int_equal(yard_actor_test_published(t, 1, &subject, &body, &size), 3);
    assert_string_equal(subject, "greet.said");
    assert_int_equal(size, 6);
    assert_memory_equal(body, "\xa5hello", 6);
    assert_int_equal(yard_actor_test_published(t, 2, &subject, NULL, &size), 3);
    assert_string_equal(subject, "greet.empty");
    assert_int_equal(size, 0);
    /* Subjects the broker would refuse are refused here, and nothing is captured. */
    assert_int_equal(yard_ctx_publish(ctx, "greet.*", "x", 1), YARD_E_INVALID);
    assert_int_equal(yard_ctx_publish(ctx, "$sys.events", "x", 1), YARD_E_INVALID);
    assert_int_equal(yard_ctx_publish(ctx, "", "x", 1), YARD_E_INVALID);
    assert_int_equal(yard_ctx_publish(ctx, "greet..x", "x", 1), YARD_E_INVALID);
    assert_int_equal(yard_ctx_publish(ctx, "greet.x", NULL, 1), YARD_E_INVALID);
    char longsub[300];
    memset(longsub, 'a', sizeof longsub - 1);
    longsub[sizeof longsub - 1] = '\0';
    assert_int_equal(yard_ctx_publish(ctx, longsub, "x", 1), YARD_E_INVALID);
    assert_int_equal(yard_ctx_publish(NULL, "greet.x", "x", 1), YARD_E_INVALID);
    assert_int_equal(yard_actor_test_published(t, 99, &subject, NULL, NULL), 3);
    yard_actor_test_destroy(&t);
}

/* --- a source: an eventfd that a handler pokes; counts what it turned ------------------------ */

/* What happened, in order, across sources and fini: the harness must end sources first. */
static char s_trail[256];

static void
s_note(const char *what)
{
    strncat(s_trail, what, sizeof s_trail - strlen(s_trail) - 1);
}

typedef struct {
    int efd;
    int fired;     /* dispatches that found the eventfd readable */
    int prepared;  /* prepare calls */
    int in_flight; /* "transfers" busy keeps the drain waiting for */
    bool drained;
} s_src_t;

typedef struct {
    s_src_t *src;
} s_pinger_t;

static int
s_src_prepare(void *c, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    s_src_t *s = c;
    (void)wake_ms;
    s->prepared++;
    assert_true(max >= 1);
    items[0] = (yard_wait_item_t){.fd = s->efd};
    return 1;
}

static void
s_src_dispatch(void *c, yard_wait_item_t *items, int n, int64_t now_ms)
{
    s_src_t *s = c;
    assert_int_equal(n, 1);
    assert_true(now_ms > 0);
    uint64_t v;
    if (items[0].readable && read(s->efd, &v, sizeof v) == sizeof v) {
        s->fired++;
        if (s->in_flight > 0) {
            s->in_flight--; /* a "transfer" finished */
        }
    }
}

static void
s_src_drain(void *c)
{
    s_src_t *s = c;
    s->drained = true;
    s_note("drain,");
    uint64_t one = 1;
    assert_int_equal(write(s->efd, &one, sizeof one), sizeof one); /* finishes what is left */
}

static bool
s_src_busy(void *c)
{
    return ((s_src_t *)c)->in_flight > 0;
}

static void
s_src_destroy(void *c)
{
    s_src_t *s = c;
    assert_int_equal(s->in_flight, 0); /* the drain waited for it */
    s_note("destroy,");
    close(s->efd);
    free(s);
}

static int
s_pinger_init(void *state, const yard_actor_env_t *env)
{
    s_pinger_t *p = state;
    p->src = calloc(1, sizeof *p->src);
    assert_non_null(p->src);
    p->src->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(p->src->efd >= 0);
    yard_loop_source_t src = {.ctx = p->src,
                              .prepare = s_src_prepare,
                              .dispatch = s_src_dispatch,
                              .drain = s_src_drain,
                              .busy = s_src_busy,
                              .destroy = s_src_destroy};
    return yard_ctx_add_source(env->ctx, &src);
}

static void
s_pinger_fini(void *state)
{
    (void)state;
    s_note("fini,");
}

static int
s_ping(yard_request_t *req, void *state)
{
    s_pinger_t *p = state;
    uint64_t one = 1;
    if (write(p->src->efd, &one, sizeof one) != sizeof one) {
        return YARD_E_INTERNAL;
    }
    return yard_request_reply(req, NULL, 0);
}

static int
s_start_work(yard_request_t *req, void *state)
{
    s_pinger_t *p = state;
    p->src->in_flight++;
    return yard_request_reply(req, NULL, 0);
}

static const yard_handler_def_t s_pinger_handlers[] = {
    {"ping", s_ping, "pokes the source"},
    {"work", s_start_work, "starts a transfer that the drain finishes"},
    {NULL, NULL, NULL},
};

static const yard_actor_def_t s_pinger = {
    .name = "pinger",
    .handlers = s_pinger_handlers,
    .state_size = sizeof(s_pinger_t),
    .init = s_pinger_init,
    .fini = s_pinger_fini,
};

static bool
s_fired_once(void *arg)
{
    return ((s_src_t *)arg)->fired >= 1;
}

static void
test_sources(void **state)
{
    (void)state;
    s_trail[0] = '\0';
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&s_pinger, NULL, &t), 0);
    s_pinger_t *p = yard_ctx_state(yard_actor_test_ctx(t));
    s_src_t *src = p->src;
    /* Nothing pending: run times out, having turned the source. */
    assert_int_equal(yard_actor_test_run(t, 30, s_fired_once, src), YARD_E_TIMEOUT);
    assert_true(src->prepared >= 1);
    assert_int_equal(src->fired, 0);
    yard_request_t *req = yard_actor_test_call(t, "ping", NULL, 0);
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, NULL), 0);
    yard_request_destroy_test(&req);
    assert_int_equal(yard_actor_test_run(t, 5000, s_fired_once, src), 0);
    assert_int_equal(src->fired, 1);
    /* NULL: until no source is busy. */
    assert_int_equal(yard_actor_test_run(t, 5000, NULL, NULL), 0);
    /* An unknown op with no fallback handler: BAD_REQUEST, as from a replica. */
    req = yard_actor_test_call(t, "nope", NULL, 0);
    assert_int_equal(yard_request_outcome_test(req, NULL, NULL, NULL), YARD_E_BAD_REQUEST);
    yard_request_destroy_test(&req);
    /* A transfer in flight at the end: drained, finished, destroyed, and only then fini. */
    req = yard_actor_test_call(t, "work", NULL, 0);
    yard_request_destroy_test(&req);
    yard_actor_test_destroy(&t);
    assert_string_equal(s_trail, "drain,destroy,fini,");
}

/* Sources are bounded, and refused arguments leave nothing to clean. */
static void
test_source_limits(void **state)
{
    (void)state;
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&s_greet, NULL, &t), 0);
    yard_ctx_t *ctx = yard_actor_test_ctx(t);
    yard_loop_source_t none = {0};
    assert_int_equal(yard_ctx_add_source(ctx, NULL), YARD_E_INVALID);
    assert_int_equal(yard_ctx_add_source(NULL, &none), YARD_E_INVALID);
    for (int i = 0; i < YARD_CTX_SOURCES_MAX; i++) {
        assert_int_equal(yard_ctx_add_source(ctx, &none), 0);
    }
    assert_int_equal(yard_ctx_add_source(ctx, &none), YARD_E_TOO_LARGE);
    assert_int_equal(yard_actor_test_run(t, 1000, NULL, NULL), 0); /* all-NULL sources: idle */
    assert_int_equal(yard_ctx_replica(ctx), 0);
    assert_string_equal(yard_ctx_actor_name(ctx), "greet");
    assert_non_null(yard_ctx_store(ctx));
    assert_non_null(yard_ctx_state(ctx)); /* zero-sized, as in a replica, but a valid pointer */
    yard_actor_test_destroy(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_without_state), cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_publish_captured),      cmocka_unit_test(test_sources),
        cmocka_unit_test(test_source_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
