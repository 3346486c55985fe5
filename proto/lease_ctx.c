/* Runtime-managed leases (yard_ctx_lease(), see yard/lease.h): one engine per replica, kept in
 * the context's YARD__SLOT_LEASES slot and turned as a loop source. It has no descriptors of its
 * own: prepare only asks for a turn at the next acquire or renew attempt, or at the moment a
 * holding runs out, so that the loss is reported on time even when nothing else wakes the
 * replica.
 *
 * Invariant: `told` is what the actor was last told (held or not), and a change is reported
 * exactly once; a lease is never told held while yard_lease_held() is false for it. */
#include "alloc_internal.h"
#include "ctx_internal.h"
#include "msg_internal.h"
#include "yard/error.h"
#include "yard/lease.h"
#include "yard/log.h"

#include <stdlib.h>

typedef struct {
    yard_lease_t *lease;
    yard_lease_fn *on_change;
    void *arg;
    bool told;       /* the actor was told it holds the lease */
    int64_t next_ms; /* the next acquire or renew attempt (monotonic) */
} s_managed_t;

typedef struct {
    yard_ctx_t *ctx;
    void **slot;
    s_managed_t leases[YARD_CTX_LEASES_MAX];
    int n;
    bool draining;
} s_engine_t;

static int64_t
s_period_ms(const yard_lease_t *lease)
{
    return (int64_t)yard_lease_ttl_ms(lease) / 3;
}

static void
s_tell(s_engine_t *e, s_managed_t *m, bool held, const char *why)
{
    m->told = held;
    if (held) {
        yard_log(YARD_LOG_INFO, "lease acquired", YF_STR("lease", yard_lease_name(m->lease)),
                 YF_UINT("ttl_ms", yard_lease_ttl_ms(m->lease)));
    } else {
        yard_log(YARD_LOG_WARN, "lease lost", YF_STR("lease", yard_lease_name(m->lease)),
                 YF_STR("why", why));
    }
    if (m->on_change) {
        m->on_change(e->ctx, m->lease, held, m->arg);
    }
}

/* Not held: try to take it. */
static void
s_try_acquire(s_engine_t *e, s_managed_t *m, int64_t now)
{
    int rc = yard_lease_acquire(m->lease);
    m->next_ms = now + s_period_ms(m->lease);
    if (rc == 1 && yard_lease_held(m->lease, yard__clock_ms())) {
        s_tell(e, m, true, NULL);
    }
}

/* Held: renew it, and report the loss when the renewal says lost or the holding ran out. */
static void
s_try_renew(s_engine_t *e, s_managed_t *m, int64_t now)
{
    int rc = yard_lease_renew(m->lease);
    if (rc == 0) {
        m->next_ms = now + s_period_ms(m->lease);
        s_tell(e, m, false, "the renewal found it lapsed or taken");
        return;
    }
    m->next_ms = now + (rc == 1 ? s_period_ms(m->lease) : s_period_ms(m->lease) / 2);
    if (!yard_lease_held(m->lease, yard__clock_ms())) {
        s_tell(e, m, false, "the store did not answer before the lease ran out");
    }
}

static void
s_turn(s_engine_t *e, s_managed_t *m, int64_t now)
{
    if (m->told && !yard_lease_held(m->lease, now)) {
        m->next_ms = now; /* try to take it back at once; the store decides */
        s_tell(e, m, false, "the store did not answer before the lease ran out");
        return;
    }
    if (now < m->next_ms) {
        return;
    }
    if (m->told) {
        s_try_renew(e, m, now);
    } else {
        s_try_acquire(e, m, now);
    }
}

static int
s_prepare(void *arg, yard_wait_item_t *items, int max, int64_t *wake_ms)
{
    (void)items;
    (void)max;
    s_engine_t *e = arg;
    for (int i = 0; i < e->n && !e->draining; i++) {
        const s_managed_t *m = &e->leases[i];
        int64_t t = m->next_ms;
        int64_t until = yard_lease_valid_until(m->lease);
        if (m->told && until < t) {
            t = until;
        }
        if (t < *wake_ms) {
            *wake_ms = t;
        }
    }
    return 0;
}

static void
s_dispatch(void *arg, yard_wait_item_t *items, int n, int64_t now_ms)
{
    (void)items;
    (void)n;
    (void)now_ms; /* leases count on the real clock, also under a test's fake one */
    s_engine_t *e = arg;
    /* A callback may add a lease: it waits for the next turn. */
    int count = e->n;
    for (int i = 0; i < count && !e->draining; i++) {
        s_turn(e, &e->leases[i], yard__clock_ms());
    }
}

static void
s_drain(void *arg)
{
    s_engine_t *e = arg;
    e->draining = true;
    for (int i = 0; i < e->n; i++) {
        s_managed_t *m = &e->leases[i];
        if (m->told) {
            yard_lease_release(m->lease);
            s_tell(e, m, false, "the replica is stopping");
        }
    }
}

static void
s_destroy(void *arg)
{
    s_engine_t *e = arg;
    for (int i = 0; i < e->n; i++) {
        yard_lease_destroy(&e->leases[i].lease);
    }
    *e->slot = NULL;
    free(e);
}

/* The replica's engine, made and registered on first use. */
static int
s_engine(yard_ctx_t *ctx, s_engine_t **out)
{
    void **slot = yard__ctx_slot(ctx, YARD__SLOT_LEASES);
    if (*slot) {
        *out = *slot;
        return 0;
    }
    s_engine_t *e = yard__xcalloc(1, sizeof *e);
    e->ctx = ctx;
    e->slot = slot;
    *slot = e;
    yard_loop_source_t src = {.ctx = e,
                              .prepare = s_prepare,
                              .dispatch = s_dispatch,
                              .drain = s_drain,
                              .destroy = s_destroy};
    int rc = yard_ctx_add_source(ctx, &src);
    if (rc != 0) {
        *slot = NULL; /* the runtime never calls destroy after a refusal */
        free(e);
        return rc;
    }
    *out = e;
    return 0;
}

int
yard_ctx_lease(yard_ctx_t *ctx, const char *name, uint32_t ttl_ms, yard_lease_fn *on_change,
               void *arg, yard_lease_t **out)
{
    if (out) {
        *out = NULL;
    }
    if (!ctx || !yard_ctx_store(ctx)) {
        return YARD_E_INVALID;
    }
    yard_lease_t *lease = NULL;
    int rc = yard_lease_new(yard_ctx_store(ctx), name, ttl_ms, &lease);
    if (rc != 0) {
        return rc;
    }
    s_engine_t *e = NULL;
    rc = s_engine(ctx, &e);
    if (rc == 0 && e->draining) {
        rc = YARD_E_SHUTDOWN;
    } else if (rc == 0 && e->n == YARD_CTX_LEASES_MAX) {
        rc = YARD_E_TOO_LARGE;
    }
    if (rc != 0) {
        yard_lease_destroy(&lease);
        return rc;
    }
    e->leases[e->n++] = (s_managed_t){.lease = lease, .on_change = on_change, .arg = arg};
    if (out) {
        *out = lease;
    }
    return 0;
}
