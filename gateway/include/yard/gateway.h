/* The HTTP gateway: HTTP/1.1 clients reach any service on the bus.
 *
 * libmicrohttpd accepts and parses; a request that waits on the bus holds no thread (its
 * connection is suspended until the reply, an error, or the gateway's own deadline resumes
 * it). Each serving thread runs its own libmicrohttpd daemon (external epoll) and its own bus
 * client, so a request never changes threads. Routes, auth, CORS, rate limits, metrics and
 * the access log are applied per request; errors are JSON {"error":{"code","message"}} with
 * the status a client expects (docs/gateway.md lists them). */
#ifndef YARD_GATEWAY_H
#define YARD_GATEWAY_H

#include "yard/options.h"

#include <stdint.h>

typedef struct yard_gateway yard_gateway_t;

/* Settings: the `gateway:` section of the config file (YARD_GATEWAY_<KEY>, --<key>), plus the
 * shared top-level broker and store. A field left zero (or NULL) takes its default from the
 * tables below (gateway/cli.c), the one place the defaults are written. */
typedef struct {
    char *listen;                   /* host:port; port 0 picks a free one */
    char *broker;                   /* endpoints (top level: broker / YARD_BROKER) */
    char *store;                    /* top level: memory or redis:// (shared rate limits) */
    int64_t threads;                /* serving threads: an HTTP daemon and a bus client each */
    int64_t connection_limit;       /* open connections at most */
    uint32_t connection_timeout_ms; /* idle keep-alive connections are closed after this */
    uint32_t header_timeout_ms;     /* a request's line and headers arrive within this, or 408 */
    uint32_t timeout_ms;            /* default per-route deadline (504 after it) */
    uint32_t heartbeat_ms;          /* its bus clients leave a broker silent for 3 of these */
    uint64_t body_limit;            /* default per-route request body limit (413 above it) */
    uint32_t drain_ms;              /* SIGTERM: how long in-flight requests may finish */
    bool reuse_port;                /* SO_REUSEPORT: several gateways on one port */
    char *tls_cert;                 /* PEM certificate chain file: HTTPS (with tls_key) */
    char *tls_key;                  /* PEM private key file, or the PEM itself */
    char *log_level;
} yard_gateway_opts_t;

/* The gateway's options: section keys and the shared top-level ones they need. */
extern const yard_option_t yard_gateway_options[];
extern const yard_option_t yard_gateway_shared_options[];

/* Fills *opts from the defaults, cfg (may be NULL), the environment and argv (option flags
 * only: the shared ones and the section's, mixed). Returns 0, or YARD_E_CONFIG with errbuf
 * naming the file and line, the variable or the flag. Free with yard_gateway_opts_free()
 * either way. */
int yard_gateway_opts_fill(yard_gateway_opts_t *opts, const yard_config_t *cfg, int argc,
                           char **argv, char *errbuf, size_t errlen);
void yard_gateway_opts_free(yard_gateway_opts_t *opts);

/* Creates a gateway: loads routes, CORS and rate limits from cfg (may be NULL: defaults
 * only), connects its bus client, binds the listening socket. Returns 0 and sets *out
 * (caller owns it; free with yard_gateway_destroy()), or YARD_E_CONFIG / YARD_E_IO with the
 * reason in errbuf (file and line for config errors). zmq_ctx may be NULL (own context). */
int yard_gateway_new(const yard_gateway_opts_t *opts, const yard_config_t *cfg, void *zmq_ctx,
                     yard_gateway_t **out, char *errbuf, size_t errlen);

/* Starts serving: opts.threads serving loops, each an HTTP daemon and a bus client on one
 * thread. Returns 0 or an error. */
int yard_gateway_start(yard_gateway_t *self);

/* The TCP port actually bound (useful with listen port 0). */
uint16_t yard_gateway_port(const yard_gateway_t *self);

/* Drains: stops accepting, lets in-flight requests finish for up to drain_ms, answers what is
 * left 503, stops the threads. Blocks until done. Thread-safe. */
void yard_gateway_stop(yard_gateway_t *self);
void yard_gateway_destroy(yard_gateway_t **self_p);

/* The yard-gateway program: --help, --config, options, signals, drain. Returns the exit code. */
int yard_gateway_main(int argc, char **argv);

#endif
