/* Services: created by READY (or, in the broker's start-up grace, by a request), found by name,
 * each with its replicas, a round-robin cursor, a bounded FIFO of requests waiting for credit, and
 * free_credit (the sum over its non-draining replicas of credit minus held), so "is anyone free?"
 * is one comparison. A service that loses its last replica is kept for grace_ms with its queue;
 * after that its queue is answered NO_SERVICE and it is forgotten. At most max_services. */
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/subject.h"

#include <stdlib.h>
#include <string.h>

static yard_str_t
s_key_of(const void *val)
{
    const yard__service_t *s = val;
    return (yard_str_t){s->name, s->name_len};
}

yard__service_t *
yard__service_find(yard_broker_t *b, yard_str_t name)
{
    if (!b->svc_map.slots) {
        yard__map_init(&b->svc_map, s_key_of);
    }
    return yard__map_get(&b->svc_map, name.ptr, name.len, yard__hash(name.ptr, name.len));
}

yard__service_t *
yard__service_get(yard_broker_t *b, yard_str_t name)
{
    yard__service_t *s = yard__service_find(b, name);
    if (s) {
        return s;
    }
    if (b->nsvcs >= (uint64_t)b->o.max_services || name.len > YARD_WIRE_NAME_MAX) {
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        abort();
    }
    memcpy(s->name, name.ptr, name.len);
    s->name_len = name.len;
    s->hash = yard__hash(name.ptr, name.len);
    yard__list_init(&s->queue);
    yard__grow((void **)&b->svcs, &b->svcs_cap, b->nsvcs + 1, sizeof *b->svcs);
    s->pos = b->nsvcs;
    b->svcs[b->nsvcs++] = s;
    yard__map_put(&b->svc_map, s, s->hash);
    return s;
}

uint64_t
yard__contrib(const yard__peer_t *p)
{
    if (p->draining || p->credit <= p->held.count) {
        return 0;
    }
    return p->credit - p->held.count;
}

void
yard__service_add_replica(yard_broker_t *b, yard__service_t *s, yard__peer_t *p)
{
    (void)b;
    yard__grow((void **)&s->reps, &s->reps_cap, s->nreps + 1, sizeof *s->reps);
    p->svc = s;
    p->svc_pos = s->nreps;
    p->draining = false;
    s->reps[s->nreps++] = p;
    s->free_credit += yard__contrib(p);
    s->grace_deadline = 0;
    s->never_served = false;
}

void
yard__service_remove_replica(yard_broker_t *b, yard__peer_t *p)
{
    yard__service_t *s = p->svc;
    s->free_credit -= yard__contrib(p);
    yard__peer_t *last = s->reps[--s->nreps];
    s->reps[p->svc_pos] = last;
    last->svc_pos = p->svc_pos;
    yard__shrink((void **)&s->reps, &s->reps_cap, s->nreps, sizeof *s->reps);
    if (s->rr >= s->nreps) {
        s->rr = 0;
    }
    if (s->filling == p) {
        s->filling = NULL;
    }
    p->svc = NULL;
    if (s->nreps == 0) {
        s->grace_deadline = b->now + b->o.grace_ms;
        if (s->grace_deadline == 0) {
            s->grace_deadline = 1;
        }
    }
}

void
yard__service_set_credit(yard__peer_t *p, uint32_t credit, bool draining)
{
    yard__service_t *s = p->svc;
    s->free_credit -= yard__contrib(p);
    p->credit = credit;
    p->draining = draining;
    s->free_credit += yard__contrib(p);
}

static void
s_service_free(yard_broker_t *b, yard__service_t *s)
{
    yard__map_del(&b->svc_map, s, s->hash);
    yard__service_t *last = b->svcs[--b->nsvcs];
    b->svcs[s->pos] = last;
    last->pos = s->pos;
    free(s->reps);
    yard__stats_service_free(s);
    for (uint32_t i = 0; i < s->nsensitive; i++) {
        free(s->sensitive[i]);
    }
    free(s->sensitive);
    free(s);
}

yard__service_t *
yard__service_expect(yard_broker_t *b, yard_str_t name)
{
    /* A broker that has just started does not know the services whose replicas are still
     * finding it (they register within one reconnect interval): for its first grace_ms a
     * request for an unknown service waits, as it does for a service that lost its last
     * replica, instead of a burst of NO_SERVICE at every broker restart. */
    uint64_t until = b->start_ms + (uint64_t)b->o.grace_ms;
    if (!b->start_ms || b->now >= until) {
        return NULL;
    }
    yard__service_t *s = yard__service_get(b, name);
    if (s) {
        s->grace_deadline = until;
        s->never_served = true;
    }
    return s;
}

/* Grace over: what still waits is answered NO_SERVICE, and the name is forgotten. */
static void
s_grace_over(yard_broker_t *b, yard__service_t *s)
{
    yard_log(YARD_LOG_INFO, "service forgotten after grace",
             YF_STRN("service", s->name, s->name_len), YF_UINT("queued", s->queue.count));
    const char *why =
        s->never_served ? "no replica offers this service" : "the service's last replica went away";
    yard__req_t *r;
    while ((r = yard__list_head(&b->pool, &s->queue))) {
        yard__list_remove(&b->pool, &s->queue, r);
        yard__req_finish(b, r, YARD_E_NO_SERVICE, why);
    }
    s_service_free(b, s);
}

void
yard__services_sweep(yard_broker_t *b)
{
    for (uint32_t i = 0; i < b->nsvcs;) {
        yard__service_t *s = b->svcs[i];
        if (s->nreps == 0 && s->grace_deadline && b->now >= s->grace_deadline) {
            s_grace_over(b, s);
            continue; /* the last service moved into slot i */
        }
        i++;
    }
}

void
yard__services_fini(yard_broker_t *b)
{
    while (b->nsvcs) {
        s_service_free(b, b->svcs[b->nsvcs - 1]);
    }
    free(b->svcs);
    b->svcs = NULL;
    yard__map_fini(&b->svc_map);
}

/* --- sensitive ops (tap.c hides their bodies) ------------------------------------------- */

static bool
s_has_sensitive(const yard__service_t *s, yard_str_t op)
{
    for (uint32_t i = 0; i < s->nsensitive; i++) {
        if (yard_str_eq_cstr(op, s->sensitive[i])) {
            return true;
        }
    }
    return false;
}

void
yard__service_note_sensitive(yard__service_t *s, const yard_header_t *h)
{
    for (uint32_t i = 0; i < h->sensitive_count && !s->all_sensitive; i++) {
        yard_str_t op = h->sensitive[i];
        if (s_has_sensitive(s, op)) {
            continue;
        }
        if (s->nsensitive == YARD_WIRE_SENSITIVE_MAX) {
            /* Replicas disagree about more ops than the bound: hiding every body is the side
             * to err on. */
            s->all_sensitive = true;
            yard_log(YARD_LOG_WARN, "more than 64 sensitive ops: no body of this service is tapped",
                     YF_STRN("service", s->name, s->name_len));
            break;
        }
        if (!s->sensitive) {
            s->sensitive = calloc(YARD_WIRE_SENSITIVE_MAX, sizeof *s->sensitive);
        }
        char *copy = malloc(op.len + 1);
        if (!s->sensitive || !copy) {
            abort();
        }
        memcpy(copy, op.ptr, op.len);
        copy[op.len] = '\0';
        s->sensitive[s->nsensitive++] = copy;
    }
}

bool
yard__service_sensitive(const yard__service_t *s, yard_str_t op)
{
    if (s->all_sensitive) {
        return true;
    }
    for (uint32_t i = 0; i < s->nsensitive; i++) {
        yard_str_t p = yard_str(s->sensitive[i]);
        if (yard_str_eq(p, op) || yard_str_eq_cstr(p, ">") ||
            (op.len && yard_subject_match(p, op))) {
            return true;
        }
    }
    return false;
}
