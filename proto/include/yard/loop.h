/* Loop sources: work that lives on a replica's thread (outbound HTTP transfers, lease
 * renewals, anything with descriptors or deadlines of its own) and needs the replica's loop to
 * wait on its descriptors and to wake it at a time, between requests, never blocking it.
 *
 * The replica calls, on its own thread and in this order each turn:
 *   prepare  before it waits: add up to max wait items and lower *wake_ms (an absolute time
 *            on the monotonic clock, yard_loop_now_ms()) if the source needs a turn by then;
 *   dispatch after the wait, with the same items (readable/writable filled in by
 *            yard_wait()) and the time now.
 * On stop the replica calls drain once (take no new work; finish or abort what is running),
 * then keeps turning while busy says true, at most drain_ms, and finally calls destroy (which
 * must abort whatever is left, run its completion callbacks with YARD_E_SHUTDOWN, and free the
 * source). destroy runs before the actor's fini, so callbacks never see freed state.
 *
 * Any function pointer may be NULL. */
#ifndef YARD_LOOP_H
#define YARD_LOOP_H

#include "yard/wait.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    void *ctx;
    int (*prepare)(void *ctx, yard_wait_item_t *items, int max, int64_t *wake_ms);
    void (*dispatch)(void *ctx, yard_wait_item_t *items, int n, int64_t now_ms);
    void (*drain)(void *ctx);
    bool (*busy)(void *ctx);
    void (*destroy)(void *ctx);
} yard_loop_source_t;

/* The monotonic clock the loop uses, in milliseconds. */
int64_t yard_loop_now_ms(void);

#endif
