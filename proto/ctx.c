/* A replica's context: what the runtime lends an actor's code on the replica's thread (the
 * options, state and store, the clocks, events on the bus, loop sources, the runtime's own
 * per-replica services), and the request's view of it.
 *
 * Invariant: a source's functions run only on the replica's thread, prepare and dispatch in
 * pairs within one turn, drain at most once, and destroy exactly once, before fini. */
#include "alloc_internal.h"
#include "actor_internal.h"
#include "ctx_internal.h"
#include "msg_internal.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/subject.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- life cycle -------------------------------------------------------------------------- */

yard_ctx_t *
yard__ctx_new(const yard_actor_def_t *def, int replica, const void *options, yard_store_t *store,
              yard__rt_replica_t *rep)
{
    yard_ctx_t *ctx = yard__xcalloc(1, sizeof *ctx);
    ctx->def = def;
    ctx->replica = replica;
    ctx->options = options;
    ctx->store = store;
    ctx->rep = rep;
    ctx->state = yard__xcalloc(1, def->state_size);
    ctx->fake_clock = rep == NULL;
    ctx->fake_wall = YARD__FAKE_WALL0_MS;
    /* Jitter only has to differ between replicas and runs; the test harness stays repeatable. */
    ctx->rng = rep ? (uint64_t)yard__clock_ms() ^ ((uint64_t)(uintptr_t)ctx << 16) ^
                         ((uint64_t)replica << 48)
                   : 0x9e3779b97f4a7c15u;
    return ctx;
}

int
yard__ctx_init(yard_ctx_t *ctx, yard_actor_env_t *env)
{
    env->replica = ctx->replica;
    env->ctx = ctx;
    env->store = ctx->store;
    env->options = ctx->options;
    int rc = ctx->def->init ? ctx->def->init(ctx->state, env) : 0;
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "init failed", YF_STR("error", yard_err_name(rc)));
    }
    ctx->inited = rc == 0;
    return rc;
}

void
yard__ctx_drain(yard_ctx_t *ctx)
{
    ctx->timers_stopped = true;
    if (ctx->src_state == YARD__SRC_RUN) {
        ctx->src_state = YARD__SRC_DRAINING;
    }
    for (int i = 0; i < ctx->n_sources; i++) {
        yard__source_t *s = &ctx->sources[i];
        if (!s->drained) {
            s->drained = true;
            if (s->src.drain) {
                s->src.drain(s->src.ctx);
            }
        }
    }
}

bool
yard__ctx_busy(yard_ctx_t *ctx)
{
    for (int i = 0; i < ctx->n_sources; i++) {
        const yard__source_t *s = &ctx->sources[i];
        if (s->src.busy && s->src.busy(s->src.ctx)) {
            return true;
        }
    }
    return false;
}

void
yard__ctx_shutdown(yard_ctx_t *ctx)
{
    if (ctx->src_state == YARD__SRC_CLOSED) {
        return;
    }
    yard__ctx_drain(ctx);
    ctx->src_state = YARD__SRC_CLOSED; /* a destroy that tries to add a source is refused */
    while (ctx->n_sources > 0) {
        yard__source_t *s = &ctx->sources[--ctx->n_sources];
        if (s->src.destroy) {
            s->src.destroy(s->src.ctx);
        }
    }
    ctx->n_prepared = 0;
}

void
yard__ctx_fini(yard_ctx_t *ctx)
{
    if (ctx->inited && ctx->def->fini) {
        ctx->def->fini(ctx->state);
    }
    ctx->inited = false;
}

void
yard__ctx_destroy(yard_ctx_t **ctx_p)
{
    yard_ctx_t *ctx = *ctx_p;
    if (!ctx) {
        return;
    }
    yard__ctx_shutdown(ctx);
    yard__timers_free(ctx);
    for (size_t i = 0; i < ctx->n_events; i++) {
        free(ctx->events[i].subject);
        free(ctx->events[i].body);
    }
    free(ctx->events);
    free(ctx->state);
    free(ctx->http_ca_file);
    free(ctx);
    *ctx_p = NULL;
}

/* --- loop sources ------------------------------------------------------------------------ */

int
yard_ctx_add_source(yard_ctx_t *ctx, const yard_loop_source_t *src)
{
    if (!ctx || !src) {
        return YARD_E_INVALID;
    }
    if (ctx->src_state == YARD__SRC_CLOSED) {
        return YARD_E_SHUTDOWN;
    }
    if (ctx->n_sources == YARD_CTX_SOURCES_MAX) {
        yard_log(YARD_LOG_ERROR, "too many loop sources on this replica",
                 YF_INT("max", YARD_CTX_SOURCES_MAX));
        return YARD_E_TOO_LARGE;
    }
    yard__source_t *s = &ctx->sources[ctx->n_sources++];
    *s = (yard__source_t){.src = *src};
    if (ctx->src_state == YARD__SRC_DRAINING) {
        s->drained = true; /* the replica is stopping: no new work for it either */
        if (s->src.drain) {
            s->src.drain(s->src.ctx);
        }
    }
    return 0;
}

int
yard__ctx_prepare(yard_ctx_t *ctx, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    int used = 0;
    for (int i = 0; i < ctx->n_sources; i++) {
        yard__source_t *s = &ctx->sources[i];
        s->first = used;
        s->n = 0;
        if (s->src.prepare) {
            int k = s->src.prepare(s->src.ctx, items + used, max - used, wake_ms);
            s->n = k < 0 ? 0 : k > max - used ? max - used : k;
            used += s->n;
        }
    }
    ctx->n_prepared = ctx->n_sources;
    return used;
}

void
yard__ctx_dispatch(yard_ctx_t *ctx, yard_wait_item_t *items, int64_t now_ms)
{
    /* A source added by a dispatch below has prepared nothing yet: it starts next turn. */
    int n = ctx->n_prepared;
    for (int i = 0; i < n && i < ctx->n_sources; i++) {
        yard__source_t *s = &ctx->sources[i];
        if (s->src.dispatch) {
            s->src.dispatch(s->src.ctx, items + s->first, s->n, now_ms);
        }
    }
    ctx->n_prepared = 0;
}

void **
yard__ctx_slot(yard_ctx_t *ctx, int which)
{
    if (!ctx || which < 0 || which >= YARD__SLOT_N_) {
        return NULL;
    }
    return &ctx->slots[which];
}

/* --- accessors --------------------------------------------------------------------------- */

const void *
yard_ctx_options(const yard_ctx_t *ctx)
{
    return ctx ? ctx->options : NULL;
}

void *
yard_ctx_state(yard_ctx_t *ctx)
{
    return ctx ? ctx->state : NULL;
}

yard_store_t *
yard_ctx_store(yard_ctx_t *ctx)
{
    return ctx ? ctx->store : NULL;
}

int
yard_ctx_replica(const yard_ctx_t *ctx)
{
    return ctx ? ctx->replica : -1;
}

const char *
yard_ctx_actor_name(const yard_ctx_t *ctx)
{
    return ctx ? ctx->def->name : "";
}

int64_t
yard_ctx_now_ms(const yard_ctx_t *ctx)
{
    return ctx && ctx->fake_clock ? ctx->fake_now : yard__clock_ms();
}

int64_t
yard_ctx_wall_ms(const yard_ctx_t *ctx)
{
    if (ctx && ctx->fake_clock) {
        return ctx->fake_wall;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const void *
yard_request_options(const yard_request_t *req)
{
    return req && req->ctx ? req->ctx->options : NULL;
}

yard_ctx_t *
yard_request_ctx(yard_request_t *req)
{
    return req ? req->ctx : NULL;
}

/* --- events ------------------------------------------------------------------------------ */

static int
s_capture(yard_ctx_t *ctx, const char *subject, const void *body, size_t size)
{
    if (ctx->n_events == YARD__EVENTS_MAX) {
        return YARD_E_OVERLOADED;
    }
    if (ctx->n_events == ctx->cap_events) {
        ctx->cap_events = ctx->cap_events ? 2 * ctx->cap_events : 16;
        ctx->events = yard__xrealloc(ctx->events, ctx->cap_events * sizeof *ctx->events);
    }
    yard__event_t *e = &ctx->events[ctx->n_events++];
    e->subject = yard__xstrdup(subject);
    e->body = yard__xcalloc(1, size);
    if (size) {
        memcpy(e->body, body, size);
    }
    e->size = size;
    return 0;
}

int
yard_ctx_publish(yard_ctx_t *ctx, const char *subject, const void *body, size_t size)
{
    if (!ctx || !subject || (size && !body)) {
        return YARD_E_INVALID;
    }
    /* The broker refuses "$" subjects from peers: say so here rather than as a later ERROR. */
    if (subject[0] == '$' || strlen(subject) > YARD_WIRE_NAME_MAX ||
        !yard_subject_valid(yard_str(subject))) {
        return YARD_E_INVALID;
    }
    if (ctx->links_closed) {
        return YARD_E_SHUTDOWN;
    }
    if (!ctx->rep) {
        return s_capture(ctx, subject, body, size);
    }
    return yard__rt_publish(ctx->rep, subject, body, size);
}
