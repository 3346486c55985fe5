/* Private to libyard: a replica's context (yard_ctx_t) as the runtime (actor.c,
 * actor_replica.c), the timers (timer.c), the test harness (actor_test.c) and the runtime's
 * own services (outbound HTTP, leases) see it.
 *
 * A context belongs to one replica thread and is used from it only. It is made before init
 * (yard__ctx_new), turned by the replica loop (yard__ctx_prepare/dispatch, timers), shut down
 * after the loop (yard__ctx_shutdown: sources drained and destroyed, timers stopped), and
 * freed after fini (yard__ctx_destroy). Under the test harness (rep == NULL) the clock is
 * fake and published events are captured. */
#ifndef YARD_CTX_INTERNAL_H
#define YARD_CTX_INTERNAL_H

#include "yard/actor.h"
#include "yard/loop.h"
#include "yard/timer.h"
#include "yard/wait.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct yard__rt_replica yard__rt_replica_t;

/* Per-replica slots for the runtime's own services: each holds one engine per replica,
 * created lazily by its module, which registers it as a loop source whose destroy frees the
 * engine and clears the slot. */
enum { YARD__SLOT_HTTP, YARD__SLOT_LEASES, YARD__SLOT_BUS, YARD__SLOT_N_ };

/* The slot `which` (a YARD__SLOT_ value), NULL when out of range. Borrowed; valid until the
 * context is freed (after fini). */
void **yard__ctx_slot(yard_ctx_t *ctx, int which);

#define YARD__CTX_NEVER     INT64_MAX
#define YARD__EVENTS_MAX    65536           /* events the test harness captures */
#define YARD__FAKE_WALL0_MS 1767225600000LL /* the fake wall clock starts at 2026-01-01Z */

typedef struct {
    yard_loop_source_t src;
    int first; /* its wait items this turn: items[first .. first + n) */
    int n;
    bool drained; /* drain was called */
} yard__source_t;

typedef struct {
    char *subject;
    void *body;
    size_t size;
} yard__event_t;

enum { YARD__SRC_RUN = 0, YARD__SRC_DRAINING, YARD__SRC_CLOSED };

struct yard_ctx {
    const yard_actor_def_t *def;
    int replica;
    void *state;
    const void *options;
    yard_store_t *store;
    yard__rt_replica_t *rep; /* NULL under the test harness */
    char *http_ca_file;      /* the section's http_ca_file, for yard_ctx_http(); owned; NULL */
    /* For the replica's bus client (yard/bus.h): the broker endpoints and the ZeroMQ context
     * (NULL: the client's own). Borrowed from the actor or the test harness. */
    const char *broker;
    void *zmq_context;
    bool inited;       /* init returned 0: fini runs */
    bool links_closed; /* the replica's links are gone: publish refuses */
    /* the fake clock (test harness) */
    bool fake_clock;
    int64_t fake_now;
    int64_t fake_wall;
    /* timers (timer.c): a min-heap on (due, seq) */
    yard_timer_t **heap;
    size_t n_heap;
    size_t cap_heap;
    size_t n_timers; /* live: in the heap or running */
    uint64_t seq;
    uint64_t rng;
    bool timers_stopped;
    yard_timer_t *running;
    /* loop sources */
    yard__source_t sources[YARD_CTX_SOURCES_MAX];
    int n_sources;
    int n_prepared; /* sources that prepared this turn: dispatch goes to these */
    int src_state;
    /* events captured under the test harness */
    yard__event_t *events;
    size_t n_events;
    size_t cap_events;
    void *slots[YARD__SLOT_N_];
};

/* A context for replica `replica` of def, with its state allocated (def->state_size bytes,
 * zeroed). options and store are borrowed and must outlive it; rep is NULL under the test
 * harness (fake clock, captured events). Caller owns the result; free with
 * yard__ctx_destroy(). */
yard_ctx_t *yard__ctx_new(const yard_actor_def_t *def, int replica, const void *options,
                          yard_store_t *store, yard__rt_replica_t *rep);

/* Runs def->init (when there is one) with env, whose replica, ctx, store and options this
 * fills in. Returns init's result, logged when it failed; on 0, fini will run. */
int yard__ctx_init(yard_ctx_t *ctx, yard_actor_env_t *env);

/* Adds the sources' wait items to items[0 .. max) and lowers *wake_ms to the earliest time a
 * source needs a turn (yard_loop_now_ms() clock; timers: yard__timers_next()). Returns the
 * items used. */
int yard__ctx_prepare(yard_ctx_t *ctx, yard_wait_item_t *items, int max, int64_t *wake_ms);
/* Hands each source that prepared its items back after the wait. */
void yard__ctx_dispatch(yard_ctx_t *ctx, yard_wait_item_t *items, int64_t now_ms);

/* Stops the timers and calls every source's drain (once each). */
void yard__ctx_drain(yard_ctx_t *ctx);
/* True while a source says it is busy. */
bool yard__ctx_busy(yard_ctx_t *ctx);
/* Drains (if not yet), destroys the sources (last added first) and stops the timers. Runs
 * before fini; idempotent. */
void yard__ctx_shutdown(yard_ctx_t *ctx);
/* Runs def->fini when init succeeded (once). */
void yard__ctx_fini(yard_ctx_t *ctx);
/* Frees the context, its state, its timers and captured events; sets *ctx_p to NULL. */
void yard__ctx_destroy(yard_ctx_t **ctx_p);

/* Timers (timer.c). The earliest due time (monotonic, the context's clock), or
 * YARD__CTX_NEVER when none or stopped. Cheap when ctx->n_heap is 0 (callers on hot paths
 * test that first). */
int64_t yard__timers_next(const yard_ctx_t *ctx);
/* Runs the timers due at now that were due before this call (a timer started from a
 * callback at now waits for the next call). */
void yard__timers_run(yard_ctx_t *ctx, int64_t now);
/* Fake clock: moves it ms forward, running due timers in order with the clock set to each
 * one's due time. */
void yard__timers_advance(yard_ctx_t *ctx, int64_t ms);
/* Frees every timer (the context is going away). */
void yard__timers_free(yard_ctx_t *ctx);

#endif
