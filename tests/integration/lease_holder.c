/* lease_holder: a test actor that keeps one runtime-managed lease (yard_ctx_lease()) and says
 * on stdout, one JSON line each, when it acquires and when it loses it:
 *   {"event":"acquired","lease":"NAME","t_ms":MONOTONIC_MS,"pid":PID}
 *   {"event":"lost","lease":"NAME","t_ms":MONOTONIC_MS,"pid":PID}
 * t_ms is yard_loop_now_ms(), CLOCK_MONOTONIC: one clock for every process on the host, so a test
 * can compare it with the moment it killed another holder. Service "lease_holder", op "held"
 * answers a msgpack bool. Options: --lease NAME (default "test:lease"), --ttl-ms (default 3000),
 * and everything an actor takes (--store redis://..., --broker, ...). */
#include "yard/actor.h"
#include "yard/error.h"
#include "yard/lease.h"
#include "yard/loop.h"

#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

typedef struct {
    char *lease;
    uint32_t ttl_ms;
} s_opts_t;

typedef struct {
    yard_lease_t *lease; /* borrowed from the runtime */
} s_state_t;

static void
s_on_change(yard_ctx_t *ctx, yard_lease_t *lease, bool held, void *arg)
{
    (void)ctx;
    (void)arg;
    printf("{\"event\":\"%s\",\"lease\":\"%s\",\"t_ms\":%lld,\"pid\":%ld}\n",
           held ? "acquired" : "lost", yard_lease_name(lease), (long long)yard_loop_now_ms(),
           (long)getpid());
    fflush(stdout);
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    s_state_t *st = state;
    const s_opts_t *o = env->options;
    return yard_ctx_lease(env->ctx, o->lease, o->ttl_ms, s_on_change, NULL, &st->lease);
}

static int
s_held(yard_request_t *req, void *state)
{
    const s_state_t *st = state;
    unsigned char b = yard_lease_held(st->lease, yard_loop_now_ms()) ? 0xc3 : 0xc2;
    return yard_request_reply(req, &b, 1);
}

static const yard_option_t s_options[] = {
    {.key = "lease",
     .type = YARD_OPT_STRING,
     .default_value = "test:lease",
     .offset = offsetof(s_opts_t, lease),
     .help = "the lease's name (its store key)"},
    {.key = "ttl_ms",
     .type = YARD_OPT_MS,
     .default_value = "3000",
     .offset = offsetof(s_opts_t, ttl_ms),
     .help = "the lease's time to live",
     .min = YARD_LEASE_TTL_MIN,
     .max = YARD_LEASE_TTL_MAX},
    {0},
};

static const yard_handler_def_t s_handlers[] = {
    {.op = "held", .fn = s_held, .help = "whether this replica holds the lease now"},
    {0},
};

static const yard_actor_def_t s_def = {
    .name = "lease_holder",
    .description = "holds one lease and prints a JSON line when it acquires or loses it",
    .handlers = s_handlers,
    .options = s_options,
    .options_size = sizeof(s_opts_t),
    .state_size = sizeof(s_state_t),
    .init = s_init,
};

int
main(int argc, char **argv)
{
    return yard_actor_main(&s_def, argc, argv);
}
