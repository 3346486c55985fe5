/* Leases: "only one replica, anywhere, does this piece of work" on the state store.
 *
 * A lease is a key in the store whose value is the holder's token (128 random bits in hex,
 * then host and pid for whoever reads the key: "9f0c...e1/host/4242"). It is taken with SET NX
 * PX ttl, renewed with compare-and-pexpire and released with compare-and-delete, so a holder
 * can only ever extend or drop its own lease, never one that lapsed and was taken by another.
 *
 * Holding is local knowledge: a lease counts as held until the time of its last successful
 * acquire or renew, taken *before* the command went out, plus the TTL minus a safety margin of
 * 1% + 2 ms (clock rates differ). A holder that cannot reach the store therefore stops
 * believing it holds the lease before the key can have expired on the server, and so before
 * anyone else can take it. Work guarded by a lease checks yard_lease_held() before each step.
 *
 * On the memory store a lease excludes the threads of one process; on Redis, every process
 * that points at the same server. A Redis that restarts empty (no persistence) forgets every
 * lease at once: until the holder's next renewal finds its key gone (at most a third of the TTL
 * with the runtime's pace), another process may already hold the lease too. Work that must
 * never overlap even then needs persistence on the server, or a check of its own at the end.
 *
 * Two ways to use one:
 *   - plain: yard_lease_new() then acquire / renew / release from any one thread (the caller
 *     renews, at a third of the TTL is the usual pace);
 *   - runtime-managed, inside an actor: yard_ctx_lease() makes the replica try to acquire
 *     it, renew it at a third of the TTL and call back when it is acquired or lost, on the
 *     replica's own thread, and release it on drain (see there).
 *
 * A lease object is not thread-safe: one thread uses it at a time (the store is). */
#ifndef YARD_LEASE_H
#define YARD_LEASE_H

#include "yard/store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct yard_lease yard_lease_t;

/* Bounds on a lease's time to live, in milliseconds. */
#define YARD_LEASE_TTL_MIN 30u
#define YARD_LEASE_TTL_MAX 86400000u /* one day */
/* The longest lease name (the store key). */
#define YARD_LEASE_NAME_MAX 512u

/* A lease on the key name (used as the store key verbatim: give it a prefix of its own, e.g.
 * "dns:poller") with a TTL of ttl_ms, not held yet. store is borrowed and must outlive the
 * lease. Returns 0 and sets *out (caller owns it; free with yard_lease_destroy()), or
 * YARD_E_INVALID for a NULL store, a name that is empty or over YARD_LEASE_NAME_MAX bytes, or
 * a TTL outside [YARD_LEASE_TTL_MIN, YARD_LEASE_TTL_MAX]. */
int yard_lease_new(yard_store_t *store, const char *name, uint32_t ttl_ms, yard_lease_t **out);

/* Frees the lease without releasing it (the key lapses at its TTL; call yard_lease_release()
 * first to hand it over at once). Sets *self_p to NULL; a NULL *self_p is fine. */
void yard_lease_destroy(yard_lease_t **self_p);

/* Tries to take the lease. Returns 1 when this lease now holds it (also when it held it
 * already: then this renews it), 0 when someone else holds it, or YARD_E_UNREACHABLE (held-ness
 * unchanged). */
int yard_lease_acquire(yard_lease_t *self);

/* Extends the lease by its TTL from now, if this lease still holds it. Returns 1 when renewed,
 * 0 when it was lost (it lapsed, or another holder has it: no longer held from now on), or
 * YARD_E_UNREACHABLE (still held until the validity of the last success runs out). */
int yard_lease_renew(yard_lease_t *self);

/* Gives the lease up (compare-and-delete, so another's lease is never deleted) and stops
 * holding it locally whatever the store answers. Returns 1 when the key was ours and is gone,
 * 0 when it was not ours (or absent), or YARD_E_UNREACHABLE (the key lapses at its TTL). */
int yard_lease_release(yard_lease_t *self);

/* True while the lease is held at now_ms (CLOCK_MONOTONIC in milliseconds, the clock of
 * yard_loop_now_ms() and of yard_lease_valid_until()). */
bool yard_lease_held(const yard_lease_t *self, int64_t now_ms);

/* When the current holding ends if it is not renewed (CLOCK_MONOTONIC ms): a time already
 * past once it ran out unrenewed; 0 when never acquired, lost (a renewal said so) or
 * released. */
int64_t yard_lease_valid_until(const yard_lease_t *self);

/* --- runtime-managed leases (inside an actor) ---------------------------------------------- */

/* A replica's context (yard/actor.h). */
typedef struct yard_ctx yard_ctx_t;

/* Called on the replica's thread when the lease is acquired (held true) or lost (held false:
 * a renewal found it taken or lapsed, the store stayed unreachable until the holding's
 * validity ran out, or the replica drains and released it). Work guarded by the lease stops
 * in the call with held false, before anything else runs on the replica. */
typedef void(yard_lease_fn)(yard_ctx_t *ctx, yard_lease_t *lease, bool held, void *arg);

/* Leases one replica may have the runtime keep. */
#define YARD_CTX_LEASES_MAX 32

/* Has the replica keep the lease `name` (see yard_lease_new() for name and ttl_ms): from its
 * next loop turn it tries to acquire it, and again every ttl_ms / 3 while someone else holds
 * it; once held, renews it every ttl_ms / 3 (retrying at ttl_ms / 6 while the store does not
 * answer). on_change (may be NULL: poll yard_lease_held()) is called with held true on each
 * acquisition and with held false the moment the lease is lost; the replica then tries to
 * acquire it again. On drain every held lease is released (compare-and-delete) and reported
 * lost. Store calls are synchronous on the replica's thread, as every store call is, and
 * bounded by the store's own timeouts; holdings are counted on the real monotonic clock, also
 * under yard/actor_test.h's fake one.
 *
 * Sets *out (may be NULL) to the lease: borrowed, valid until fini is called; the caller
 * reads it (yard_lease_held() with yard_loop_now_ms(), the getters) but never acquires,
 * renews, releases or destroys it. Returns 0, YARD_E_INVALID for a NULL ctx, a context
 * without a store, or a bad name or TTL, YARD_E_TOO_LARGE past YARD_CTX_LEASES_MAX, or
 * YARD_E_SHUTDOWN once the replica drains. On error on_change is never called. */
int yard_ctx_lease(yard_ctx_t *ctx, const char *name, uint32_t ttl_ms, yard_lease_fn *on_change,
                   void *arg, yard_lease_t **out);

/* The lease's name (its key), TTL and token (the value stored while held). Borrowed; valid
 * for the lease's life. */
const char *yard_lease_name(const yard_lease_t *self);
uint32_t yard_lease_ttl_ms(const yard_lease_t *self);
const char *yard_lease_token(const yard_lease_t *self);

#endif
