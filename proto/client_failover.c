/* The client's connection: the DEALER socket to the current broker, and the move to the next
 * broker of the list when the current one is lost.
 *
 * Invariant: after a failover every pending call has either been re-sent on the new socket
 * with the time it has left (idempotent calls only) or ended UNREACHABLE, and the
 * subscriptions have been sent again. */
#include "client_internal.h"
#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>

void
yard__client_close_socket(yard_client_t *self)
{
    yard__bus_close(&self->sock, &self->mon);
}

int
yard__client_open_socket(yard_client_t *self)
{
    self->sock = yard__bus_open(self->ctx, self->endpoints[self->current], 0, &self->mon);
    if (!self->sock) {
        return YARD_E_CONFIG;
    }
    self->connected_once = false;
    self->answered = false;
    int64_t now = yard__clock_ms();
    self->last_send = self->last_recv = now;
    self->sends_at_drain = self->sends - 1; /* a new socket has never been drained */
    self->mon_dirty = true;
    yard__client_send_subscriptions(self);
    return 0;
}

/* Re-sends c through the current socket with the time it has left. Returns 0 or an error. */
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
    if (self->answered || !self->endpoints) {
        return gone;
    }
    snprintf(buf, cap, "no broker answered at %s", self->endpoints[self->current]);
    return buf;
}

/* The broker is gone: reopen on the next endpoint, re-send what may be re-sent, end the rest
 * UNREACHABLE. Returns the number of callbacks run. */
int
yard__client_failover(yard_client_t *self, const char *why)
{
    /* Said before the socket moves on: whether the broker it leaves ever answered. */
    char text[YARD_WIRE_TEXT_MAX];
    const char *lost_text =
        yard__client_lost_text(self, "the broker went away before replying", text, sizeof text);
    yard_log(YARD_LOG_WARN,
             self->answered ? "broker lost; reconnecting" : "no broker answered; trying again",
             YF_STR("endpoint", self->endpoints[self->current]), YF_STR("reason", why),
             YF_UINT("pending", self->pending));
    yard__client_close_socket(self);
    self->current = (self->current + 1) % self->n_endpoints;
    int64_t now = yard__clock_ms();
    yard__call_t *lost = NULL;
    if (yard__client_open_socket(self) != 0) {
        /* Unreachable endpoint syntax was checked at new; treat as everything lost. */
        self->sock = NULL;
    }
    for (size_t i = 0; i < self->n_buckets; i++) {
        for (yard__call_t **pp = &self->buckets[i]; *pp;) {
            yard__call_t *c = *pp;
            if (c->keep && c->deadline > now && self->sock && s_resend(self, c, now) == 0) {
                pp = &c->next;
                continue;
            }
            *pp = c->next;
            self->pending--;
            c->next = lost;
            lost = c;
        }
    }
    int ran = 0;
    while (lost) {
        yard__call_t *c = lost;
        lost = c->next;
        yard__client_end_local(self, c, YARD_E_UNREACHABLE, lost_text);
        ran++;
    }
    return ran;
}
