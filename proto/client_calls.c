/* The client's call table: pooled entries hashed by id, and their deadlines.
 *
 * Invariant: an entry is either in the table (counted in pending), on the free list, or held
 * by the code that just took it out and is about to end it; it ends exactly once, by being
 * unlinked before its callback runs, so a callback may start new calls. In steady state a call
 * costs no malloc. Deadlines are checked lazily: next_deadline is a lower bound on the earliest
 * local deadline (the caller's plus one heartbeat), and the table is scanned only when it
 * passes. */
#include "alloc_internal.h"
#include "client_internal.h"
#include "yard/error.h"

#include <stdlib.h>

yard__call_t *
yard__client_call_get(yard_client_t *self)
{
    yard__call_t *c = self->free_calls;
    if (c) {
        self->free_calls = c->next;
    } else {
        c = yard__xcalloc(1, sizeof *c);
    }
    zmq_msg_init(&c->body);
    c->keep = false;
    c->hdr_len = 0;
    return c;
}

void
yard__client_call_put(yard_client_t *self, yard__call_t *c)
{
    zmq_msg_close(&c->body);
    c->next = self->free_calls;
    self->free_calls = c;
}

static void
s_table_grow(yard_client_t *self)
{
    size_t n = self->n_buckets * 2;
    yard__call_t **b = yard__xcalloc(n, sizeof *b);
    for (size_t i = 0; i < self->n_buckets; i++) {
        for (yard__call_t *c = self->buckets[i], *next; c; c = next) {
            next = c->next;
            c->next = b[c->id & (n - 1)];
            b[c->id & (n - 1)] = c;
        }
    }
    free(self->buckets);
    self->buckets = b;
    self->n_buckets = n;
}

void
yard__client_table_add(yard_client_t *self, yard__call_t *c)
{
    if (self->pending >= self->n_buckets) {
        s_table_grow(self);
    }
    yard__call_t **head = &self->buckets[c->id & (self->n_buckets - 1)];
    c->next = *head;
    *head = c;
    self->pending++;
    int64_t local = c->deadline + self->heartbeat_ms;
    if (local < self->next_deadline) {
        self->next_deadline = local;
    }
}

yard__call_t *
yard__client_table_take(yard_client_t *self, uint64_t id)
{
    for (yard__call_t **pp = &self->buckets[id & (self->n_buckets - 1)]; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            yard__call_t *c = *pp;
            *pp = c->next;
            self->pending--;
            return c;
        }
    }
    return NULL;
}

/* Ends c: runs its callback with the scratch message, then returns the entry to the pool. */
void
yard__client_end(yard_client_t *self, yard__call_t *c)
{
    yard_reply_fn *cb = c->cb;
    void *arg = c->arg;
    yard__client_call_put(self, c);
    cb(&self->scratch, arg);
    yard__msg_set_local(&self->scratch, 0, NULL);
}

void
yard__client_end_local(yard_client_t *self, yard__call_t *c, int err, const char *text)
{
    yard__msg_set_local(&self->scratch, err, text);
    yard__client_end(self, c);
}

int
yard__client_check_deadlines(yard_client_t *self, int64_t now)
{
    if (now < self->next_deadline) {
        return 0;
    }
    yard__call_t *expired = NULL;
    int64_t next = YARD__CLIENT_NEVER;
    for (size_t i = 0; i < self->n_buckets; i++) {
        for (yard__call_t **pp = &self->buckets[i]; *pp;) {
            yard__call_t *c = *pp;
            int64_t local = c->deadline + self->heartbeat_ms;
            if (local > now) {
                next = local < next ? local : next;
                pp = &c->next;
                continue;
            }
            *pp = c->next;
            self->pending--;
            c->next = expired;
            expired = c;
        }
    }
    self->next_deadline = next;
    char text[YARD_WIRE_TEXT_MAX];
    const char *why =
        yard__client_lost_text(self, "no reply before the deadline", text, sizeof text);
    int ran = 0;
    while (expired) {
        yard__call_t *c = expired;
        expired = c->next;
        yard__client_end_local(self, c, YARD_E_TIMEOUT, why);
        ran++;
    }
    return ran;
}
