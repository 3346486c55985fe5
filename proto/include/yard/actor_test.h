/* Testing a whole actor without sockets, through the runtime's own code: the option defaults
 * and config file (yard_actor_configure(), the environment included), the state allocation,
 * init and fini, and the handler lookup are the ones a replica uses; only the broker is
 * missing. Timers run on a fake clock that the test moves (yard_actor_test_advance()), events
 * published with yard_ctx_publish() are captured, and loop sources (outbound HTTP to a local
 * server, leases) are turned in real time by yard_actor_test_run().
 *
 * The fake clock starts at 0 on the monotonic side (yard_ctx_now_ms()) and at
 * 2026-01-01T00:00:00Z on the realtime side (yard_ctx_wall_ms()); both move together.
 *
 *     yard_actor_test_t *t;
 *     yard_actor_test_new(&yard_actor_greet, "greet: {greeting: hi}\n", &t);
 *     yard_request_t *req = yard_actor_test_call(t, "hello", body, size);
 *     ... yard_request_outcome_test(req, &out, &out_size, NULL) ...
 *     yard_request_destroy_test(&req);
 *     yard_actor_test_advance(t, 60000);     // a minute of timers
 *     yard_actor_test_destroy(&t);
 *
 * Single-threaded: call these from one thread (deferred tokens may still be completed from
 * any thread). */
#ifndef YARD_ACTOR_TEST_H
#define YARD_ACTOR_TEST_H

#include "yard/actor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct yard_actor_test yard_actor_test_t;

/* Builds replica 0 of def: applies the option defaults, yaml_config (NULL, or the text of a
 * config file, with the actor's section named after it) and the environment, opens the store
 * it names (default memory), allocates the state and runs init on the fake clock. Returns 0
 * and sets *out (caller owns it; free with yard_actor_test_destroy()), YARD_E_INVALID for a
 * malformed descriptor, YARD_E_CONFIG with the reason logged (file line, key), or init's
 * error (fini does not run). */
int yard_actor_test_new(const yard_actor_def_t *def, const char *yaml_config,
                        yard_actor_test_t **out);

/* Calls the handler a replica would call for op (NULL: no op) with a copy of body, and
 * returns the request: read it with yard_request_outcome_test() (1 while deferred and not
 * completed yet). Caller owns the result; free with yard_request_destroy_test(). */
yard_request_t *yard_actor_test_call(yard_actor_test_t *t, const char *op, const void *body,
                                     size_t size);

/* Moves the fake clock ms forward, running each timer that comes due in time order, with the
 * clock set to its due time while it runs. */
void yard_actor_test_advance(yard_actor_test_t *t, int64_t ms);

/* Turns the loop sources in real time, with timers already due on the fake clock, until
 * until(arg) says true (NULL: until no source is busy) or max_ms of real time passed.
 * until is checked at least every 10 ms, so it may watch other threads. Returns 0, or
 * YARD_E_TIMEOUT. */
int yard_actor_test_run(yard_actor_test_t *t, int64_t max_ms, bool (*until)(void *arg), void *arg);

/* The events published so far (at most 65536 are kept): returns how many, and when i is
 * below that, sets the non-NULL ones of *subject, *body and *size to event i's. Borrowed;
 * valid until t is destroyed. */
size_t yard_actor_test_published(yard_actor_test_t *t, size_t i, const char **subject,
                                 const void **body, size_t *size);

/* The replica's context, e.g. for yard_ctx_state() or yard_ctx_now_ms(). Borrowed; valid
 * until t is destroyed. */
yard_ctx_t *yard_actor_test_ctx(yard_actor_test_t *t);

/* Ends the actor as a replica does: drains the sources and turns them while busy (up to its
 * drain_ms), destroys them, stops the timers, runs fini, frees everything and sets *t_p to
 * NULL. */
void yard_actor_test_destroy(yard_actor_test_t **t_p);

#endif
