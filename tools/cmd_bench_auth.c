/* yard bench auth: `verify` calls per second through the bus, next to the two costs it is made
 * of, measured in the same run on the same machine: the bus round trip alone (the same bytes to
 * the echo actor) and the signature check alone (auth_jwt_verify() in a loop, no bus).
 *
 * In this process: a broker on a free tcp loopback port and --replicas echo replicas
 * (bench_bus.c, as `yard bench` starts them), and --replicas replicas of the registry's auth
 * actor on the --store URL, configured through yard_actor_configure() from a temp YAML file
 * as `yard-actor auth --config` would be. The admin it bootstraps has a random name and
 * password, so a shared Redis never gains a known credential; the bench logs in once, and at
 * the end deletes that user (which also voids its tokens).
 *
 * Then it puts the load of bench_load.h on the bus, as `yard bench` does: --clients threads
 * each keep --window async calls outstanding for --duration seconds, first
 * `verify {token, scopes: ["admin"]}` to auth, then the very same msgpack body (and op) to
 * echo. A reply with any non-zero status is an error; lost = sent - replies - errors. */
#include "bench_bus.h"
#include "bench_load.h"
#include "cli.h"

#include "jwt.h"
#include "keyset.h"
#include "password.h"

#include "yard/actor.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/mp.h"
#include "yard/options.h"
#include "yard/registry.h"
#include "yard/store.h"

#include <msgpack.h>
#include <zmq.h>

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* yard.c dispatches `yard bench auth` here. */
int yard__cmd_bench_auth(int argc, char **argv);

#define S_CALL_TIMEOUT_MS 5000
#define S_WARMUP_MS       10000
#define S_WHO             "yard bench auth"
#define S_LOCAL_S         1.0 /* the signature-check loop */
#define S_STORE_S         0.5 /* the store-read loop */

static const char s_usage[] =
    "usage: yard bench auth [--clients N] [--window N] [--duration S] [--replicas N]\n"
    "                       [--store URL] [--json]\n"
    "Measures the auth actor's `verify` calls/s and latency (p50, p99) through an in-process\n"
    "broker, then the same body to the echo actor (the bus round trip alone), then\n"
    "auth_jwt_verify() in a loop on one thread (the signature check alone), and prints them\n"
    "with the ratio verify / echo.\n"
    "  --clients N   client threads, each with its own connection (default 4)\n"
    "  --window N    calls each client keeps outstanding (default 64)\n"
    "  --duration S  seconds of load for each bus side (default 5)\n"
    "  --replicas N  auth replicas, and echo replicas (default 1; more than 1 needs redis)\n"
    "  --store URL   the auth actor's store: memory or redis://host:port[/db] (default memory).\n"
    "                On Redis it writes a throwaway admin user (deleted at the end; its\n"
    "                auth:gen:<name> key stays), a key set (auth:keys) if there is none, and\n"
    "                login rate-limit buckets (each run takes one login from the shared 'bus'\n"
    "                bucket: 20 a minute by default): use a scratch Redis.\n"
    "  --json        print one JSON object instead of a table\n"
    "Exit status: 0 measured, 1 could not measure, 2 usage.\n";

typedef struct {
    int clients, window, replicas;
    double duration_s;
    const char *store;
    bool json;
} s_opts_t;

/* --- the bus sides ------------------------------------------------------------------------ */

/* Runs the load on one service. Returns 0, or -1 after saying why (a client's first call
 * failed). */
static int
s_run_side(const yard_bench_load_t *load, yard_bench_result_t *out)
{
    int rc = yard__bench_load_run(load, out);
    if (rc) {
        fprintf(stderr, "yard bench auth: %s %s: the first call failed: %s: %s\n", load->service,
                load->op, yard_err_name(rc), yard_strerror(rc));
    }
    return rc ? -1 : 0;
}

/* --- the auth actor ----------------------------------------------------------------------- */

/* Requests each replica (auth and echo alike) may hold, as `yard bench` gives its echo
 * replicas: the broker then queues alike for both. */
static int64_t
s_credit(const s_opts_t *o)
{
    return yard__bench_bus_credit((int64_t)o->clients * o->window, o->replicas);
}

typedef struct {
    yard_bench_bus_t bus;
    yard_actor_t *auth;
    yard_config_t *cfg; /* the auth actor's config: its replicas read it in init, so it lives
                           until they are destroyed */
    void *cctx;         /* the clients' context, apart from the bus's (as in `yard bench`) */
    yard_client_t *client;
    char user[40], password[48];
    char *token; /* the access token */
} s_bench_t;

/* Writes the config file into a fresh temp dir and loads it; both are gone when this
 * returns. Returns the config (caller owns it; free with yard_config_destroy()) or NULL. */
static yard_config_t *
s_config(const s_bench_t *b, const s_opts_t *o)
{
    const char *tmp = getenv("TMPDIR");
    char dir[512], path[600], err[512] = "";
    snprintf(dir, sizeof dir, "%s/yard-bench-auth-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("yard bench auth: mkdtemp");
        return NULL;
    }
    snprintf(path, sizeof path, "%s/yard.yaml", dir);
    FILE *f = fopen(path, "w");
    yard_config_t *cfg = NULL;
    if (f) {
        fprintf(f,
                "store: \"%s\"\n"
                "auth:\n"
                "  admin_user: \"%s\"\n"
                "  admin_password: \"%s\"\n",
                o->store, b->user, b->password);
        if (fclose(f) == 0 && yard_config_load(path, &cfg, err, sizeof err) != 0) {
            fprintf(stderr, "yard bench auth: %s\n", err);
        }
    }
    unlink(path);
    rmdir(dir);
    return cfg;
}

static int
s_auth_start(s_bench_t *b, const s_opts_t *o)
{
    const yard_actor_def_t *def = yard_registry_find("auth");
    if (!def) {
        fprintf(stderr, "yard bench auth: this build has no auth actor\n");
        return -1;
    }
    yard_config_t *cfg = b->cfg = s_config(b, o);
    if (!cfg) {
        return -1;
    }
    /* The credentials again as flags: flags outrank YARD_AUTH_ADMIN_* in the environment,
     * which would otherwise bootstrap a user we cannot log in as. */
    char uflag[64], pflag[80];
    snprintf(uflag, sizeof uflag, "--admin-user=%s", b->user);
    snprintf(pflag, sizeof pflag, "--admin-password=%s", b->password);
    char *argv[] = {uflag, pflag, NULL};
    yard_actor_opts_t ao;
    void *own = NULL;
    char err[256] = "";
    int rc = yard_actor_configure(def, cfg, 2, argv, &ao, &own, err, sizeof err);
    if (rc == 0) {
        free(ao.broker);
        ao.broker = strdup(b->bus.tcp);
        free(ao.store);
        ao.store = strdup(o->store); /* --store wins over YARD_STORE, as a flag does */
        ao.replicas = o->replicas;
        ao.credit = s_credit(o);
        ao.zmq_context = b->bus.ctx;
        free(ao.log_level);
        ao.log_level = strdup("warn");
        rc = yard_actor_start(def, &ao, own, &b->auth);
        yard_actor_config_free(def, &ao, &own);
    }
    sodium_memzero(pflag, sizeof pflag);
    if (rc) {
        /* The name, not the table's text: UNREACHABLE here is the store, not a broker. */
        fprintf(stderr, "yard bench auth: auth replicas on %s: %s%s%s\n", o->store,
                yard_err_name(rc), err[0] ? ": " : "", err[0] ? err : " (see the log above)");
        return -1;
    }
    return 0;
}

/* The string value of key in a msgpack map (a peer's bytes: the bounded decoder), copied
 * (caller frees), or NULL. */
static char *
s_map_str(const void *data, size_t size, const char *key)
{
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024)) {
        abort();
    }
    msgpack_object root;
    yard_str_t v;
    char *out = NULL;
    if (yard_mp_decode(data, size, &zone, &root, NULL, 0) == 0 &&
        yard_mp_get_str(&root, key, &v, NULL, 0) == 0) {
        out = calloc(1, v.len + 1); /* not strndup: v is not NUL-terminated */
        if (!out) {
            abort();
        }
        memcpy(out, v.ptr, v.len);
    }
    msgpack_zone_destroy(&zone);
    return out;
}

/* A body naming the bench's user: {username} for user.delete, or {username, password} for
 * login when password is not NULL. Caller frees with msgpack_sbuffer_destroy(). */
static void
s_user_body(const char *user, const char *password, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, password ? 2 : 1);
    msgpack_pack_str_with_body(&pk, "username", 8);
    msgpack_pack_str_with_body(&pk, user, strlen(user));
    if (password) {
        msgpack_pack_str_with_body(&pk, "password", 8);
        msgpack_pack_str_with_body(&pk, password, strlen(password));
    }
}

/* Logs in as the bootstrapped admin, waiting while the replicas register (NO_SERVICE is
 * answered at once by the broker). Returns 0 with b->token set, or -1 after saying why. */
static int
s_login(s_bench_t *b)
{
    msgpack_sbuffer sb;
    s_user_body(b->user, b->password, &sb);
    yard_call_opts_t opts = {.op = "login", .timeout_ms = 5000};
    uint64_t deadline = yard__now_ns() + (uint64_t)S_WARMUP_MS * 1000000u;
    yard_msg_t *reply = NULL;
    int rc;
    for (;;) {
        rc = yard_client_call(b->client, "auth", sb.data, sb.size, &opts, &reply);
        if (rc != YARD_E_NO_SERVICE || yard__now_ns() >= deadline) {
            break;
        }
        yard_msg_destroy(&reply);
        yard__sleep_ms(20);
    }
    sodium_memzero(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (rc == 0) {
        size_t n = 0;
        const void *body = yard_msg_body(reply, &n);
        b->token = s_map_str(body, n, "access_token");
    }
    if (!b->token) {
        fprintf(stderr, "yard bench auth: login failed: %s: %s\n", yard_err_name(rc),
                reply && yard_msg_error_text(reply) ? yard_msg_error_text(reply)
                                                    : yard_strerror(rc));
    }
    yard_msg_destroy(&reply);
    return b->token ? 0 : -1;
}

/* Deletes the bench's admin (voiding its tokens), so a shared store keeps no credential of
 * ours. Best effort: says so when it fails. */
static void
s_delete_user(s_bench_t *b)
{
    msgpack_sbuffer sb;
    s_user_body(b->user, NULL, &sb);
    yard_kv_t h = {{"auth.token", 10}, {b->token, (uint32_t)strlen(b->token)}};
    yard_call_opts_t opts = {
        .op = "user.delete", .timeout_ms = 5000, .headers = &h, .header_count = 1};
    yard_msg_t *reply = NULL;
    int rc = yard_client_call(b->client, "auth", sb.data, sb.size, &opts, &reply);
    if (rc) {
        fprintf(stderr, "yard bench auth: could not delete the bench user %s: %s\n", b->user,
                yard_err_name(rc));
    }
    yard_msg_destroy(&reply);
    msgpack_sbuffer_destroy(&sb);
}

/* The verify body: {token, scopes: ["admin"]}. Caller frees with msgpack_sbuffer_destroy(). */
static void
s_verify_body(const char *token, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "token", 5);
    msgpack_pack_str_with_body(&pk, token, strlen(token));
    msgpack_pack_str_with_body(&pk, "scopes", 6);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_str_with_body(&pk, "admin", 5);
}

/* --- the baselines without the bus ---------------------------------------------------------- */

/* auth_jwt_verify() of one token in a loop on this thread for S_LOCAL_S: a token shaped like
 * the actor's (same claims, EdDSA, the actor's default), signed with a fresh key set. Returns
 * verifies per second, or -1. */
static double
s_local_verify(void)
{
    int64_t now = (int64_t)time(NULL);
    auth_keyset_t *ks = NULL;
    if (auth_keyset_new(AUTH_ALG_EDDSA, now, &ks) != 0) {
        return -1;
    }
    const char *scopes[] = {"admin"};
    char jti[32], fam[32];
    auth_random_id(jti, sizeof jti, 16);
    auth_random_id(fam, sizeof fam, 16);
    auth_claims_in_t in = {.iss = "switchyard",
                           .aud = "switchyard",
                           .sub = "yard-bench-0123456789abcdef",
                           .jti = jti,
                           .typ = "access",
                           .fam = fam,
                           .scopes = scopes,
                           .nscopes = 1,
                           .iat = now,
                           .exp = now + 900,
                           .gen = 1};
    char *token = NULL;
    double rate = -1;
    if (auth_jwt_sign(auth_keyset_current(ks), &in, &token) == 0) {
        auth_verify_opts_t vo = {
            .iss = "switchyard", .aud = "switchyard", .typ = "access", .now = now, .leeway_s = 30};
        auth_claims_t out;
        char why[128];
        uint64_t n = 0, t0 = yard__now_ns(), t = t0, end = t0 + (uint64_t)(S_LOCAL_S * 1e9);
        while (t < end) {
            if (auth_jwt_verify(ks, token, &vo, &out, why, sizeof why) != AUTH_JWT_OK) {
                fprintf(stderr, "yard bench auth: local verify failed: %s\n", why);
                n = 0;
                break;
            }
            n++;
            t = yard__now_ns();
        }
        rate = n ? (double)n / ((double)(t - t0) / 1e9) : -1;
    }
    free(token);
    auth_keyset_destroy(&ks);
    return rate;
}

/* Mean microseconds of one MGET of three absent keys (what verify reads for revocation) on a
 * fresh connection to url, on this thread for S_STORE_S. Returns -1 when the store fails. */
static double
s_store_read_us(const char *url)
{
    yard_store_t *st = NULL;
    if (yard_store_open(url, &st) != 0) {
        return -1;
    }
    const char *keys[3] = {"yard-bench:rev:x", "yard-bench:fam:x", "yard-bench:gen:x"};
    char *vals[3];
    size_t lens[3];
    uint64_t n = 0, t0 = yard__now_ns(), t = t0, end = t0 + (uint64_t)(S_STORE_S * 1e9);
    while (t < end) {
        if (yard_store_mget(st, keys, 3, vals, lens) != 0) {
            n = 0;
            break;
        }
        for (int i = 0; i < 3; i++) {
            free(vals[i]);
        }
        n++;
        t = yard__now_ns();
    }
    yard_store_destroy(&st);
    return n ? (double)(t - t0) / 1e3 / (double)n : -1;
}

/* --- output ------------------------------------------------------------------------------- */

static void
s_print_json(const s_opts_t *o, const yard_bench_result_t *v, const yard_bench_result_t *e,
             double local, double store_us)
{
    printf("{\"verify_rps\":%.1f,\"verify_p50_us\":%.1f,\"verify_p99_us\":%.1f,"
           "\"echo_rps\":%.1f,\"echo_p50_us\":%.1f,\"echo_p99_us\":%.1f,"
           "\"local_verify_per_s\":%.1f,\"store_read_us\":%.1f,\"ratio\":%.3f,"
           "\"errors\":%llu,\"lost\":%llu,",
           yard__bench_rate(v), yard__bench_us(v, 0.5), yard__bench_us(v, 0.99),
           yard__bench_rate(e), yard__bench_us(e, 0.5), yard__bench_us(e, 0.99), local, store_us,
           yard__bench_rate(e) > 0 ? yard__bench_rate(v) / yard__bench_rate(e) : 0,
           (unsigned long long)(v->errors + e->errors), (unsigned long long)(v->lost + e->lost));
    printf("\"store\":\"%s\",\"replicas\":%d,\"clients\":%d,\"window\":%d,\"duration_s\":%g}\n",
           strncmp(o->store, "redis", 5) == 0 ? "redis" : o->store, o->replicas, o->clients,
           o->window, o->duration_s);
}

static void
s_print_row(const char *name, const yard_bench_result_t *r)
{
    printf("%-16s %12.0f %10.1f %10.1f %10llu %8llu %6llu\n", name, yard__bench_rate(r),
           yard__bench_us(r, 0.5), yard__bench_us(r, 0.99), (unsigned long long)r->replies,
           (unsigned long long)r->errors, (unsigned long long)r->lost);
}

static void
s_print_errors(const char *side, const yard_bench_result_t *r)
{
    for (int k = 0; k < 32; k++) {
        if (r->error_counts[k]) {
            printf("errors (%s) %s: %llu\n", side, yard__bench_error_name(k),
                   (unsigned long long)r->error_counts[k]);
        }
    }
}

static void
s_print_table(const s_opts_t *o, const yard_bench_result_t *v, const yard_bench_result_t *e,
              double local, double store_us)
{
    printf("yard bench auth: %d clients x window %d, %d auth + %d echo replica%s, store %s, "
           "%g s per side\n",
           o->clients, o->window, o->replicas, o->replicas, o->replicas == 1 ? "" : "s",
           strncmp(o->store, "redis", 5) == 0 ? "redis" : o->store, o->duration_s);
    printf("%-16s %12s %10s %10s %10s %8s %6s\n", "path", "calls/s", "p50 us", "p99 us", "replies",
           "errors", "lost");
    s_print_row("auth verify", v);
    s_print_row("echo, same body", e);
    printf("local auth_jwt_verify (1 core): %.0f/s (%.1f us each)\n", local,
           local > 0 ? 1e6 / local : 0);
    printf("store read (MGET of 3 keys, 1 thread): %.1f us\n", store_us);
    printf("ratio verify / echo: %.3f (calls/s)\n",
           yard__bench_rate(e) > 0 ? yard__bench_rate(v) / yard__bench_rate(e) : 0);
    s_print_errors("verify", v);
    s_print_errors("echo", e);
}

/* --- the command -------------------------------------------------------------------------- */

static int
s_parse(int argc, char **argv, s_opts_t *o)
{
    static const struct option longopts[] = {
        {"clients", required_argument, NULL, 'c'},  {"window", required_argument, NULL, 'w'},
        {"duration", required_argument, NULL, 'd'}, {"replicas", required_argument, NULL, 'r'},
        {"store", required_argument, NULL, 's'},    {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    *o = (s_opts_t){.clients = 4, .window = 64, .replicas = 1, .duration_s = 5, .store = "memory"};
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        const char *what = NULL;
        switch (ch) {
        case 'h':
            fputs(s_usage, stdout);
            return 1;
        case 'r':
            what = yard__parse_u64(optarg, 1, 64, &v) ? "--replicas: 1..64" : NULL;
            o->replicas = (int)v;
            break;
        case 's':
            o->store = optarg;
            if ((strcmp(optarg, "memory") != 0 && strncmp(optarg, "redis://", 8) != 0) ||
                strpbrk(optarg, "\"\\\n")) {
                what = "--store: memory or redis://host:port[/db]";
            }
            break;
        case 'j':
            o->json = true;
            break;
        default:
            if (yard__bench_shape_opt(ch, optarg, &o->clients, &o->window, &o->duration_s, &what)) {
                break;
            }
            return yard__opt_reject(S_WHO, ch, argv[optind - 1], s_usage);
        }
        if (what) {
            return yard__opt_bad_value(S_WHO, optarg, what);
        }
    }
    if (optind < argc) {
        return yard__opt_operand(S_WHO, argv[optind], s_usage);
    }
    if (o->replicas > 1 && strcmp(o->store, "memory") == 0) {
        fprintf(stderr,
                "yard bench auth: auth keeps state: --replicas %d needs --store "
                "redis://host:port\n",
                o->replicas);
        return -1;
    }
    return 0;
}

int
yard__cmd_bench_auth(int argc, char **argv)
{
    s_opts_t o;
    int p = s_parse(argc, argv, &o);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    if (!yard_log_enabled(YARD_LOG_DEBUG)) {
        yard_log_set_level(YARD_LOG_WARN); /* keep the runtime's info lines out of the figures */
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "yard bench auth: libsodium did not initialise\n");
        return YARD_EXIT_ERROR;
    }
    yard_bench_result_t *ver = calloc(1, sizeof *ver);
    yard_bench_result_t *echo = calloc(1, sizeof *echo);
    s_bench_t b;
    memset(&b, 0, sizeof b);
    if (!ver || !echo) {
        abort();
    }
    int code = YARD_EXIT_ERROR;
    msgpack_sbuffer body = {0};
    /* A throwaway admin: a random name, so runs on one Redis never collide, and a random
     * password, so none is ever known outside this process. */
    char id[24];
    auth_random_id(id, sizeof id, 8);
    snprintf(b.user, sizeof b.user, "yard-bench-%s", id);
    auth_random_id(b.password, sizeof b.password, 24);
    /* Clients and replicas reach the broker over tcp loopback, as separate processes do. */
    /* Round-robin, as the auth replicas take it: the ratio compares like with like. */
    yard_bench_replicas_t echo_reps = {.replicas = o.replicas, .credit = s_credit(&o)};
    if (yard__bench_bus_start(&b.bus, &echo_reps, "yard bench auth") || s_auth_start(&b, &o)) {
        goto cleanup;
    }
    b.cctx = zmq_ctx_new();
    yard_client_opts_t copts = {.zmq_context = b.cctx, .default_timeout_ms = S_CALL_TIMEOUT_MS};
    if (!b.cctx || yard_client_new(b.bus.tcp, &copts, &b.client) || s_login(&b)) {
        goto cleanup;
    }
    s_verify_body(b.token, &body);
    yard_bench_load_t load = {.endpoint = b.bus.tcp,
                              .zmq_ctx = b.cctx,
                              .service = "auth",
                              .op = "verify",
                              .body = body.data,
                              .size = body.size,
                              .clients = o.clients,
                              .window = o.window,
                              .duration_s = o.duration_s,
                              .warmup_ms = 0}; /* the login has waited for the replicas */
    if (s_run_side(&load, ver)) {
        goto cleanup;
    }
    load.service = "echo"; /* the very same body and op: only what the service does differs */
    if (s_run_side(&load, echo)) {
        goto cleanup;
    }
    s_delete_user(&b);
    /* Stop the bus before the local loops, so they have the CPU to themselves. */
    yard_client_destroy(&b.client);
    yard_actor_destroy(&b.auth);
    yard_config_destroy(&b.cfg);
    yard__bench_bus_stop(&b.bus);
    double local = s_local_verify();
    double store_us = s_store_read_us(o.store);
    if (local <= 0) {
        fprintf(stderr, "yard bench auth: the local verify loop failed\n");
        goto cleanup;
    }
    code = YARD_EXIT_OK;
    if (o.json) {
        s_print_json(&o, ver, echo, local, store_us);
    } else {
        s_print_table(&o, ver, echo, local, store_us);
    }
cleanup:
    if (b.client && b.token) {
        s_delete_user(&b);
    }
    yard_client_destroy(&b.client);
    yard_actor_destroy(&b.auth);
    yard_config_destroy(&b.cfg);
    yard__bench_bus_stop(&b.bus);
    if (b.cctx) {
        zmq_ctx_term(b.cctx);
    }
    if (body.data) {
        msgpack_sbuffer_destroy(&body);
    }
    if (b.token) {
        sodium_memzero(b.token, strlen(b.token));
        free(b.token);
    }
    sodium_memzero(b.password, sizeof b.password);
    free(ver);
    free(echo);
    return code;
}
