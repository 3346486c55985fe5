/* Test harness: the pieces most integration tests set up the same way — a config file in a
 * temp dir, a broker in the test process on a free tcp port, an actor configured from that
 * file as `yard-actor` would configure it. Each aborts the test program with a message when it
 * cannot (a broken fixture is not a result). */
#ifndef YARD_HARNESS_FIXTURE_H
#define YARD_HARNESS_FIXTURE_H

#include "yard/actor.h"
#include "yard/broker.h"
#include "yard/gateway.h"
#include "yard/options.h"

/* Writes text to <dir>/yard.yaml and loads it. Caller owns the config. */
yard_config_t *yh_config_in(const char *dir, const char *text);

/* A started broker bound to tcp://127.0.0.1:<free port> (set in *port), heartbeat 200 ms.
 * Caller owns it (yard_broker_destroy). */
yard_broker_t *yh_broker_start(int *port);

/* yh_broker_start() with the broker's options as given in opts (NULL: heartbeat 200 ms,
 * minimum 50 ms) on zmq_ctx (NULL: the broker's own context). A NULL opts->bind binds
 * tcp://127.0.0.1:<free port>, retried on another port while one is taken meanwhile; *port
 * is that port (0 for a bind given in opts). Caller owns the broker (yard_broker_destroy). */
yard_broker_t *yh_broker_start_opts(const yard_broker_opts_t *opts, void *zmq_ctx, int *port);

/* Starts def configured from cfg (may be NULL), its section and the top level, plus
 * --broker=tcp://127.0.0.1:<port> and the extra flags in argv (NULL-ended; may be NULL; e.g.
 * "--replicas=2", "--heartbeat-ms=100"), as `yard-actor` configures it. cfg must outlive the
 * actor. Caller owns the actor (yard_actor_destroy). */
yard_actor_t *yh_actor_start(const yard_actor_def_t *def, const yard_config_t *cfg, int port,
                             char *const *argv);

/* Starts a gateway on the broker at bport, configured from cfg (may be NULL) and the extra
 * flags (NULL-ended; may be NULL), as `yard-gateway` is: --broker, --drain-ms=2000 and
 * --listen=127.0.0.1:0 come first, so a flag in flags overrides them. Returns the started
 * gateway (caller owns it; free with yard_gateway_destroy(); yard_gateway_port() says where it
 * listens), or NULL when yard_gateway_new() refused the configuration: then *rc_out (may be
 * NULL) holds its result and the reason is printed. Flags that do not parse abort the test. */
yard_gateway_t *yh_gateway_try(const yard_config_t *cfg, int bport, const char *const *flags,
                               int *rc_out);
/* Like yh_gateway_try, and aborts the test naming the reason when the gateway does not start. */
yard_gateway_t *yh_gateway_start(const yard_config_t *cfg, int bport, const char *const *flags);

#endif
