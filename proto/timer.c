/* Timers on a replica's thread: a binary min-heap of live timers ordered by (due time,
 * sequence), in the context. The replica loop asks for the earliest due time to bound its
 * wait and runs the due ones between requests.
 *
 * Invariant: a live timer is either in the heap (idx < n_heap) or the one whose callback is
 * running (ctx->running, idx == S_NOWHERE); it is freed exactly once, by cancel outside its
 * callback, after its callback (one-shot, or cancelled from inside), or with the context. */
#include "alloc_internal.h"
#include "ctx_internal.h"
#include "yard/log.h"
#include "yard/timer.h"

#include <stdlib.h>

#define S_NOWHERE SIZE_MAX
#define S_FAR_MS  (INT64_MAX / 4) /* "never" for an instant too far to add to a clock */

struct yard_timer {
    yard_ctx_t *ctx;
    int64_t due; /* the context's monotonic clock */
    uint64_t seq;
    size_t idx;
    uint32_t period_ms; /* 0: once */
    uint32_t jitter_pct;
    int64_t wall_ms; /* once: the realtime instant (rechecked: the clock may have stepped) */
    yard_timer_fn *fn;
    void *arg;
    bool cancelled;
};

/* --- the heap ---------------------------------------------------------------------------- */

static bool
s_before(const yard_timer_t *a, const yard_timer_t *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
s_set(yard_ctx_t *ctx, size_t i, yard_timer_t *t)
{
    ctx->heap[i] = t;
    t->idx = i;
}

static void
s_up(yard_ctx_t *ctx, size_t i)
{
    yard_timer_t *t = ctx->heap[i];
    while (i > 0 && s_before(t, ctx->heap[(i - 1) / 2])) {
        s_set(ctx, i, ctx->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    s_set(ctx, i, t);
}

static void
s_down(yard_ctx_t *ctx, size_t i)
{
    yard_timer_t *t = ctx->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= ctx->n_heap) {
            break;
        }
        if (c + 1 < ctx->n_heap && s_before(ctx->heap[c + 1], ctx->heap[c])) {
            c++;
        }
        if (!s_before(ctx->heap[c], t)) {
            break;
        }
        s_set(ctx, i, ctx->heap[c]);
        i = c;
    }
    s_set(ctx, i, t);
}

static void
s_push(yard_ctx_t *ctx, yard_timer_t *t)
{
    if (ctx->n_heap == ctx->cap_heap) {
        ctx->cap_heap = ctx->cap_heap ? 2 * ctx->cap_heap : 8;
        ctx->heap = yard__xrealloc(ctx->heap, ctx->cap_heap * sizeof *ctx->heap);
    }
    t->seq = ++ctx->seq;
    s_set(ctx, ctx->n_heap++, t);
    s_up(ctx, t->idx);
}

static void
s_remove(yard_ctx_t *ctx, yard_timer_t *t)
{
    size_t i = t->idx;
    t->idx = S_NOWHERE;
    yard_timer_t *last = ctx->heap[--ctx->n_heap];
    if (i == ctx->n_heap) {
        return;
    }
    s_set(ctx, i, last);
    s_down(ctx, i);
    s_up(ctx, last->idx);
}

static void
s_free(yard_timer_t *t)
{
    t->ctx->n_timers--;
    free(t);
}

/* --- starting and cancelling ------------------------------------------------------------- */

/* splitmix64: a small, well-mixed generator; jitter needs spread, not secrecy. */
static uint64_t
s_random(yard_ctx_t *ctx)
{
    uint64_t z = (ctx->rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int64_t
s_period(yard_ctx_t *ctx, const yard_timer_t *t)
{
    uint64_t spread = (uint64_t)t->period_ms * t->jitter_pct / 100;
    int64_t d = (int64_t)t->period_ms - (int64_t)spread +
                (int64_t)(spread ? s_random(ctx) % (2 * spread + 1) : 0);
    return d < 1 ? 1 : d;
}

static yard_timer_t *
s_start(yard_ctx_t *ctx, yard_timer_fn *fn, const char *what)
{
    const char *why = !ctx                               ? "no context"
                      : !fn                              ? "no callback"
                      : ctx->timers_stopped              ? "the replica is stopping"
                      : ctx->n_timers >= YARD_TIMERS_MAX ? "too many timers on this replica"
                                                         : NULL;
    if (why) {
        /* Stopping is expected (a handler during the drain); the others are bugs. */
        yard_log(ctx && fn && ctx->timers_stopped ? YARD_LOG_INFO : YARD_LOG_ERROR,
                 "cannot start a timer", YF_STR("timer", what), YF_STR("reason", why),
                 YF_INT("max", YARD_TIMERS_MAX));
        return NULL;
    }
    yard_timer_t *t = yard__xcalloc(1, sizeof *t);
    t->ctx = ctx;
    t->fn = fn;
    t->idx = S_NOWHERE;
    ctx->n_timers++;
    return t;
}

yard_timer_t *
yard_timer_every(yard_ctx_t *ctx, uint32_t period_ms, uint32_t jitter_pct, yard_timer_fn *fn,
                 void *arg)
{
    if (period_ms == 0 || jitter_pct > 100) {
        yard_log(YARD_LOG_ERROR,
                 "cannot start a timer: period_ms must be over 0 and jitter_pct "
                 "at most 100",
                 YF_UINT("period_ms", period_ms), YF_UINT("jitter_pct", jitter_pct));
        return NULL;
    }
    yard_timer_t *t = s_start(ctx, fn, "every");
    if (!t) {
        return NULL;
    }
    t->period_ms = period_ms;
    t->jitter_pct = jitter_pct;
    t->arg = arg;
    t->due = yard_ctx_now_ms(ctx) + s_period(ctx, t);
    s_push(ctx, t);
    return t;
}

yard_timer_t *
yard_timer_at(yard_ctx_t *ctx, int64_t wall_ms, yard_timer_fn *fn, void *arg)
{
    yard_timer_t *t = s_start(ctx, fn, "at");
    if (!t) {
        return NULL;
    }
    int64_t wall_now = yard_ctx_wall_ms(ctx);
    int64_t left = wall_ms > wall_now ? wall_ms - wall_now : 0;
    t->wall_ms = wall_ms;
    t->arg = arg;
    t->due = yard_ctx_now_ms(ctx) + (left < S_FAR_MS ? left : S_FAR_MS);
    s_push(ctx, t);
    return t;
}

void
yard_timer_cancel(yard_timer_t **t_p)
{
    if (!t_p || !*t_p) {
        return;
    }
    yard_timer_t *t = *t_p;
    *t_p = NULL;
    if (t->ctx->running == t) {
        t->cancelled = true; /* freed when its callback returns */
        return;
    }
    if (t->idx != S_NOWHERE) {
        s_remove(t->ctx, t);
    }
    s_free(t);
}

/* --- running ----------------------------------------------------------------------------- */

int64_t
yard__timers_next(const yard_ctx_t *ctx)
{
    return ctx->n_heap && !ctx->timers_stopped ? ctx->heap[0]->due : YARD__CTX_NEVER;
}

/* Runs t (just taken off the heap) and puts it back, frees it, or leaves it to cancel. */
static void
s_fire(yard_ctx_t *ctx, yard_timer_t *t, int64_t now)
{
    if (!t->period_ms) {
        int64_t wall_now = yard_ctx_wall_ms(ctx);
        int64_t early = t->wall_ms > wall_now ? t->wall_ms - wall_now : 0;
        if (early > 0) { /* the realtime clock was stepped back since: wait the rest */
            t->due = now + (early < S_FAR_MS ? early : S_FAR_MS);
            s_push(ctx, t);
            return;
        }
    }
    ctx->running = t;
    t->fn(ctx, t->arg);
    ctx->running = NULL;
    if (t->cancelled || !t->period_ms) {
        s_free(t);
        return;
    }
    if (ctx->timers_stopped) {
        return; /* stays allocated until the context goes: fini may still cancel it */
    }
    int64_t next = t->due + s_period(ctx, t);
    t->due = next > now ? next : now + s_period(ctx, t); /* late: no catching up */
    s_push(ctx, t);
}

void
yard__timers_run(yard_ctx_t *ctx, int64_t now)
{
    uint64_t last = ctx->seq; /* timers (re)started from here on wait for the next call */
    while (ctx->n_heap && !ctx->timers_stopped) {
        yard_timer_t *t = ctx->heap[0];
        if (t->due > now || t->seq > last) {
            return;
        }
        s_remove(ctx, t);
        s_fire(ctx, t, now);
    }
}

void
yard__timers_advance(yard_ctx_t *ctx, int64_t ms)
{
    int64_t until = ctx->fake_now + (ms <= 0 ? 0 : ms < S_FAR_MS ? ms : S_FAR_MS);
    for (;;) {
        int64_t due = yard__timers_next(ctx);
        if (due > until) {
            break;
        }
        if (due > ctx->fake_now) {
            ctx->fake_wall += due - ctx->fake_now;
            ctx->fake_now = due;
        }
        yard__timers_run(ctx, ctx->fake_now);
    }
    ctx->fake_wall += until - ctx->fake_now;
    ctx->fake_now = until;
}

void
yard__timers_free(yard_ctx_t *ctx)
{
    while (ctx->n_heap) {
        yard_timer_t *t = ctx->heap[ctx->n_heap - 1];
        s_remove(ctx, t);
        s_free(t);
    }
    free(ctx->heap);
    ctx->heap = NULL;
    ctx->cap_heap = 0;
}
