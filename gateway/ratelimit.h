/* Rate limits: token buckets per client IP and per bearer token (section gateway, key
 * rate_limit: {per_ip: {rate: 100, burst: 200}, per_token: {rate: 50, burst: 100}}; rate in
 * requests per second; a missing key means no limit of that kind). Buckets live in-process,
 * or in the shared store when it is Redis (several gateway replicas then share them: one
 * atomic script per take). Thread-safe.
 *
 * In-process buckets live in a bounded table (rate_limit.max_keys, default 100000): when it is
 * full the least recently used bucket is evicted, so a client rotating addresses cannot grow
 * memory. An evicted bucket that had not refilled comes back full: a bounded leniency, the
 * price of bounded memory. */
#ifndef YARD_GW_RATELIMIT_H
#define YARD_GW_RATELIMIT_H

#include "yard/options.h"
#include "yard/store.h"

#include <stdint.h>

typedef struct yard_gw_ratelimit yard_gw_ratelimit_t;

typedef enum { YARD_GW_RL_IP = 0, YARD_GW_RL_TOKEN = 1 } yard_gw_rl_kind_t;

/* store may be NULL or not shared: buckets are then in-process. Returns 0 and sets *out
 * (NULL when no limit is configured; caller owns it, free with yard_gw_ratelimit_destroy()),
 * or YARD_E_CONFIG with errbuf "path:line: reason". store is borrowed for the limiter's life. */
int yard_gw_ratelimit_new(const yard_config_t *cfg, yard_store_t *store, yard_gw_ratelimit_t **out,
                          char *errbuf, size_t errlen);
void yard_gw_ratelimit_destroy(yard_gw_ratelimit_t **self_p);

/* Takes one token from the bucket of (kind, key). Returns 0 when allowed, or
 * YARD_E_OVERLOADED with *retry_after_s (>= 1) set. A store that does not answer lets the
 * request through (fail open) and is logged. */
int yard_gw_ratelimit_take(yard_gw_ratelimit_t *self, yard_gw_rl_kind_t kind, const char *key,
                           uint32_t *retry_after_s);

/* Replaces the monotonic clock of in-process buckets (milliseconds; tests). */
void yard_gw_ratelimit_set_clock(yard_gw_ratelimit_t *self, uint64_t (*now_ms)(void *arg),
                                 void *arg);

#endif
