/* Private to libyard: a replica's credit shared over the brokers it serves (its links), so
 * that it never holds more requests than its credit in total however the brokers' load is
 * spread.
 *
 * Each link has a share (the credit its READY offered). A share grows at once (a READY with
 * the higher value); it shrinks only through a READY with the lower value that the broker
 * answers, and until that answer the old value still counts, since the broker may be sending
 * under it. Requests from a connection the broker has forgotten (it restarted, or the
 * connection dropped) still run: they count as stale until answered, and a new connection's
 * share is trimmed so that the total still holds.
 *
 * Credit moves to a hungry link: one whose share is used up, or whose broker said (in a
 * HEARTBEAT, sent at once when a request starts waiting for a replica with no credit there)
 * that requests wait in its queue. It comes from credit no link holds, or from another link's
 * unused share, half of it at a time. With one link the share is the whole credit and
 * nothing here runs. */
#ifndef YARD_ACTOR_CREDIT_H
#define YARD_ACTOR_CREDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YARD__CREDIT_PENDING_MAX 8

typedef struct {
    uint32_t offer;                          /* the share the latest READY offered */
    uint32_t acked;                          /* the share the broker last answered */
    uint32_t sent[YARD__CREDIT_PENDING_MAX]; /* READY values not answered yet, oldest first */
    uint32_t n_sent;
    uint32_t held;   /* requests from the current connection not answered yet */
    uint32_t stale;  /* requests from earlier connections not answered yet */
    uint32_t demand; /* the broker's queue length, from its last HEARTBEAT answer */
    uint32_t gen;    /* the connection's generation: an answer says which one it was for */
    bool ready_due;  /* the share changed: a READY must say so */
    bool live;       /* connected: only a live link gives or takes credit */
} yard__credit_t;

/* The shares of `total` over n links at start: as even as integers allow (with less credit
 * than links, the first `total` links one each). */
void yard__credit_init(yard__credit_t *links, size_t n, uint32_t total);

/* The value for the READY about to be sent on link i, recorded as not answered yet. */
uint32_t yard__credit_ready(yard__credit_t *links, size_t n, size_t i, uint32_t total);

/* The broker answered a READY on link i with `credit`. */
void yard__credit_acked(yard__credit_t *l, uint32_t credit);

/* The broker answered a HEARTBEAT saying `queued` requests wait for this service. */
void yard__credit_demand(yard__credit_t *l, uint32_t queued);

/* The broker of link i forgot this link's requests (a new connection, a restart): they are
 * stale from now on, no READY is pending, and the share is trimmed to what the others leave
 * (the caller sends READY next). */
void yard__credit_forget(yard__credit_t *links, size_t n, size_t i, uint32_t total);

/* A request arrived on l; returns the generation to answer it with. */
uint32_t yard__credit_took(yard__credit_t *l);

/* A request from generation gen of l was answered. */
void yard__credit_gave(yard__credit_t *l, uint32_t gen);

/* Moves credit towards a hungry link; marks ready_due on every link whose share changed. */
void yard__credit_balance(yard__credit_t *links, size_t n, uint32_t total);

/* The credit link l counts against the total now. */
uint32_t yard__credit_reserved(const yard__credit_t *l);

#endif
