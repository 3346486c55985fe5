/* The client's links: one DEALER per broker of the list, the current one for calls and
 * publications, the others open while there are subscriptions; and the move of the calls to
 * the next broker when the current one is lost.
 *
 * Invariant: after a failover every pending call has either been re-sent on the new current
 * link with the time it has left (idempotent calls only) or ended UNREACHABLE; every open
 * link has been sent the subscriptions; the link left behind is reopened when it still
 * carries subscriptions, so they come back with its broker. */
#include "client_internal.h"
#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>

void
yard__client_link_close(yard_client_t *self, size_t i)
{
    yard__clink_t *l = &self->links[i];
    yard__bus_close(&l->sock, &l->mon);
    yard__link_reset(&l->io); /* what it batched or was reading belonged to that socket */
    l->up = false;
}

int
yard__client_link_open(yard_client_t *self, size_t i)
{
    yard__clink_t *l = &self->links[i];
    l->sock = yard__bus_open(self->ctx, self->endpoints[i], 0, &l->mon);
    if (!l->sock) {
        return YARD_E_CONFIG;
    }
    l->connected_once = l->up = l->answered = l->waiting = l->published = false;
    int64_t now = yard__clock_ms();
    l->last_send = l->last_recv = now;
    l->sends_at_drain = l->sends - 1; /* a new socket has never been drained */
    l->mon_dirty = true;
    yard__client_send_subscriptions(self, i);
    return 0;
}

void
yard__client_links_fit(yard_client_t *self)
{
    for (size_t i = 0; i < self->n_endpoints; i++) {
        if (i == self->current) {
            continue;
        }
        if (self->subs && !self->links[i].sock) {
            yard__client_link_open(self, i);
        } else if (!self->subs && self->links[i].sock) {
            yard__client_link_close(self, i);
        }
    }
}

int
yard__client_send_pub(void *arg, const char *subject, const void *body, size_t size)
{
    yard_client_t *self = arg;
    yard__clink_t *l = yard__client_link(self);
    yard_header_t h = {.service = yard_str(subject)};
    zmq_msg_t m;
    zmq_msg_init(&m);
    yard__msg_set_bytes(&m, body, size);
    int rc = yard__client_link_send(self, self->current, YARD_CMD_PUBLISH, &h, &m);
    if (rc == 0) {
        l->published = true; /* its broker must answer something soon: see s_outstanding */
    }
    return rc;
}

void
yard__client_flush_pubs(yard_client_t *self)
{
    yard__clink_t *l = yard__client_link(self);
    if (self->pubs.count && l->sock && !l->waiting) {
        yard__pubbuf_flush(&self->pubs, yard__client_send_pub, self,
                           self->endpoints[self->current]);
    }
}

/* Re-sends c through the current link with the time it has left. Returns 0 or an error. */
static int
s_resend(yard_client_t *self, yard__call_t *c, int64_t now)
{
    yard_header_t h;
    yard_cmd_t cmd;
    const char *why = NULL;
    if (yard_wire_decode(self->codec, c->hdr, c->hdr_len, &cmd, &h, &why) != 0) {
        return YARD_E_INTERNAL;
    }
    h.timeout_ms = (uint32_t)(c->deadline - now);
    uint8_t hbuf[YARD_WIRE_HEADER_MAX];
    int n = yard_wire_encode(cmd, &h, hbuf, sizeof hbuf);
    if (n < 0) {
        return n;
    }
    return yard__client_send_encoded(self, hbuf, (size_t)n, &c->body, true, now);
}

const char *
yard__client_lost_text(const yard_client_t *self, const char *gone, char *buf, size_t cap)
{
    if (!self->links || self->links[self->current].answered) {
        return gone;
    }
    snprintf(buf, cap, "no broker answered at %s", self->endpoints[self->current]);
    return buf;
}

/* The current broker is gone: move calls to the next link, re-send what may be re-sent, end
 * the rest UNREACHABLE. Returns the number of callbacks run. */
int
yard__client_failover(yard_client_t *self, const char *why)
{
    /* Said before the link moves on: whether the broker it leaves ever answered. */
    char text[YARD_WIRE_TEXT_MAX];
    const char *lost_text =
        yard__client_lost_text(self, "the broker went away before replying", text, sizeof text);
    size_t left = self->current;
    yard_log(YARD_LOG_WARN,
             self->links[left].answered ? "broker lost; reconnecting"
                                        : "no broker answered; trying again",
             YF_STR("endpoint", self->endpoints[left]), YF_STR("reason", why),
             YF_UINT("pending", self->pending));
    yard__client_link_close(self, left);
    self->current = (left + 1) % self->n_endpoints;
    if (self->subs && self->current != left) {
        yard__client_link_open(self, left); /* its subscriptions come back with its broker */
    }
    if (!self->links[self->current].sock) {
        /* Endpoint syntax was checked at new: a failure here leaves the calls to end. */
        yard__client_link_open(self, self->current);
    }
    int64_t now = yard__clock_ms();
    yard__clink_t *next = yard__client_link(self);
    next->waiting = !next->up; /* publications wait until it is */
    bool open = next->sock != NULL;
    yard__call_t *lost = NULL;
    for (size_t i = 0; i < self->n_buckets; i++) {
        for (yard__call_t **pp = &self->buckets[i]; *pp;) {
            yard__call_t *c = *pp;
            if (c->keep && c->deadline > now && open && s_resend(self, c, now) == 0) {
                pp = &c->next;
                continue;
            }
            *pp = c->next;
            self->pending--;
            c->next = lost;
            lost = c;
        }
    }
    yard__client_flush_pubs(self); /* the next broker may be up already */
    int ran = 0;
    while (lost) {
        yard__call_t *c = lost;
        lost = c->next;
        yard__client_end_local(self, c, YARD_E_UNREACHABLE, lost_text);
        ran++;
    }
    return ran;
}
