/* A replica's bus client (yard/bus.h): one yard_client per replica, made on first use, kept in
 * the context's YARD__SLOT_BUS slot and turned by the replica loop as a loop source.
 *
 * The client calls back with (reply, arg); the actor's callbacks want the context too, so each
 * call and each subscription has a small trampoline. A call's trampoline is freed by its one
 * callback (the client guarantees exactly one, YARD_E_SHUTDOWN at destroy included); a
 * subscription's lives in the engine's list until unsubscribed or destroyed.
 *
 * Invariant: the engine is freed only by the source's destroy, which also clears the slot, so
 * a later yard_bus_*() call finds no engine and refuses with YARD_E_SHUTDOWN (the context
 * remembers it was closed) instead of using freed memory. */
#include "alloc_internal.h"
#include "client_internal.h"
#include "ctx_internal.h"
#include "yard/bus.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/subject.h"

#include <stdlib.h>
#include <string.h>

typedef struct s_sub {
    char *pattern;
    yard_bus_event_fn *cb;
    void *arg;
    struct s_bus *bus;
    struct s_sub *next;
} s_sub_t;

typedef struct s_bus {
    yard_ctx_t *ctx;
    yard_client_t *client;
    void **slot;
    bool draining;
    s_sub_t *subs;
} s_bus_t;

typedef struct {
    s_bus_t *bus;
    yard_bus_reply_fn *cb;
    void *arg;
} s_call_t;

/* --- the loop source ----------------------------------------------------------------------- */

static int
s_prepare(void *arg, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    s_bus_t *bus = arg;
    return yard__client_prepare(bus->client, items, max, wake_ms);
}

static void
s_dispatch(void *arg, yard_wait_item_t *items, int n, int64_t now_ms)
{
    (void)now_ms;
    s_bus_t *bus = arg;
    yard__client_turn(bus->client, items, n);
}

static void
s_drain(void *arg)
{
    s_bus_t *bus = arg;
    bus->draining = true;
}

static bool
s_busy(void *arg)
{
    const s_bus_t *bus = arg;
    return yard_client_pending(bus->client) > 0;
}

static void
s_destroy(void *arg)
{
    s_bus_t *bus = arg;
    bus->draining = true;
    yard_client_destroy(&bus->client); /* ends what is left with YARD_E_SHUTDOWN */
    for (s_sub_t *s = bus->subs, *next; s; s = next) {
        next = s->next;
        free(s->pattern);
        free(s);
    }
    *bus->slot = NULL;
    free(bus);
}

/* The replica's engine, made on first use. Sets *err and returns NULL when there is none. */
static s_bus_t *
s_bus(yard_ctx_t *ctx, int *err)
{
    void **slot = yard__ctx_slot(ctx, YARD__SLOT_BUS);
    if (!slot) {
        *err = YARD_E_INVALID;
        return NULL;
    }
    if (*slot) {
        s_bus_t *bus = *slot;
        *err = bus->draining ? YARD_E_SHUTDOWN : 0;
        return bus->draining ? NULL : bus;
    }
    if (ctx->src_state != YARD__SRC_RUN) {
        *err = YARD_E_SHUTDOWN;
        return NULL;
    }
    yard_client_opts_t co = {.zmq_context = ctx->zmq_context};
    yard_client_t *client = NULL;
    *err = yard_client_new(ctx->broker, &co, &client);
    if (*err != 0) {
        yard_log(YARD_LOG_ERROR, "bus: no client for the replica (no or bad broker endpoint)",
                 YF_STR("broker", ctx->broker), YF_STR("error", yard_strerror(*err)));
        return NULL;
    }
    s_bus_t *bus = yard__xcalloc(1, sizeof *bus);
    bus->ctx = ctx;
    bus->client = client;
    bus->slot = slot;
    yard_loop_source_t src = {.ctx = bus,
                              .prepare = s_prepare,
                              .dispatch = s_dispatch,
                              .drain = s_drain,
                              .busy = s_busy,
                              .destroy = s_destroy};
    *err = yard_ctx_add_source(ctx, &src);
    if (*err != 0) {
        /* the runtime never calls a source it refused: the engine is still ours */
        yard_client_destroy(&bus->client);
        free(bus);
        return NULL;
    }
    *slot = bus;
    return bus;
}

/* --- calls --------------------------------------------------------------------------------- */

static void
s_on_reply(const yard_msg_t *reply, void *arg)
{
    s_call_t *call = arg;
    call->cb(call->bus->ctx, reply, call->arg);
    free(call);
}

int
yard_bus_call(yard_ctx_t *ctx, const char *service, const char *op, const void *body, size_t size,
              uint32_t timeout_ms, yard_bus_reply_fn *cb, void *arg)
{
    if (!ctx || !service || !cb || (size && !body)) {
        return YARD_E_INVALID;
    }
    int rc;
    s_bus_t *bus = s_bus(ctx, &rc);
    if (!bus) {
        return rc;
    }
    s_call_t *call = yard__xcalloc(1, sizeof *call);
    *call = (s_call_t){.bus = bus, .cb = cb, .arg = arg};
    yard_call_opts_t co = {.op = op, .timeout_ms = timeout_ms};
    rc = yard_client_call_async(bus->client, service, body, size, &co, s_on_reply, call);
    if (rc != 0) {
        free(call); /* refused: the client never calls back */
    }
    return rc;
}

int
yard_bus_send(yard_ctx_t *ctx, const char *service, const char *op, const void *body, size_t size)
{
    if (!ctx || !service || (size && !body)) {
        return YARD_E_INVALID;
    }
    int rc;
    s_bus_t *bus = s_bus(ctx, &rc);
    if (!bus) {
        return rc;
    }
    yard_call_opts_t co = {.op = op};
    return yard_client_send(bus->client, service, body, size, &co);
}

int
yard_bus_publish(yard_ctx_t *ctx, const char *subject, const void *body, size_t size)
{
    if (!ctx || !subject || (size && !body)) {
        return YARD_E_INVALID;
    }
    int rc;
    s_bus_t *bus = s_bus(ctx, &rc);
    if (!bus) {
        return rc;
    }
    return yard_client_publish(bus->client, subject, body, size);
}

typedef struct {
    yard_bus_flush_fn *cb;
    void *arg;
} s_flush_t;

static void
s_on_ping(yard_ctx_t *ctx, const yard_msg_t *reply, void *arg)
{
    s_flush_t *f = arg;
    f->cb(ctx, yard_msg_status(reply), f->arg);
    free(f);
}

int
yard_bus_flush(yard_ctx_t *ctx, uint32_t timeout_ms, yard_bus_flush_fn *cb, void *arg)
{
    if (!ctx || !cb) {
        return YARD_E_INVALID;
    }
    s_flush_t *f = yard__xcalloc(1, sizeof *f);
    *f = (s_flush_t){.cb = cb, .arg = arg};
    /* the broker answers ping after it handled what this connection sent before it */
    int rc = yard_bus_call(ctx, "$sys", "ping", NULL, 0, timeout_ms, s_on_ping, f);
    if (rc != 0) {
        free(f);
    }
    return rc;
}

/* --- subscriptions ------------------------------------------------------------------------- */

static void
s_on_event(const yard_msg_t *msg, void *arg)
{
    s_sub_t *sub = arg;
    sub->cb(sub->bus->ctx, msg, sub->arg);
}

int
yard_bus_subscribe(yard_ctx_t *ctx, const char *pattern, yard_bus_event_fn *cb, void *arg)
{
    if (!ctx || !pattern || !cb || !yard_subject_pattern_valid(yard_str(pattern))) {
        return YARD_E_INVALID;
    }
    int rc;
    s_bus_t *bus = s_bus(ctx, &rc);
    if (!bus) {
        return rc;
    }
    for (const s_sub_t *s = bus->subs; s; s = s->next) {
        if (strcmp(s->pattern, pattern) == 0) {
            return YARD_E_INVALID; /* the client keeps one callback per pattern */
        }
    }
    s_sub_t *sub = yard__xcalloc(1, sizeof *sub);
    *sub = (s_sub_t){.pattern = yard__xstrdup(pattern), .cb = cb, .arg = arg, .bus = bus};
    rc = yard_client_subscribe(bus->client, pattern, s_on_event, sub);
    if (rc != 0) {
        free(sub->pattern);
        free(sub);
        return rc;
    }
    sub->next = bus->subs;
    bus->subs = sub;
    return 0;
}

int
yard_bus_unsubscribe(yard_ctx_t *ctx, const char *pattern)
{
    if (!ctx || !pattern) {
        return YARD_E_INVALID;
    }
    void **slot = yard__ctx_slot(ctx, YARD__SLOT_BUS);
    s_bus_t *bus = slot ? *slot : NULL;
    for (s_sub_t **pp = bus ? &bus->subs : NULL; pp && *pp; pp = &(*pp)->next) {
        s_sub_t *s = *pp;
        if (strcmp(s->pattern, pattern) == 0) {
            int rc = yard_client_unsubscribe(bus->client, pattern);
            *pp = s->next;
            free(s->pattern);
            free(s);
            return rc;
        }
    }
    return YARD_E_NOT_FOUND;
}
