/* Stateful replicas that cannot share state are refused. A stateful replica's READY carries
 * the identity of its state store (yard_store_identity(): a memory store is unique to its
 * process, a Redis store is its normalised URL). Two replicas of one service on different
 * stores would each answer from their own data, so that a client's requests alternate between
 * two truths (a login works, then fails). The broker accepts a new replica only when its store
 * is the one the service's other live replicas use, and otherwise answers ERROR FORBIDDEN
 * (without id: the answer to a READY) naming both stores and what to do; the runtime takes
 * that as final and stops.
 *
 * Draining replicas are not compared (they take no new requests, so a rolling restart onto
 * new memory-store processes is not refused), and neither are replicas without a store
 * identity (stateless actors, older runtimes). */
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first live replica of s (other than p) whose store differs from store, or NULL. */
static const yard__peer_t *
s_conflict(const yard__service_t *s, const yard__peer_t *p, yard_str_t store)
{
    for (uint32_t i = 0; i < s->nreps; i++) {
        const yard__peer_t *r = s->reps[i];
        if (r != p && !r->draining && r->store && !yard_str_eq_cstr(store, r->store)) {
            return r;
        }
    }
    return NULL;
}

bool
yard__ready_refused(yard_broker_t *b, const void *rid, size_t len, const yard__peer_t *p,
                    const yard__service_t *s, const yard_header_t *h)
{
    if (h->store.len == 0) {
        return false;
    }
    const yard__peer_t *other = s_conflict(s, p, h->store);
    if (!other) {
        return false;
    }
    char store[YARD_WIRE_STORE_MAX + 1];
    char replica[YARD_WIRE_NAME_MAX + 1];
    memcpy(store, h->store.ptr, h->store.len);
    store[h->store.len] = '\0';
    memcpy(replica, h->replica.ptr ? h->replica.ptr : "", h->replica.len);
    replica[h->replica.len] = '\0';
    b->counters[YARD__C_REPLICAS_REFUSED]++;
    yard_log(YARD_LOG_WARN, "replica refused: its state store is not the one its service uses",
             YF_STRN("service", s->name, s->name_len), YF_STR("replica", replica),
             YF_STR("store", store), YF_STR("expected", other->store),
             YF_STR("serving", other->replica));
    /* Room for the longest names; the text is cut at the wire's cap after (the log line and the
     * event keep every name whole). */
    char text[4 * YARD_WIRE_NAME_MAX + 2 * YARD_WIRE_STORE_MAX + 512];
    snprintf(text, sizeof text,
             "service '%s' keeps state, and its replica %s uses store '%s' while this one uses "
             "'%s': replicas on different stores would answer from different data. Give every "
             "replica of '%s' the same shared store (store: redis://host:port/db), or stop the "
             "other one first",
             s->name, other->replica[0] ? other->replica : "(unnamed)", other->store, store,
             s->name);
    text[YARD_WIRE_TEXT_MAX] = '\0';
    yard__send_error(b, rid, len, 0, YARD_E_FORBIDDEN, text);
    yard__event_store(b, "replica_refused", s->name, replica, store, other->store);
    return true;
}

void
yard__peer_set_store(yard__peer_t *p, yard_str_t store)
{
    free(p->store);
    p->store = NULL;
    if (store.len == 0) {
        return;
    }
    p->store = malloc(store.len + 1);
    if (!p->store) {
        abort();
    }
    memcpy(p->store, store.ptr, store.len);
    p->store[store.len] = '\0';
}
