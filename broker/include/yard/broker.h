/* The Switchyard broker: one ROUTER socket, one thread, protocol YD/2 (docs/protocol.md).
 *
 * It routes REQUESTs to the replicas of a service within their credit, round-robin, queues
 * what finds no free credit (bounded), answers every accepted request exactly once (REPLY,
 * or ERROR at the deadline, on replica death, on overload), fans PUBLISHes out to matching
 * subscribers, answers `$sys` itself and publishes its events on `$sys.events`.
 *
 * The daemon (yard_broker_main) and the tests start it the same way: new, start, stop,
 * destroy. */
#ifndef YARD_BROKER_H
#define YARD_BROKER_H

#include "yard/options.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct yard_broker yard_broker_t;

/* Settings. A field left zero (or NULL) takes its default from yard_broker_options (the
 * table in broker/cli.c, the one place the defaults are written; `yard-broker --help` lists
 * them); log_level is applied by the program, not the library. */
typedef struct {
    char *bind; /* comma-separated endpoints, e.g. "tcp://127.0.0.1:5555,inproc://yard" */
    uint32_t heartbeat_ms, heartbeat_min_ms, heartbeat_max_ms, grace_ms, default_timeout_ms,
        max_timeout_ms;
    uint64_t max_body; /* bytes, default 1 MiB */
    int64_t queue_max, max_peers, max_services, max_in_flight;
    char *log_level;
    /* Lets `yard tap` see copies of the traffic (rate-limited; docs/protocol.md). The one
     * field whose zero is not its default: the options table's default, and so every
     * program's, is true; a zeroed struct has it off. */
    bool tap;
    /* CURVE (yard/curve.h, docs/security.md): the broker's secret certificate and the
     * directory of the allowed clients' public certificates. Both set: every tcp:// and ipc://
     * peer must speak CURVE with a key in curve_keys_dir, and its permissions are read from
     * that certificate. Borrowed; copied by yard_broker_new(). The program takes them from
     * the config file's curve: section (key, keys_dir), YARD_CURVE_* or --key/--keys-dir. */
    const char *curve_key, *curve_keys_dir;
    /* Lets the broker bind an endpoint other machines can reach (not loopback, ipc:// or
     * inproc://) without CURVE. Off: such a bind is refused, YARD_E_CONFIG. */
    bool insecure;
    /* "HOST:PORT" to serve the broker's Prometheus metrics on (GET /metrics; deploy/grafana/);
     * NULL or empty: off. Read-only, so any host may be given (docs/security.md). A bad value
     * or a taken port makes yard_broker_new() fail, naming the option. Borrowed; read only
     * during yard_broker_new(). */
    char *metrics;
} yard_broker_opts_t;

/* The options table (see yard/options.h) for yard_broker_opts_t; top-level keys. */
extern const yard_option_t yard_broker_options[];

/* Creates a broker and binds every endpoint of opts->bind (opts NULL: all defaults). zmq_ctx
 * is borrowed and must outlive the broker; NULL makes the broker own a context. Returns 0
 * and sets *out, or YARD_E_IO (an endpoint could not be bound; the log names it) or
 * YARD_E_CONFIG (also: a non-loopback endpoint without CURVE or insecure; bad CURVE settings;
 * a bad `metrics` value). The metrics port is bound here too (YARD_E_IO when taken).
 * Caller owns the result; free with yard_broker_destroy(). */
int yard_broker_new(const yard_broker_opts_t *opts, void *zmq_ctx, yard_broker_t **out);

/* The ZeroMQ context the broker's sockets live in, where an inproc:// peer must connect from:
 * the one given to yard_broker_new(), except with CURVE on, where it is CZMQ's (zauth answers
 * there). Borrowed; valid while the broker lives. */
void *yard_broker_context(const yard_broker_t *self);

/* Runs the broker's loop in its own thread. Returns 0, or YARD_E_INTERNAL when the thread
 * cannot start, or YARD_E_INVALID when already started. */
int yard_broker_start(yard_broker_t *self);

/* Asks the loop to exit and joins its thread; requests still open are answered SHUTDOWN.
 * Thread-safe; idempotent; a no-op when not started. */
void yard_broker_stop(yard_broker_t *self);

/* Stops the broker if running, closes its sockets and frees it; sets *self_p to NULL. */
void yard_broker_destroy(yard_broker_t **self_p);

/* The yard-broker program: --help, --config FILE (or YARD_CONFIG), environment and flags
 * from yard_broker_options; blocks SIGINT/SIGTERM first, runs until one arrives, then stops.
 * Returns the exit status: 0 on a clean stop, 1 when the broker cannot start, 2 on a bad
 * option or config file. */
int yard_broker_main(int argc, char **argv);

#endif
