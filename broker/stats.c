/* Per-service rates and latency percentiles and per-replica facts for `$sys services` and
 * `$sys replicas` (`yard services`, `yard replicas`, `yard top`). Not written yet: the hooks
 * are in place and do nothing. */
#include "broker_priv.h"

void
yard__stats_accepted(yard_broker_t *b, yard__req_t *r)
{
    (void)b;
    r->t0_us = 0;
}

void
yard__stats_answered(yard_broker_t *b, yard__req_t *r, bool ok)
{
    (void)b;
    (void)r;
    (void)ok;
}

void
yard__stats_service_free(yard__service_t *s)
{
    s->stats = NULL;
}
