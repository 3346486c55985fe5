/* Timers on a replica's own thread: "every N milliseconds, with jitter" and "once, at a
 * realtime instant". A timer's callback runs on the replica's thread between requests (never
 * during a handler), so it may use the replica's state without locks, publish events and
 * complete deferred requests. Due timers run in time order (equal times: in creation order).
 *
 * Timers stop when the replica starts to drain: no callback runs after that. A timer handle
 * stays valid until it is cancelled, until its one-shot callback returns, or until the actor
 * stopped and fini returned, whichever comes first; fini may still cancel the timers it holds.
 *
 * Under yard/actor_test.h timers run on the test's fake clock (yard_actor_test_advance()). */
#ifndef YARD_TIMER_H
#define YARD_TIMER_H

#include "yard/actor.h"

#include <stdint.h>

/* The most timers one replica holds at once; past it, starting one fails (logged). */
#define YARD_TIMERS_MAX 1024

typedef struct yard_timer yard_timer_t;
typedef void(yard_timer_fn)(yard_ctx_t *ctx, void *arg);

/* Runs fn(ctx, arg) every period_ms, each period drawn uniformly within +-jitter_pct percent
 * of period_ms (0..100; 0: exactly; never under 1 ms), the first one period from now. A run
 * that comes late (a slow handler) is not repeated to catch up: the next is one period after
 * it. Returns the timer (owned by the replica: stop it with yard_timer_cancel(), or let the
 * actor's stop end it), or NULL, with the reason logged, when period_ms is 0, jitter_pct is
 * over 100, fn is NULL, the replica is draining, or YARD_TIMERS_MAX timers are running. */
yard_timer_t *yard_timer_every(yard_ctx_t *ctx, uint32_t period_ms, uint32_t jitter_pct,
                               yard_timer_fn *fn, void *arg);

/* Runs fn(ctx, arg) once, when the realtime clock (yard_ctx_wall_ms()) reaches wall_ms; an
 * instant now or past runs on the loop's next turn. The handle is freed when the callback
 * returns: a holder that keeps it clears its copy in the callback. NULL as for
 * yard_timer_every(). */
yard_timer_t *yard_timer_at(yard_ctx_t *ctx, int64_t wall_ms, yard_timer_fn *fn, void *arg);

/* Cancels *t_p (NULL or an already-NULL pointer: nothing) and sets *t_p to NULL: its
 * callback will not run again. Safe from inside the timer's own callback (and from any other
 * callback of the replica); replica thread only. */
void yard_timer_cancel(yard_timer_t **t_p);

#endif
