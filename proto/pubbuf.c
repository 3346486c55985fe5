/* The reconnect buffer for publications (pubbuf_internal.h): a FIFO of copies. */
#include "pubbuf_internal.h"

#include "alloc_internal.h"
#include "yard/error.h"
#include "yard/log.h"

#include <stdlib.h>
#include <string.h>

struct yard__pub {
    yard__pub_t *next;
    size_t size;
    char *subject; /* points into data, after the body */
    char data[];
};

int
yard__pubbuf_add(yard__pubbuf_t *b, const char *subject, const void *body, size_t size)
{
    size_t slen = strlen(subject);
    size_t cost = size + slen + 1;
    if (b->count >= YARD__PUBBUF_MAX_COUNT || b->bytes + cost > YARD__PUBBUF_MAX_BYTES) {
        b->dropped++;
        b->dropped_all++;
        return YARD_E_OVERLOADED;
    }
    yard__pub_t *p = yard__xrealloc(NULL, sizeof *p + cost);
    p->next = NULL;
    p->size = size;
    if (size) {
        memcpy(p->data, body, size);
    }
    p->subject = p->data + size;
    memcpy(p->subject, subject, slen + 1);
    if (b->tail) {
        b->tail->next = p;
    } else {
        b->head = p;
    }
    b->tail = p;
    b->count++;
    b->bytes += cost;
    b->buffered_all++;
    return 0;
}

static void
s_pop(yard__pubbuf_t *b)
{
    yard__pub_t *p = b->head;
    b->head = p->next;
    if (!b->head) {
        b->tail = NULL;
    }
    b->count--;
    b->bytes -= p->size + strlen(p->subject) + 1;
    free(p);
}

size_t
yard__pubbuf_flush(yard__pubbuf_t *b, yard__pub_send_fn *send, void *arg, const char *endpoint)
{
    size_t sent = 0;
    while (b->head && send(arg, b->head->subject, b->head->data, b->head->size) == 0) {
        s_pop(b);
        sent++;
    }
    if (!b->head && (sent || b->dropped)) {
        yard_log(b->dropped ? YARD_LOG_WARN : YARD_LOG_INFO,
                 b->dropped ? "publications made while reconnecting sent; some did not fit"
                            : "publications made while reconnecting sent",
                 YF_STR("endpoint", endpoint), YF_UINT("sent", sent),
                 YF_UINT("dropped", b->dropped));
        b->dropped = 0;
    }
    return sent;
}

void
yard__pubbuf_clear(yard__pubbuf_t *b)
{
    if (b->count || b->dropped) {
        yard_log(YARD_LOG_WARN, "publications never sent: no broker connection came up",
                 YF_UINT("lost", b->count), YF_UINT("dropped", b->dropped));
    }
    while (b->head) {
        s_pop(b);
    }
    b->dropped = 0;
}
