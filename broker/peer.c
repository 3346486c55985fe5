/* Peers the broker tracks: replicas (after READY) and subscribers (after SUBSCRIBE), found by
 * routing id. A client that only sends requests is not tracked: its routing id travels in
 * each request slot. A tracked peer leaves when it has no role left, sends DISCONNECT, is
 * unreachable, or is silent for 3 of its heartbeat intervals; a replica that leaves hands
 * its held requests to yard__replica_lost (re-send or WORKER_LOST). At most max_peers. */
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/subject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MISSED 3

yard_str_t
yard__peer_key(const void *val)
{
    const yard__peer_t *p = val;
    return (yard_str_t){(const char *)p->id, p->id_len};
}

yard__peer_t *
yard__peer_find(yard_broker_t *b, const void *rid, size_t len)
{
    if (b->npeers == 0) {
        return NULL;
    }
    return yard__map_get(&b->peer_map, rid, len, yard__hash(rid, len));
}

yard__peer_t *
yard__peer_get(yard_broker_t *b, const void *rid, size_t len)
{
    yard__peer_t *p = yard__peer_find(b, rid, len);
    if (p) {
        return p;
    }
    if (b->npeers >= (uint64_t)b->o.max_peers || len > YARD__RID_MAX || len == 0) {
        return NULL;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        abort();
    }
    memcpy(p->id, rid, len);
    p->id_len = (uint8_t)len;
    p->hash = yard__hash(rid, len);
    p->last_seen = b->now;
    p->heartbeat_ms = b->o.heartbeat_ms;
    yard__list_init(&p->held);
    yard__grow((void **)&b->peers, &b->peers_cap, b->npeers + 1, sizeof *b->peers);
    p->pos = b->npeers;
    b->peers[b->npeers++] = p;
    yard__map_put(&b->peer_map, p, p->hash);
    yard__trim_note(b);
    return p;
}

static void
s_peer_free(yard_broker_t *b, yard__peer_t *p)
{
    yard__map_del(&b->peer_map, p, p->hash);
    yard__peer_t *last = b->peers[--b->npeers];
    b->peers[p->pos] = last;
    last->pos = p->pos;
    yard__shrink((void **)&b->peers, &b->peers_cap, b->npeers, sizeof *b->peers);
    free(p->subs);
    free(p->store);
    free(p);
}

void
yard__peer_forget_if_idle(yard_broker_t *b, yard__peer_t *p)
{
    if (p && !p->svc && p->nsubs == 0) {
        s_peer_free(b, p);
    }
}

/* The peer is gone (DISCONNECT, silence, unreachable): its held requests are re-sent or
 * failed, its subscriptions dropped, and it is forgotten. event names the $sys event. */
void
yard__peer_gone(yard_broker_t *b, yard__peer_t *p, const char *event)
{
    if (p->svc) {
        char service[YARD_WIRE_NAME_MAX + 1];
        memcpy(service, p->svc->name, p->svc->name_len + 1);
        yard__service_t *s = p->svc;
        yard__replica_lost(b, p);
        yard__service_remove_replica(b, p);
        yard__event(b, event, NULL, service, p->replica);
        yard__dispatch(b, s);
    }
    yard__subs_clear(b, p);
    s_peer_free(b, p);
}

void
yard__peers_sweep(yard_broker_t *b)
{
    for (uint32_t i = 0; i < b->npeers;) {
        yard__peer_t *p = b->peers[i];
        if (b->now - p->last_seen > (uint64_t)S_MISSED * p->heartbeat_ms) {
            if (p->svc) {
                yard_log(YARD_LOG_WARN, "replica declared dead",
                         YF_STRN("service", p->svc->name, p->svc->name_len),
                         YF_STR("replica", p->replica), YF_INT("missed", S_MISSED));
                b->counters[YARD__C_REPLICAS_DEAD]++;
                yard__event(b, "heartbeat_lost", NULL, p->svc->name, p->replica);
            }
            yard__peer_gone(b, p, "replica_dead");
            continue; /* the last peer moved into slot i */
        }
        i++;
    }
}

void
yard__peers_fini(yard_broker_t *b)
{
    while (b->npeers) {
        yard__peer_t *p = b->peers[b->npeers - 1];
        yard__subs_clear(b, p);
        s_peer_free(b, p);
    }
    free(b->peers);
    free(b->subscribers);
    b->peers = NULL;
    b->subscribers = NULL;
}

static uint32_t
s_clamp(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A service is offered under a name a REQUEST can give: one concrete subject. A wildcard
 * ("a.*", ">") would be a service nobody could call by its name, and "$" names are the
 * broker's own ($sys, $tap). why gets the reason (buf holds it when it names the service). */
static bool
s_ready_valid(const yard_header_t *h, char *buf, size_t cap, const char **why)
{
    /* credit 0 is allowed: a replica that shares its credit over several brokers may have
     * none to give this one yet; it stays registered, and what comes waits in the queue. */
    if (h->service.len == 0 || h->heartbeat_ms == 0) {
        *why = "READY needs service and heartbeat_ms";
        return false;
    }
    if (h->service.ptr[0] == '$') {
        *why = "service names starting with '$' are the broker's";
        return false;
    }
    if (!yard_subject_valid(h->service)) {
        snprintf(buf, cap,
                 "READY: '%.*s' is not a service name: a name is dot-separated tokens of printable "
                 "ASCII without spaces, empty tokens or the wildcards '*' and '>'",
                 (int)h->service.len, h->service.ptr);
        *why = buf;
        return false;
    }
    for (uint32_t i = 0; i < h->sensitive_count; i++) {
        yard_str_t op = h->sensitive[i];
        if (!yard_subject_pattern_valid(op)) {
            snprintf(buf, cap, "READY: sensitive op '%.*s' is not an op name or pattern",
                     (int)op.len, op.ptr);
            *why = buf;
            return false;
        }
    }
    return true;
}

static void
s_register(yard_broker_t *b, yard__peer_t *p, yard__service_t *s, const yard_header_t *h)
{
    uint32_t n = h->replica.len;
    memcpy(p->replica, h->replica.ptr ? h->replica.ptr : "", n);
    p->replica[n] = '\0';
    yard__peer_set_store(p, h->store);
    p->ready_ms = b->now;
    yard__service_add_replica(b, s, p);
    yard_log(YARD_LOG_INFO, "replica ready", YF_STRN("service", s->name, s->name_len),
             YF_STR("replica", p->replica), YF_UINT("credit", p->credit));
    yard__event(b, "replica_ready", NULL, s->name, p->replica);
}

void
yard__on_ready(yard_broker_t *b, const void *rid, size_t len, yard__peer_t *p,
               const yard_header_t *h)
{
    const char *why = NULL;
    char text[YARD_WIRE_NAME_MAX + 160];
    if (!s_ready_valid(h, text, sizeof text, &why)) {
        yard__fault(b, rid, len, p, YARD__F_MISSING, why, YARD_E_BAD_REQUEST, 0);
        return;
    }
    if (p && p->svc && !yard_str_eq(h->service, (yard_str_t){p->svc->name, p->svc->name_len})) {
        yard__fault(b, rid, len, p, YARD__F_BAD_COMMAND, "one service per connection",
                    YARD_E_BAD_REQUEST, 0);
        return;
    }
    yard__service_t *s = yard__service_get(b, h->service);
    /* A replica already registered keeps the store it registered with. */
    if (s && !(p && p->svc) && yard__ready_refused(b, rid, len, p, s, h)) {
        return;
    }
    p = s ? yard__peer_get(b, rid, len) : NULL;
    if (!p) {
        yard__fault(b, rid, len, NULL, YARD__F_LIMIT, "too many services or peers",
                    YARD_E_OVERLOADED, 0);
        return;
    }
    uint32_t credit = h->credit > b->o.max_in_flight ? (uint32_t)b->o.max_in_flight : h->credit;
    p->heartbeat_ms = s_clamp(h->heartbeat_ms, b->o.heartbeat_min_ms, b->o.heartbeat_max_ms);
    bool is_new = p->svc == NULL;
    p->fill = (h->flags & YARD_FLAG_FILL) != 0; /* a later READY may change it, as the credit */
    if (is_new) {
        p->credit = credit;
        s_register(b, p, s, h);
    } else {
        yard__service_set_credit(p, credit, false);
    }
    yard__service_note_sensitive(s, h);
    yard_header_t ack = {.heartbeat_ms = p->heartbeat_ms, .credit = credit};
    yard__send(b, rid, len, YARD_CMD_READY, &ack, NULL);
    yard__dispatch(b, s);
}

void
yard__on_drain(yard_broker_t *b, yard__peer_t *p)
{
    (void)b;
    yard__service_set_credit(p, p->credit, true);
    yard_log(YARD_LOG_INFO, "replica draining", YF_STRN("service", p->svc->name, p->svc->name_len),
             YF_STR("replica", p->replica), YF_UINT("held", p->held.count));
}
