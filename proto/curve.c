/* CURVE for the client side of every bus socket (yard/curve.h): the settings table, the
 * process-wide keys loaded from CZMQ certificate files, and `yard keygen`'s writer.
 *
 * CZMQ is used for its certificate class only here (zcert): no zsock, no zactor, so it never
 * starts its own context or signal handling in a client. zsys_handler_set(NULL) runs before
 * the first CZMQ call anyway, because the project owns SIGINT and SIGTERM (yard/signal.h). */
#include "curve_internal.h"
#include "yard/curve.h"
#include "yard/error.h"
#include "yard/log.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_Z85 41 /* a 32-byte key in Z85, with its NUL */

#define S_OPT(key, field, help)                                                                    \
    {                                                                                              \
        key, YARD_OPT_STRING, NULL, offsetof(yard_curve_opts_t, field), help, 0, 0, 0              \
    }

const yard_option_t yard_curve_options[] = {
    S_OPT("key", key, "this process's secret certificate (NAME_secret from `yard keygen`)"),
    S_OPT("broker_key", broker_key, "the broker's public certificate: set it to speak CURVE"),
    S_OPT("keys_dir", keys_dir, "broker: directory of the allowed clients' public certificates"),
    {0},
};

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static bool s_configured, s_enabled;
static char s_public[S_Z85], s_secret[S_Z85], s_server[S_Z85];

static void
s_czmq_quiet_once(void)
{
    /* Before any CZMQ call: no SIGINT/SIGTERM handler of CZMQ's, ever. */
    zsys_handler_set(NULL);
}

void
yard__czmq_quiet(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, s_czmq_quiet_once);
}

int
yard__cert_load(const char *setting, const char *path, bool need_secret, char pub[S_Z85],
                char sec[S_Z85], char *errbuf, size_t errlen)
{
    yard__czmq_quiet();
    if (access(path, R_OK) != 0) {
        snprintf(errbuf, errlen, "curve.%s: cannot read %s: %s", setting, path, strerror(errno));
        return YARD_E_CONFIG;
    }
    zcert_t *cert = zcert_load(path);
    if (!cert) {
        snprintf(errbuf, errlen, "curve.%s: %s is not a CZMQ certificate", setting, path);
        return YARD_E_CONFIG;
    }
    const char *s = zcert_secret_txt(cert);
    bool has_secret = strspn(s, "0") != strlen(s); /* a public cert loads with a zero secret */
    if (need_secret && !has_secret) {
        zcert_destroy(&cert);
        snprintf(errbuf, errlen,
                 "curve.%s: %s holds no secret key (give the NAME_secret file of `yard keygen`)",
                 setting, path);
        return YARD_E_CONFIG;
    }
    snprintf(pub, S_Z85, "%s", zcert_public_txt(cert));
    if (sec) {
        snprintf(sec, S_Z85, "%s", need_secret ? s : "");
    }
    zcert_destroy(&cert);
    return 0;
}

static int
s_configure_locked(const yard_curve_opts_t *o, char *errbuf, size_t errlen)
{
    s_configured = true;
    s_enabled = false;
    if (!o || !o->broker_key || !o->broker_key[0]) {
        return 0;
    }
    if (!o->key || !o->key[0]) {
        snprintf(errbuf, errlen,
                 "curve.broker_key is set but curve.key is not: a CURVE client "
                 "needs its own key pair (`yard keygen NAME`)");
        return YARD_E_CONFIG;
    }
    char pub[S_Z85], sec[S_Z85], server[S_Z85];
    int rc = yard__cert_load("broker_key", o->broker_key, false, server, NULL, errbuf, errlen);
    if (rc == 0) {
        rc = yard__cert_load("key", o->key, true, pub, sec, errbuf, errlen);
    }
    if (rc == 0) {
        memcpy(s_public, pub, sizeof pub);
        memcpy(s_secret, sec, sizeof sec);
        memcpy(s_server, server, sizeof server);
        s_enabled = true;
    }
    memset(sec, 0, sizeof sec);
    return rc;
}

int
yard_curve_configure(const yard_curve_opts_t *o, char *errbuf, size_t errlen)
{
    pthread_mutex_lock(&s_lock);
    int rc = s_configure_locked(o, errbuf, errlen);
    pthread_mutex_unlock(&s_lock);
    return rc;
}

/* The first socket of a process that never configured reads the environment. */
static int
s_from_env_locked(void)
{
    yard_curve_opts_t o = {getenv("YARD_CURVE_KEY"), getenv("YARD_CURVE_BROKER_KEY"), NULL};
    char err[512] = "";
    int rc = s_configure_locked(&o, err, sizeof err);
    if (rc) {
        yard_log(YARD_LOG_ERROR, "bad CURVE settings in the environment", YF_STR("why", err));
    }
    return rc;
}

bool
yard_curve_enabled(void)
{
    pthread_mutex_lock(&s_lock);
    if (!s_configured) {
        s_from_env_locked();
    }
    bool on = s_enabled;
    pthread_mutex_unlock(&s_lock);
    return on;
}

int
yard__curve_apply(void *sock)
{
    pthread_mutex_lock(&s_lock);
    int rc = s_configured ? 0 : s_from_env_locked();
    if (rc == 0 && s_enabled &&
        (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, s_server, S_Z85 - 1) != 0 ||
         zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, s_public, S_Z85 - 1) != 0 ||
         zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s_secret, S_Z85 - 1) != 0)) {
        yard_log(YARD_LOG_ERROR, "cannot set CURVE keys on a bus socket",
                 YF_STR("error", zmq_strerror(zmq_errno())));
        rc = YARD_E_INTERNAL;
    }
    pthread_mutex_unlock(&s_lock);
    return rc;
}

/* --- yard keygen ------------------------------------------------------------------------ */

int
yard_curve_keygen(const char *name, const char *const *meta, char *errbuf, size_t errlen)
{
    yard__czmq_quiet();
    if (!name || !name[0]) {
        snprintf(errbuf, errlen, "a key needs a NAME");
        return YARD_E_INVALID;
    }
    char secret[4096];
    if ((size_t)snprintf(secret, sizeof secret, "%s_secret", name) >= sizeof secret) {
        snprintf(errbuf, errlen, "NAME is too long");
        return YARD_E_INVALID;
    }
    if (access(name, F_OK) == 0 || access(secret, F_OK) == 0) {
        snprintf(errbuf, errlen, "%s or %s already exists: not overwriting a key", name, secret);
        return YARD_E_INVALID;
    }
    zcert_t *cert = zcert_new();
    if (!cert) {
        snprintf(errbuf, errlen, "cannot make a key pair (libzmq without CURVE?)");
        return YARD_E_INTERNAL;
    }
    /* The broker names the key by it in refusals and logs. */
    const char *base = strrchr(name, '/');
    zcert_set_meta(cert, "name", "%s", base ? base + 1 : name);
    for (size_t i = 0; meta && meta[i] && meta[i + 1]; i += 2) {
        zcert_set_meta(cert, meta[i], "%s", meta[i + 1]);
    }
    /* zcert_save writes NAME_secret with mode 0600 and NAME world-readable. */
    int rc = zcert_save(cert, name) == 0 ? 0 : YARD_E_IO;
    zcert_destroy(&cert);
    if (rc) {
        snprintf(errbuf, errlen, "cannot write %s: %s", name, strerror(errno));
        return rc;
    }
    chmod(secret, S_IRUSR | S_IWUSR);
    return 0;
}
