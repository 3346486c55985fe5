/* Prometheus metrics for /metrics (text format 0.0.4):
 *   http_requests_total{route,method,code}            counter
 *   http_request_duration_seconds{route}              histogram (buckets .001 .. 10 s)
 *   http_requests_in_flight                           gauge
 *   http_connections_open                             gauge
 *   http_header_timeouts_total                        counter (408: headers too slow)
 *   yard_service_replicas{service}, yard_service_queued{service},
 *   yard_service_in_flight{service}, yard_service_errors_total{service},
 *   yard_broker_up                                    from the broker's $sys stats
 * Thread-safe; observing takes a mutex for a few nanoseconds of work. */
#ifndef YARD_GW_METRICS_H
#define YARD_GW_METRICS_H

#include <stddef.h>

typedef struct yard_gw_metrics yard_gw_metrics_t;

/* Caller owns the result; free with yard_gw_metrics_destroy(). */
yard_gw_metrics_t *yard_gw_metrics_new(void);
void yard_gw_metrics_destroy(yard_gw_metrics_t **self_p);

/* One finished request. route is the route's name ("-" when none matched). */
void yard_gw_metrics_observe(yard_gw_metrics_t *self, const char *route, const char *method,
                             int status, double seconds);
void yard_gw_metrics_in_flight(yard_gw_metrics_t *self, int delta);
/* An HTTP connection opened (+1) or closed (-1). */
void yard_gw_metrics_connections(yard_gw_metrics_t *self, int delta);
/* A connection was closed because a request's headers were late. */
void yard_gw_metrics_header_timeout(yard_gw_metrics_t *self);

/* Remembers the broker's latest $sys stats reply (msgpack, copied; NULL or size 0: broker
 * down). */
void yard_gw_metrics_set_sys(yard_gw_metrics_t *self, const void *stats, size_t size);

/* Renders everything. Caller owns the result; free with free(). */
char *yard_gw_metrics_render(yard_gw_metrics_t *self, size_t *len);

#endif
