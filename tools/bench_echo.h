/* The echo replicas `yard bench` runs when it is given a handler time (--handler-ms) or
 * failures to make (--fail-every): service "echo", replying with the request's body after
 * holding each request handler_ms milliseconds, without blocking the replica's thread. A
 * held request is deferred (yard_request_defer) and answered from a loop source whose
 * timerfd wakes the replica at the due time, so a replica with credit > 1 holds that many
 * requests at once, like a handler waiting on I/O, and one with credit 1 serves one at a
 * time, like a handler doing handler_ms of work. Private to tools/.
 *
 * Every request has the same hold, so the held requests are due in arrival order: one FIFO
 * ring (capacity: the replica's credit, which the broker never exceeds) and one timer. */
#ifndef YARD_TOOLS_BENCH_ECHO_H
#define YARD_TOOLS_BENCH_ECHO_H

#include "yard/actor.h"

#include <stdbool.h>
#include <stdint.h>

/* The actor's options, given to yard_actor_start() as they are (no table: nothing to parse). */
typedef struct {
    uint32_t handler_ms; /* hold each request this long; 0: answer at once */
    uint32_t fail_every; /* every Nth request of a replica is answered ERROR INTERNAL; 0: never */
    uint32_t credit;     /* the replicas' credit: the most a replica holds at once */
    bool serial;         /* one held request at a time (a handler doing handler_ms of work):
                            each is due handler_ms after the previous one, so credit - 1 wait
                            in the replica, as a prefetch; false: all held at once (I/O) */
} yard_bench_echo_opts_t;

extern const yard_actor_def_t yard__bench_echo;

#endif
