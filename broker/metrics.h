/* The broker's own Prometheus endpoint (option `metrics`, --metrics HOST:PORT): GET /metrics
 * answers the broker's counters and per-service gauges in the text format (yard/prom.h), so
 * a bus can be scraped without a gateway. Off unless the option is set.
 *
 * Threads: the broker's loop owns every table it reports, and libmicrohttpd answers on its
 * own thread, which must never read them. So the loop copies the figures into a snapshot
 * (yard__metrics_tick, at most once a second; plain copies, no formatting) and swaps it in
 * under a mutex it only try-locks; a scrape renders the latest snapshot as text under that
 * mutex and touches nothing else. A scrape is thus up to a second old, and the loop never
 * waits for a scraper.
 *
 * Series (names shared with the gateway's /metrics where they mean the same, so one dashboard
 * reads both; docs in deploy/grafana/README.md):
 *   yard_broker_up, yard_broker_uptime_seconds, yard_broker_<counter>_total (requests, sends,
 *   replies, ...: the `counters` of `$sys stats`), yard_broker_errors_total{code},
 *   yard_broker_faults_total{kind}, yard_broker_in_flight, yard_broker_peers,
 *   yard_broker_subscribers, yard_broker_connections, yard_broker_services;
 *   yard_service_{replicas,credit,in_flight,queued}{service},
 *   yard_service_{requests,replies,errors}_total{service},
 *   yard_service_request_duration_seconds{service} (histogram since the first request),
 *   yard_service_latency_seconds{service,quantile} (0.5 and 0.99 of the last 5 s window).
 * Service names are the only text from peers in it (escaped by yard_prom_label); no bodies,
 * no keys. */
#ifndef YARD_BROKER_METRICS_H
#define YARD_BROKER_METRICS_H

#include "yard/broker.h"

#include <stddef.h>
#include <sys/socket.h>

/* Connections served at once; more wait in the listen backlog. */
#define YARD__METRICS_CONNS 16

typedef struct yard__metrics yard__metrics_t;

/* Parses spec ("HOST:PORT", "[IPV6]:PORT"; HOST a name or an address, PORT 1..65535) and
 * resolves HOST to *addr. Returns 0, or YARD_E_CONFIG with err holding a reason that names
 * the option and the value. */
int yard__metrics_parse(const char *spec, struct sockaddr_storage *addr, socklen_t *addr_len,
                        char *err, size_t errlen);

/* When b->o.metrics is set: parses it, binds it and starts serving (b->metrics set); the
 * option's value is borrowed only during this call and b->o.metrics is cleared. Unset or
 * empty: nothing. Returns 0, YARD_E_CONFIG (a bad value, an address not on this machine) or
 * YARD_E_IO (the port is taken); the log line names the option. Call before the loop starts. */
int yard__metrics_open(yard_broker_t *b);

/* On the loop's thread, every tick: renders a fresh snapshot when the last one is
 * S_PERIOD_MS old. A no-op when metrics are off. */
void yard__metrics_tick(yard_broker_t *b);

/* Stops serving and frees b->metrics (NULL after). Idempotent. */
void yard__metrics_close(yard_broker_t *b);

#endif
