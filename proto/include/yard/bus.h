/* Talking to the rest of the bus from inside an actor's replica: calling other services,
 * one-way sends, and subscribing to published subjects (a bot that forwards `alert.>`, a
 * shipper that reads `log.>`, a health check that calls a service).
 *
 * Each replica gets one bus client of its own, made on first use with the replica's broker
 * endpoints, ZeroMQ context and CURVE settings, and turned by the replica's loop as a loop
 * source (yard/loop.h): callbacks run on the replica's thread, between requests, never
 * concurrently with a handler of that replica. At stop, new calls are refused, calls in flight
 * get up to drain_ms to end, and what is left ends with YARD_E_SHUTDOWN before fini.
 *
 * Under yard/actor_test.h the client connects to the `broker:` of the test's config (start a
 * broker with tests/harness/fixture.h) and is turned by yard_actor_test_run().
 *
 * Every function here is for the replica's thread only. */
#ifndef YARD_BUS_H
#define YARD_BUS_H

#include "yard/actor.h"
#include "yard/msg.h"

#include <stddef.h>
#include <stdint.h>

/* Runs exactly once per accepted call with its outcome: yard_msg_status(reply) is 0 for a
 * reply, else the negative yard error (YARD_E_TIMEOUT, YARD_E_NO_SERVICE, a service's own
 * YARD_E_SERVICE with yard_msg_app_error(), YARD_E_SHUTDOWN at stop). reply is borrowed: valid
 * until the callback returns. */
typedef void(yard_bus_reply_fn)(yard_ctx_t *ctx, const yard_msg_t *reply, void *arg);

/* Runs for every published message matching a subscribed pattern. msg is borrowed: valid until
 * the callback returns (yard_msg_subject(), yard_msg_body()). */
typedef void(yard_bus_event_fn)(yard_ctx_t *ctx, const yard_msg_t *msg, void *arg);

/* Calls service's op (op may be NULL) with a msgpack body (copied; may be NULL when size is
 * 0), waiting at most timeout_ms (0: 5 s). Returns 0 when accepted (cb runs exactly once,
 * later, never from inside this call), or an error and cb never runs: YARD_E_INVALID for a
 * bad name or NULL cb, YARD_E_SHUTDOWN once the replica drains, YARD_E_CONFIG when the client
 * cannot be made (no broker endpoint). */
int yard_bus_call(yard_ctx_t *ctx, const char *service, const char *op, const void *body,
                  size_t size, uint32_t timeout_ms, yard_bus_reply_fn *cb, void *arg);

/* One-way send to one replica of service; nobody reads the reply. Returns 0 once queued, or
 * an error as yard_bus_call(). */
int yard_bus_send(yard_ctx_t *ctx, const char *service, const char *op, const void *body,
                  size_t size);

/* Publishes body (msgpack, copied; may be NULL when size is 0) under subject through the
 * replica's bus client, the same connection its calls use, so a yard_bus_flush() after it
 * says when the broker has taken it (yard_ctx_publish() goes through the replica's broker
 * link instead, which no flush covers). Returns 0 once queued, YARD_E_INVALID for a bad
 * subject, or an error as yard_bus_call(). */
int yard_bus_publish(yard_ctx_t *ctx, const char *subject, const void *body, size_t size);

/* Runs exactly once with status 0 when the broker has handled everything this replica's bus
 * client sent before the flush (publications forwarded to subscribers, calls and sends passed
 * on), or with an error when that is not known: YARD_E_TIMEOUT after timeout_ms (0: 5 s),
 * YARD_E_SHUTDOWN at stop. It is a `$sys` ping on the same connection, which keeps order and
 * which the broker reads in order. */
typedef void(yard_bus_flush_fn)(yard_ctx_t *ctx, int status, void *arg);

/* Returns 0 when accepted (cb runs exactly once, later), or an error as yard_bus_call() and cb
 * never runs. */
int yard_bus_flush(yard_ctx_t *ctx, uint32_t timeout_ms, yard_bus_flush_fn *cb, void *arg);

/* Subscribes the replica to pattern (`*` one token, `>` the rest). cb and arg must stay valid
 * until the replica stops (set them up in init, with state as arg). Subscriptions survive a
 * broker restart. Every replica that subscribes gets its own copy of each message: subscribe
 * from one replica (e.g. yard_ctx_replica(ctx) == 0, or the holder of a lease) when the work
 * must happen once per process. Returns 0, YARD_E_INVALID for a bad pattern, or an error as
 * yard_bus_call(). */
int yard_bus_subscribe(yard_ctx_t *ctx, const char *pattern, yard_bus_event_fn *cb, void *arg);

/* Ends a subscription. Returns 0, or YARD_E_NOT_FOUND when pattern was not subscribed. */
int yard_bus_unsubscribe(yard_ctx_t *ctx, const char *pattern);

#endif
