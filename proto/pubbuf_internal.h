/* Private to libyard: publications kept while no broker connection is up, sent once one is
 * (the client's and a replica's). Like a NATS client's reconnect buffer it is bounded, by
 * count and by bytes; a publication that does not fit is refused and counted, and the
 * refusals are logged once per outage, with their number, when the buffer is sent.
 *
 * What a dead connection had already taken is not here: those publications went with it. */
#ifndef YARD_PUBBUF_INTERNAL_H
#define YARD_PUBBUF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define YARD__PUBBUF_MAX_COUNT 10000
#define YARD__PUBBUF_MAX_BYTES (8u << 20)

typedef struct yard__pub yard__pub_t;

typedef struct {
    yard__pub_t *head, *tail;
    size_t count, bytes;
    uint64_t dropped;      /* refused since the last flush */
    uint64_t dropped_all;  /* refused in this buffer's life */
    uint64_t buffered_all; /* kept in this buffer's life */
} yard__pubbuf_t;

/* Keeps a copy of subject and body. Returns 0, or YARD_E_OVERLOADED when the buffer is full
 * (counted in dropped). */
int yard__pubbuf_add(yard__pubbuf_t *b, const char *subject, const void *body, size_t size);

/* Sends the kept publications in order with send (0: sent) until one fails; returns the
 * number sent. Logs what was sent and what had been refused, once, when it empties. */
typedef int(yard__pub_send_fn)(void *arg, const char *subject, const void *body, size_t size);
size_t yard__pubbuf_flush(yard__pubbuf_t *b, yard__pub_send_fn *send, void *arg,
                          const char *endpoint);

/* Frees what is kept; logs it as lost when there is any. */
void yard__pubbuf_clear(yard__pubbuf_t *b);

#endif
