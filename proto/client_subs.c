/* The client's subscriptions: the patterns every broker of its list must know (a publisher
 * may use any of them, and each broker delivers only what is published to it, so each
 * publication arrives once), kept so that they can be sent again after a reconnect or a
 * broker restart.
 *
 * Invariant: every open link is sent SUBSCRIBE once per distinct pattern and UNSUBSCRIBE when
 * the pattern is dropped, with every subscription to it; the list holds one entry per
 * subscribe call. */
#include "alloc_internal.h"
#include "client_internal.h"
#include "yard/error.h"
#include "yard/subject.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void
s_send_pattern(yard_client_t *self, size_t i, yard_cmd_t cmd, const char *pattern)
{
    yard__clink_t *l = &self->links[i];
    if (!l->sock) {
        return; /* sent when it opens */
    }
    /* The interval tells the broker how long our silence may last before it drops the
     * subscription with us: without it the broker assumed its own, and a client heartbeating
     * more slowly than that lost its subscriptions between heartbeats. */
    yard_header_t h = {.service = yard_str(pattern), .heartbeat_ms = self->heartbeat_ms};
    yard__client_link_send(self, i, cmd, &h, NULL);
}

static void
s_send_everywhere(yard_client_t *self, yard_cmd_t cmd, const char *pattern)
{
    for (size_t i = 0; i < self->n_endpoints; i++) {
        s_send_pattern(self, i, cmd, pattern);
    }
}

void
yard__client_send_subscriptions(yard_client_t *self, size_t i)
{
    /* Once per distinct pattern: the list may hold several subscriptions to one. */
    for (yard__sub_t *s = self->subs; s; s = s->next) {
        bool first = true;
        for (yard__sub_t *t = self->subs; t != s && first; t = t->next) {
            first = strcmp(t->pattern, s->pattern) != 0;
        }
        if (first) {
            s_send_pattern(self, i, YARD_CMD_SUBSCRIBE, s->pattern);
        }
    }
}

int
yard_client_subscribe(yard_client_t *self, const char *pattern, yard_reply_fn *cb, void *arg)
{
    if (!self || !cb || !pattern || strlen(pattern) > YARD_WIRE_NAME_MAX ||
        !yard_subject_pattern_valid(yard_str(pattern))) {
        return YARD_E_INVALID;
    }
    yard__client_note_activity_start(self, yard__clock_ms());
    bool known = false;
    for (yard__sub_t *s = self->subs; s; s = s->next) {
        known |= strcmp(s->pattern, pattern) == 0;
    }
    yard__sub_t *s = yard__xcalloc(1, sizeof *s);
    s->pattern = yard__xstrdup(pattern);
    s->cb = cb;
    s->arg = arg;
    s->next = self->subs;
    self->subs = s;
    if (!known) {
        s_send_everywhere(self, YARD_CMD_SUBSCRIBE, pattern);
    }
    yard__client_links_fit(self); /* a link that opens now is sent every pattern */
    return 0;
}

int
yard_client_unsubscribe(yard_client_t *self, const char *pattern)
{
    if (!self || !pattern) {
        return YARD_E_INVALID;
    }
    bool found = false;
    for (yard__sub_t **pp = &self->subs; *pp;) {
        yard__sub_t *s = *pp;
        if (strcmp(s->pattern, pattern) == 0) {
            *pp = s->next;
            free(s->pattern);
            free(s);
            found = true;
        } else {
            pp = &s->next;
        }
    }
    if (!found) {
        return YARD_E_NOT_FOUND;
    }
    s_send_everywhere(self, YARD_CMD_UNSUBSCRIBE, pattern);
    yard__client_links_fit(self);
    return 0;
}
