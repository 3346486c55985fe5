/* The numbers behind the broker's /metrics (metrics.h): the loop copies them out of its tables
 * (yard__msnap_take, cheap: plain copies, no formatting) and any thread turns a copy into the
 * Prometheus text format (yard__msnap_render, the costly part, done off the loop). A snapshot
 * holds at most YARD__MSNAP_SERVICES services; the rest are only counted. */
#ifndef YARD_BROKER_METRICS_SNAP_H
#define YARD_BROKER_METRICS_SNAP_H

#include "yard/broker.h"

#include <stddef.h>

#define YARD__MSNAP_SERVICES 5000u

typedef struct yard__msnap yard__msnap_t;

/* Copies b's counters and per-service figures. The loop's thread only (or before the loop
 * starts). Caller owns the result; free with yard__msnap_destroy(). */
yard__msnap_t *yard__msnap_take(yard_broker_t *b);

/* The snapshot in the text format 0.0.4, *len bytes. Any thread; s is only read. Caller owns
 * the result; free with free(). */
char *yard__msnap_render(const yard__msnap_t *s, size_t *len);

void yard__msnap_destroy(yard__msnap_t **s_p);

#endif
