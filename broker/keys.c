/* CURVE on the broker's ROUTER, and the safe-bind rule (broker_priv.h, yard/broker.h).
 *
 * With curve_key and curve_keys_dir set, the ROUTER is a CURVE server with the broker's key
 * pair, and CZMQ's zauth actor answers its ZAP requests: a client key is accepted only when a
 * certificate for it is in keys_dir (zauth's certificate store rereads a checked copy of the
 * directory when it changes, keys_dir.c; CURVE_ALLOW_ANY is never sent). zauth answers in CZMQ's
 * own ZeroMQ context, so the ROUTER and its monitor live there too (yard_broker_context()).
 *
 * Without CURVE the broker binds only loopback, ipc:// and inproc:// endpoints unless the
 * config says `insecure: true`: anyone who can reach a bus endpoint may use every service. */
#include "broker_priv.h"
#include "yard/error.h"
#include "yard/log.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_ZAP_DOMAIN "yard"

struct yard__keys {
    bool holds_auth; /* counted in s_auth_refs */
    char pub[41], sec[41];
};

/* zauth binds the context's one ZAP endpoint, so brokers in one process (tests, failover
 * pairs) share one zauth, and with it one keys_dir, which zauth reads through a checked copy
 * (keys_dir.c). */
static pthread_mutex_t s_auth_lock = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_auth;
static yard__keydir_t *s_keydir;
static unsigned s_auth_refs;
static char s_auth_dir[4096];

static int
s_auth_hold(const char *dir)
{
    int rc = 0;
    pthread_mutex_lock(&s_auth_lock);
    if (s_auth_refs > 0 && strcmp(s_auth_dir, dir) != 0) {
        yard_log(YARD_LOG_ERROR, "brokers in one process share one curve.keys_dir",
                 YF_STR("keys_dir", dir), YF_STR("in_use", s_auth_dir));
        rc = YARD_E_CONFIG;
    } else if (s_auth_refs == 0) {
        s_keydir = yard__keydir_new(dir);
        s_auth = s_keydir ? zactor_new(zauth, NULL) : NULL;
        if (!s_auth || zstr_sendx(s_auth, "CURVE", yard__keydir_path(s_keydir), NULL) != 0 ||
            zsock_wait(s_auth) != 0) {
            yard_log(YARD_LOG_ERROR, "cannot start the ZAP handler (zauth)");
            zactor_destroy(&s_auth);
            yard__keydir_destroy(&s_keydir);
            rc = YARD_E_INTERNAL;
        } else {
            snprintf(s_auth_dir, sizeof s_auth_dir, "%s", dir);
        }
    }
    if (rc == 0) {
        s_auth_refs++;
    }
    pthread_mutex_unlock(&s_auth_lock);
    return rc;
}

static void
s_auth_release(void)
{
    pthread_mutex_lock(&s_auth_lock);
    if (s_auth_refs > 0 && --s_auth_refs == 0) {
        zactor_destroy(&s_auth);
        yard__keydir_destroy(&s_keydir);
    }
    pthread_mutex_unlock(&s_auth_lock);
}

void
yard__keys_tick(yard_broker_t *b)
{
    if (!b->keys) {
        return;
    }
    pthread_mutex_lock(&s_auth_lock);
    if (s_keydir) {
        yard__keydir_sync(s_keydir, b->now);
    }
    pthread_mutex_unlock(&s_auth_lock);
}

static int
s_load_server_cert(yard__keys_t *k, const char *path)
{
    if (access(path, R_OK) != 0) {
        yard_log(YARD_LOG_ERROR, "curve.key: cannot read the broker's key", YF_STR("path", path),
                 YF_STR("error", strerror(errno)));
        return YARD_E_CONFIG;
    }
    zcert_t *cert = zcert_load(path);
    if (!cert) {
        yard_log(YARD_LOG_ERROR, "curve.key: not a CZMQ certificate", YF_STR("path", path));
        return YARD_E_CONFIG;
    }
    const char *s = zcert_secret_txt(cert);
    int rc = 0;
    if (strspn(s, "0") == strlen(s)) { /* a public certificate loads with a zero secret */
        yard_log(YARD_LOG_ERROR,
                 "curve.key: the file holds no secret key (give NAME_secret of `yard keygen`)",
                 YF_STR("path", path));
        rc = YARD_E_CONFIG;
    } else {
        snprintf(k->pub, sizeof k->pub, "%s", zcert_public_txt(cert));
        snprintf(k->sec, sizeof k->sec, "%s", s);
    }
    zcert_destroy(&cert);
    return rc;
}

static bool
s_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int
yard__keys_open(yard_broker_t *b)
{
    const char *key = b->o.curve_key, *dir = b->o.curve_keys_dir;
    bool has_key = key && *key, has_dir = dir && *dir;
    if (!has_key && !has_dir) {
        return 0;
    }
    if (!has_key || !has_dir) {
        yard_log(YARD_LOG_ERROR,
                 "CURVE needs both curve.key (the broker's secret certificate) "
                 "and curve.keys_dir (the allowed clients' certificates)",
                 YF_STR("missing", has_key ? "curve.keys_dir" : "curve.key"));
        return YARD_E_CONFIG;
    }
    if (!s_is_dir(dir)) {
        yard_log(YARD_LOG_ERROR, "curve.keys_dir is not a directory", YF_STR("path", dir));
        return YARD_E_CONFIG;
    }
    zsys_handler_set(NULL); /* before CZMQ starts: the program owns SIGINT and SIGTERM */
    yard__keys_t *k = calloc(1, sizeof *k);
    if (!k) {
        abort();
    }
    int rc = s_load_server_cert(k, key);
    if (rc == 0 && zsys_init() == NULL) {
        rc = YARD_E_INTERNAL;
    }
    if (rc == 0) {
        rc = s_auth_hold(dir);
        k->holds_auth = rc == 0;
    }
    b->keys = k;
    if (rc) {
        yard__keys_close(b);
    }
    return rc;
}

void *
yard__keys_context(const yard_broker_t *b)
{
    return b->keys ? zsys_init() : NULL;
}

int
yard__keys_apply(yard_broker_t *b)
{
    int one = 1;
    yard__keys_t *k = b->keys;
    if (zmq_setsockopt(b->router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(b->router, ZMQ_CURVE_PUBLICKEY, k->pub, 40) != 0 ||
        zmq_setsockopt(b->router, ZMQ_CURVE_SECRETKEY, k->sec, 40) != 0 ||
        zmq_setsockopt(b->router, ZMQ_ZAP_DOMAIN, S_ZAP_DOMAIN, strlen(S_ZAP_DOMAIN)) != 0) {
        yard_log(YARD_LOG_ERROR, "cannot make the ROUTER a CURVE server",
                 YF_STR("error", zmq_strerror(zmq_errno())));
        return YARD_E_INTERNAL;
    }
    memset(k->sec, 0, sizeof k->sec); /* libzmq keeps its own copy */
    yard_log(YARD_LOG_INFO, "CURVE on: only keys in keys_dir may connect",
             YF_STR("keys_dir", b->o.curve_keys_dir), YF_STR("broker_public_key", k->pub));
    return 0;
}

void
yard__keys_close(yard_broker_t *b)
{
    if (!b->keys) {
        return;
    }
    if (b->keys->holds_auth) {
        s_auth_release();
    }
    memset(b->keys, 0, sizeof *b->keys);
    free(b->keys);
    b->keys = NULL;
}

/* True when ep cannot be reached from another machine: ipc://, inproc://, or tcp:// on a
 * loopback address (127.0.0.0/8, ::1, localhost). `*`, 0.0.0.0, interface names and every
 * other host can. */
static bool
s_local_endpoint(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0) {
        return true;
    }
    const char *host = strncmp(ep, "tcp://", 6) == 0 ? ep + 6 : NULL;
    if (!host) {
        return false; /* pgm, epgm, udp, ws...: not loopback */
    }
    if (strchr(host, ';')) {
        return false; /* "source;destination": judge neither half, refuse */
    }
    return strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost:", 10) == 0 ||
           strncmp(host, "[::1]:", 6) == 0;
}

int
yard__keys_check_bind(const yard_broker_t *b, const char *ep)
{
    if (b->keys || b->o.insecure || s_local_endpoint(ep)) {
        return 0;
    }
    yard_log(YARD_LOG_ERROR,
             "refusing to bind a non-loopback endpoint without CURVE: anyone who reaches it could "
             "use every service. Set curve.key and curve.keys_dir (yard keygen), or insecure: "
             "true to accept that",
             YF_STR("endpoint", ep));
    return YARD_E_CONFIG;
}
