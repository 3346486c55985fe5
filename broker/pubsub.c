/* Pub/sub: each tracked peer holds up to YARD__SUBS_MAX patterns (owned copies); the broker
 * keeps the list of peers that have any. A PUBLISH goes to each such peer at most once,
 * however many of its patterns match, as a reference to the same body frame (zmq_msg_copy
 * shares the bytes). Delivery is at-most-once: a full pipe drops and counts. */
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/subject.h"

#include <stdlib.h>
#include <string.h>

static bool
s_peer_matches(const yard__peer_t *p, yard_str_t subject)
{
    for (uint32_t i = 0; i < p->nsubs; i++) {
        if (yard_subject_match(p->subs[i], subject)) {
            return true;
        }
    }
    return false;
}

void
yard__publish(yard_broker_t *b, yard_str_t subject, const yard_header_t *h, zmq_msg_t *body)
{
    yard_header_t out = {.service = subject};
    if (h) {
        out.headers = h->headers;
        out.header_count = h->header_count;
    }
    b->counters[YARD__C_PUBLISHED]++;
    yard__tap_publish(b, subject, h, body);
    for (uint32_t i = 0; i < b->nsubscribers;) {
        yard__peer_t *p = b->subscribers[i];
        if (!s_peer_matches(p, subject)) {
            i++;
            continue;
        }
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        zmq_msg_copy(&frame, body);
        int rc = yard__send(b, p->id, p->id_len, YARD_CMD_PUBLISH, &out, &frame);
        zmq_msg_close(&frame);
        if (rc == YARD_E_UNREACHABLE) {
            yard__peer_gone(b, p, "replica_dead"); /* the last subscriber moved into slot i */
            continue;
        }
        b->counters[rc ? YARD__C_PUB_DROPPED : YARD__C_DELIVERED]++;
        i++;
    }
}

void
yard__on_publish(yard_broker_t *b, const void *rid, size_t len, const yard_header_t *h,
                 zmq_msg_t *body)
{
    if (!yard_subject_valid(h->service) || h->service.ptr[0] == '$') {
        yard__fault(b, rid, len, NULL, YARD__F_SUBJECT, "PUBLISH needs a valid subject",
                    YARD_E_BAD_REQUEST, h->id);
        return;
    }
    yard__publish(b, h->service, h, body);
}

static int
s_find(const yard__peer_t *p, yard_str_t pattern)
{
    for (uint32_t i = 0; i < p->nsubs; i++) {
        if (yard_str_eq(p->subs[i], pattern)) {
            return (int)i;
        }
    }
    return -1;
}

static void
s_add(yard_broker_t *b, yard__peer_t *p, yard_str_t pattern)
{
    if (p->nsubs == 0) {
        yard__grow((void **)&b->subscribers, &b->subscribers_cap, b->nsubscribers + 1,
                   sizeof *b->subscribers);
        p->sub_pos = b->nsubscribers;
        b->subscribers[b->nsubscribers++] = p;
    }
    yard__grow((void **)&p->subs, &p->subs_cap, p->nsubs + 1, sizeof *p->subs);
    char *copy = malloc(pattern.len + 1);
    if (!copy) {
        abort();
    }
    memcpy(copy, pattern.ptr, pattern.len);
    copy[pattern.len] = '\0';
    p->subs[p->nsubs++] = (yard_str_t){copy, pattern.len};
    yard__tap_subscribed(b, p, p->subs[p->nsubs - 1]);
}

static void
s_remove_at(yard_broker_t *b, yard__peer_t *p, uint32_t i)
{
    yard__tap_unsubscribed(b, p, p->subs[i]);
    free((char *)p->subs[i].ptr);
    p->subs[i] = p->subs[--p->nsubs];
    if (p->nsubs == 0) {
        yard__peer_t *last = b->subscribers[--b->nsubscribers];
        b->subscribers[p->sub_pos] = last;
        last->sub_pos = p->sub_pos;
    }
}

void
yard__subs_clear(yard_broker_t *b, yard__peer_t *p)
{
    while (p->nsubs) {
        s_remove_at(b, p, p->nsubs - 1);
    }
}

void
yard__on_subscribe(yard_broker_t *b, const void *rid, size_t len, yard__peer_t *p, yard_cmd_t cmd,
                   const yard_header_t *h)
{
    if (!yard_subject_pattern_valid(h->service)) {
        yard__fault(b, rid, len, p, YARD__F_SUBJECT, "SUBSCRIBE needs a valid pattern",
                    YARD_E_BAD_REQUEST, 0);
        return;
    }
    if (cmd == YARD_CMD_UNSUBSCRIBE) {
        int i = p ? s_find(p, h->service) : -1;
        if (i >= 0) {
            s_remove_at(b, p, (uint32_t)i);
            yard__peer_forget_if_idle(b, p);
        }
        return;
    }
    p = yard__peer_get(b, rid, len);
    if (!p || (s_find(p, h->service) < 0 && p->nsubs >= YARD__SUBS_MAX)) {
        yard__fault(b, rid, len, p, YARD__F_LIMIT, "too many peers or subscriptions",
                    YARD_E_OVERLOADED, 0);
        return;
    }
    if (h->heartbeat_ms && !p->svc) {
        uint32_t hb = h->heartbeat_ms;
        p->heartbeat_ms = hb < b->o.heartbeat_min_ms   ? b->o.heartbeat_min_ms
                          : hb > b->o.heartbeat_max_ms ? b->o.heartbeat_max_ms
                                                       : hb;
    }
    if (s_find(p, h->service) < 0) {
        s_add(b, p, h->service);
    }
}
