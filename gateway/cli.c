/* The gateway's settings tables (the one place their defaults live) and the yard-gateway
 * program on the shared skeleton (yard/program.h): --help, --config, the environment and
 * flags, log_level, signals, and the drain on SIGTERM; it exits 0 after a clean drain. */
#include "yard/error.h"
#include "yard/gateway.h"
#include "yard/program.h"

#include <stddef.h>
#include <string.h>

#define S_OFF(f) offsetof(yard_gateway_opts_t, f)

const yard_option_t yard_gateway_options[] = {
    {"listen", YARD_OPT_STRING, "127.0.0.1:8080", S_OFF(listen),
     "HTTP address host:port (port 0: any free port)", 0, 0, 0},
    {"threads", YARD_OPT_INT, "2", S_OFF(threads),
     "serving threads (an HTTP daemon and a bus client each)", 1, 256, 0},
    {"connection_limit", YARD_OPT_INT, "10000", S_OFF(connection_limit),
     "open HTTP connections at most", 1, 1000000, 0},
    {"connection_timeout_ms", YARD_OPT_MS, "30000", S_OFF(connection_timeout_ms),
     "idle connections are closed after this (rounded up to seconds)", 1000, 3600000, 0},
    {"header_timeout_ms", YARD_OPT_MS, "10000", S_OFF(header_timeout_ms),
     "a request's line and headers must arrive within this, else 408 and the connection closes",
     100, 600000, 0},
    {"timeout_ms", YARD_OPT_MS, "15000", S_OFF(timeout_ms), "default route deadline: 504 after it",
     1, 300000, 0},
    {"heartbeat_ms", YARD_OPT_MS, "1000", S_OFF(heartbeat_ms),
     "how often the bus clients check their broker: one silent for 3 intervals is left for the "
     "next broker of the list",
     50, 60000, 0},
    {"body_limit", YARD_OPT_SIZE, "1MiB", S_OFF(body_limit),
     "default route request body limit: 413 above it", 0, 0, 0},
    {"drain_ms", YARD_OPT_MS, "10000", S_OFF(drain_ms),
     "SIGTERM: how long in-flight requests may finish", 0, 600000, 0},
    {"default_route", YARD_OPT_NODE, NULL, 0,
     "/v1/{service} for the services listed (a map: services, auth, scopes, ...; off unless "
     "given; docs/gateway.md)",
     0, 0, 0},
    {"status_page", YARD_OPT_NODE, NULL, 0,
     "GET /status: the health actor's status page, without auth (default true; false: off; "
     "docs/gateway.md)",
     0, 0, 0},
    {"reuse_port", YARD_OPT_BOOL, "false", S_OFF(reuse_port),
     "SO_REUSEPORT: several gateways share one port", 0, 0, 0},
    {"tls_cert", YARD_OPT_STRING, NULL, S_OFF(tls_cert),
     "HTTPS: PEM certificate chain file (with tls_key; unset: plain HTTP)", 0, 0, 0},
    {"tls_key", YARD_OPT_STRING, NULL, S_OFF(tls_key),
     "HTTPS: PEM private key file, or the PEM itself (tls_key_file: PATH reads it from a file)", 0,
     0, 0},
    {"routes", YARD_OPT_NODE, NULL, 0, "route table (a list of maps; docs/gateway.md)", 0, 0, 0},
    {"cors", YARD_OPT_NODE, NULL, 0, "CORS settings (a map; docs/gateway.md)", 0, 0, 0},
    {"rate_limit", YARD_OPT_NODE, NULL, 0, "rate limits per IP and token (docs/gateway.md)", 0, 0,
     0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

const yard_option_t yard_gateway_shared_options[] = {
    {"broker", YARD_OPT_STRING, YARD_OPT_DEFAULT_BROKER, S_OFF(broker),
     "broker endpoints, comma-separated", 0, 0, 0},
    {"store", YARD_OPT_STRING, YARD_OPT_DEFAULT_STORE, S_OFF(store),
     "memory, or redis://host:port/db to share rate limits between gateways", 0, 0,
     YARD_OPT_SECRET_URL},
    {"log_level", YARD_OPT_STRING, YARD_OPT_DEFAULT_LOG_LEVEL, S_OFF(log_level),
     "debug, info, warn, error or off", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

int
yard_gateway_opts_fill(yard_gateway_opts_t *opts, const yard_config_t *cfg, int argc, char **argv,
                       char *err, size_t errlen)
{
    memset(opts, 0, sizeof *opts);
    const yard_option_set_t sets[] = {
        {yard_gateway_shared_options, NULL, opts},
        {yard_gateway_options, "gateway", opts},
    };
    return yard_options_apply_sets(sets, 2, cfg, argc, argv, err, errlen);
}

void
yard_gateway_opts_free(yard_gateway_opts_t *opts)
{
    yard_options_free(yard_gateway_shared_options, opts);
    yard_options_free(yard_gateway_options, opts);
}

static const yard_program_def_t s_program = {
    .name = "yard-gateway",
    .component = "gateway",
    .usage = "usage: yard-gateway [--config FILE] [--<option> VALUE]...\n"
             "HTTP/1.1 in front of the bus: the configured routes (and /v1/{service} when on).\n",
};

int
yard_gateway_main(int argc, char **argv)
{
    yard_program_t *prog = yard_program_new(&s_program, argc, argv);
    yard_gateway_opts_t opts;
    memset(&opts, 0, sizeof opts);
    yard_gateway_t *gw = NULL;
    yard_program_options(prog, "shared options (top level of the config file):",
                         yard_gateway_shared_options, NULL, &opts);
    yard_program_options(prog, "gateway options (section gateway: of the config file):",
                         yard_gateway_options, "gateway", &opts);
    if (yard_program_configure(prog) != 0) {
        goto done;
    }
    char err[512] = "";
    int rc = yard_gateway_new(&opts, yard_program_config(prog), NULL, &gw, err, sizeof err);
    if (rc != 0) {
        yard_program_fail(prog, rc, "%s", err[0] ? err : yard_strerror(rc));
        goto done;
    }
    rc = yard_gateway_start(gw);
    if (rc != 0) {
        yard_program_fail(prog, rc, "cannot start: %s", yard_strerror(rc));
        goto done;
    }
    yard_program_wait(prog);
    yard_gateway_stop(gw);
done:
    yard_gateway_destroy(&gw);
    yard_gateway_opts_free(&opts);
    return yard_program_end(&prog);
}
