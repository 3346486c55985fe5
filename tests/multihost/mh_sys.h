/* The driver's questions to one broker at a time, through its `$sys` service: how many
 * replicas of a service it lists, what one of its counters reads, and where new clients land.
 * Each question opens a client on that one endpoint (so the answer is that broker's), asks
 * with a short deadline and closes it. Blocking: run them off the load's threads. */
#ifndef MH_SYS_H
#define MH_SYS_H

#include <stdint.h>

/* Sets *count to the replicas of service that the broker at endpoint lists (0 when it knows
 * no such service). Returns 0, or the call's negative yard error. */
int mh_sys_replicas(const char *endpoint, const char *service, uint32_t heartbeat_ms, int *count);

/* Sets *value to counter name of the broker's `$sys stats` ("sends", "requests", ...).
 * Returns 0, the call's negative yard error, or YARD_E_NOT_FOUND for an unknown counter. */
int mh_sys_counter(const char *endpoint, const char *name, uint32_t heartbeat_ms, uint64_t *value);

/* Asks every 100 ms until the broker lists at least min replicas of service or timeout_ms
 * passes. Returns the milliseconds it took, or -1 on timeout; *count is the last answer. */
int64_t mh_sys_wait_replicas(const char *endpoint, const char *service, int min, int64_t timeout_ms,
                             uint32_t heartbeat_ms, int *count);

/* Starts n new clients with the broker list `list`, one after another; each sends one
 * one-way message to service, makes one call to it (so the send was routed first) and
 * closes. Where each landed is read from the `sends` counters of the brokers at ep_a and
 * ep_b, before and after: *on_a and *on_b. Returns 0, or the first error (a client that
 * cannot start, a counter that cannot be read). */
int mh_sys_probe(const char *list, const char *ep_a, const char *ep_b, const char *service, int n,
                 uint32_t heartbeat_ms, int *on_a, int *on_b);

#endif
