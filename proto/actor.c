/* The actor runtime's life cycle: yard_actor_start() checks the descriptor and options,
 * opens the store, and starts one thread per replica; yard_actor_stop() asks each replica to
 * drain and joins it; yard_actor_destroy() frees what start made.
 *
 * Invariant: start returns only after every replica ran its init; the replicas run their loop
 * (actor_replica.c) only if all of them succeeded, else start fails and every replica that did
 * init runs fini. Stop is idempotent and serialised by stop_lock, which replicas never take.
 * Each replica's context (ctx.c) lives from before init to after fini on the replica's own
 * thread; its loop sources and timers end before fini. */
#include "alloc_internal.h"
#include "actor_internal.h"
#include "ctx_internal.h"
#include "msg_internal.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/subject.h"
#include "yard/wait.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_DEFAULT_CREDIT 16
#define S_MAX_REPLICAS   1024

static void *
s_replica_main(void *arg)
{
    yard__rt_replica_t *rep = arg;
    yard_actor_t *a = rep->actor;
    const yard_actor_def_t *def = a->def;
    yard_log_set_context(def->name, rep->index);
    char tname[16]; /* the kernel keeps 15 characters: visible in top -H, perf */
    snprintf(tname, sizeof tname, "%.10s/%d", def->name, rep->index);
    pthread_setname_np(pthread_self(), tname);
    rep->ctx = yard__ctx_new(def, rep->index, a->options, a->store, rep);
    rep->ctx->http_ca_file = a->http_ca_file ? yard__xstrdup(a->http_ca_file) : NULL;
    rep->ctx->broker = a->broker;
    rep->ctx->zmq_context = a->ctx;
    yard_actor_env_t env = {.broker = a->broker, .zmq_context = a->ctx, .config = a->config};
    int rc = yard__ctx_init(rep->ctx, &env);
    pthread_mutex_lock(&a->lock);
    a->n_inited++;
    if (rc != 0 && a->init_rc == 0) {
        a->init_rc = rc;
    }
    pthread_cond_broadcast(&a->cond);
    while (a->go == 0) {
        pthread_cond_wait(&a->cond, &a->lock);
    }
    int go = a->go;
    pthread_mutex_unlock(&a->lock);
    if (rc == 0 && go > 0) {
        yard__rt_run(rep);
    }
    /* Sources and timers end before fini, so their callbacks never see freed state. */
    yard__ctx_shutdown(rep->ctx);
    yard__ctx_fini(rep->ctx);
    yard__ctx_destroy(&rep->ctx);
    return NULL;
}

/* --- life cycle -------------------------------------------------------------------------- */

static void
s_replica_free(yard__rt_replica_t *rep)
{
    yard__mailbox_unref(&rep->mbox);
    yard_codec_destroy(&rep->codec);
    msgpack_zone_destroy(&rep->zone);
    for (int i = 0; i < 3; i++) {
        zmq_msg_close(&rep->frames[i]);
    }
    for (size_t k = 0; rep->links && k < rep->actor->n_endpoints; k++) {
        yard__link_fini(&rep->links[k].io);
    }
    free(rep->links);
    free(rep->credit);
    yard__pubbuf_clear(&rep->pubs);
    free(rep->arena);
    free(rep->hdrs);
}

/* True when pattern (a sensitive entry) matches an op of def's handlers, or def has a fallback
 * handler (then any op may reach it). */
static bool
s_sensitive_matches(const yard_actor_def_t *def, yard_str_t pattern)
{
    for (const yard_handler_def_t *hd = def->handlers; hd->fn; hd++) {
        if (!hd->op || yard_str_eq_cstr(pattern, hd->op) ||
            yard_subject_match(pattern, yard_str(hd->op))) {
            return true;
        }
    }
    return false;
}

/* The sensitive list: at most YARD_WIRE_SENSITIVE_MAX valid patterns, each naming a handler's
 * op, so that a typo cannot leave an op tapped while its author believes it hidden. */
static int
s_check_sensitive(const yard_actor_def_t *def)
{
    size_t n = 0;
    for (const char *const *e = def->sensitive; e && *e; e++, n++) {
        yard_str_t p = yard_str(*e);
        if (n == YARD_WIRE_SENSITIVE_MAX) {
            yard_log(YARD_LOG_ERROR, "more than 64 sensitive ops", YF_STR("actor", def->name));
            return YARD_E_INVALID;
        }
        if (!yard_subject_pattern_valid(p) || !s_sensitive_matches(def, p)) {
            yard_log(YARD_LOG_ERROR,
                     "a sensitive op is not an op name or pattern that matches a handler",
                     YF_STR("actor", def->name), YF_STR("sensitive", *e));
            return YARD_E_INVALID;
        }
    }
    return 0;
}

int
yard__actor_check_def(const yard_actor_def_t *def)
{
    if (!def || !def->name || !*def->name || strlen(def->name) > YARD_WIRE_NAME_MAX ||
        !def->handlers || !def->handlers[0].fn) {
        return YARD_E_INVALID;
    }
    return s_check_sensitive(def);
}

const yard_handler_def_t *
yard__actor_find_handler(const yard_actor_def_t *def, const char *op)
{
    const yard_handler_def_t *fallback = NULL;
    for (const yard_handler_def_t *hd = def->handlers; hd && hd->fn; hd++) {
        if (!hd->op) {
            fallback = fallback ? fallback : hd;
        } else if (op && strcmp(op, hd->op) == 0) {
            return hd;
        }
    }
    return fallback;
}

/* The text for a handler's return code that answered nothing itself. The table's text for
 * UNREACHABLE is the client's ("no broker answered"): from a service, which the broker just
 * reached, it means the service could not reach what it needs, and says so. */
static const char *
s_returned_text(int rc)
{
    if (rc >= 0) {
        return "the handler returned without answering";
    }
    if (rc == YARD_E_UNREACHABLE) {
        return "the service could not reach something it needs (its state store, an upstream)";
    }
    return NULL;
}

void
yard__actor_call(const yard_actor_def_t *def, yard_request_t *req, void *state)
{
    const yard_handler_def_t *hd = yard__actor_find_handler(def, req->op);
    if (!hd) {
        yard_request_fail(req, YARD_E_BAD_REQUEST, NULL, "no handler for this op");
        return;
    }
    int rc = hd->fn(req, state);
    if (req->state == YARD__R_OPEN) {
        if (rc == 0) {
            yard_log(YARD_LOG_WARN, "handler returned without answering", YF_STR("op", req->op));
        }
        yard_request_fail(req, rc < 0 ? rc : YARD_E_INTERNAL, NULL, s_returned_text(rc));
    }
}

/* A deep copy: the caller may free its struct (and the strings in it) once start returns. */
static void
s_options_copy(const yard_actor_def_t *def, void *dst, const void *src)
{
    memcpy(dst, src, def->options_size);
    for (const yard_option_t *o = def->options; o && o->key; o++) {
        char **field = (char **)((char *)dst + o->offset);
        if (o->type == YARD_OPT_STRING && *field) {
            *field = yard__xstrdup(*field);
        }
    }
}

/* Says why the store at url could not be opened, without anything a URL's user part holds. */
static void
s_store_why(const char *url, int rc, char *why, size_t cap)
{
    const char *at = strchr(url, '@');
    const char *scheme = strstr(url, "://");
    char shown[256];
    if (at && scheme && scheme < at) { /* redis://user:pass@host: the host part only */
        snprintf(shown, sizeof shown, "%.*s%s", (int)(scheme + 3 - url), url, at + 1);
    } else {
        snprintf(shown, sizeof shown, "%s", url);
    }
    if (rc == YARD_E_UNREACHABLE) {
        snprintf(why, cap, "the state store %s did not answer: is Redis running there?", shown);
    } else {
        snprintf(why, cap,
                 "cannot open the state store '%s': give memory or redis://host[:port][/db]%s",
                 shown, at ? " (without a user or password)" : "");
    }
}

int
yard_actor_start(const yard_actor_def_t *def, const yard_actor_opts_t *opts,
                 const void *actor_options, yard_actor_t **out)
{
    return yard__actor_start(def, opts, actor_options, out, NULL, 0);
}

int
yard__actor_start(const yard_actor_def_t *def, const yard_actor_opts_t *opts,
                  const void *actor_options, yard_actor_t **out, char *why, size_t cap)
{
    char scratch[8];
    if (!why || cap == 0) {
        why = scratch;
        cap = sizeof scratch;
    }
    why[0] = '\0';
    *out = NULL;
    yard_actor_opts_t none = {0};
    opts = opts ? opts : &none;
    int rc = yard__actor_check_def(def);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "invalid actor descriptor");
        snprintf(why, cap, "its descriptor is invalid (the log line before says why)");
        return rc;
    }
    if (opts->replicas < 0 || opts->replicas > S_MAX_REPLICAS || opts->credit < 0 ||
        opts->credit > UINT32_MAX) {
        yard_log(YARD_LOG_ERROR, "replicas or credit out of range", YF_STR("actor", def->name));
        return YARD_E_CONFIG;
    }
    if (opts->log_level && *opts->log_level) {
        yard_log_level_t level;
        if (yard_log_level_parse(opts->log_level, &level) != 0) {
            yard_log(YARD_LOG_ERROR, "bad log level", YF_STR("log_level", opts->log_level));
            return YARD_E_CONFIG;
        }
        yard_log_set_level(level);
    }
    yard_actor_t *a = yard__xcalloc(1, sizeof *a);
    a->def = def;
    for (const char *const *e = def->sensitive; e && *e; e++) { /* counted by check_def */
        a->sensitive[a->n_sensitive++] = yard_str(*e);
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->stop_lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    a->credit = opts->credit > 0 ? (uint32_t)opts->credit
                : def->credit    ? def->credit
                                 : S_DEFAULT_CREDIT;
    /* Fields left zero take the options tables' defaults (actor_main.c), the one place they
     * are written. */
    yard_actor_opts_t filled = *opts;
    yard_options_fill_unset(yard_actor_common_options, &filled);
    yard_options_fill_unset(yard_actor_section_options, &filled);
    a->heartbeat_ms = filled.heartbeat_ms;
    a->drain_ms = filled.drain_ms;
    a->fill = opts->fill;
    a->http_ca_file = opts->http_ca_file ? yard__xstrdup(opts->http_ca_file) : NULL;
    if (a->http_ca_file && access(a->http_ca_file, R_OK) != 0) {
        /* Found now rather than as a TLS failure on every outbound request later. */
        snprintf(why, cap, "http_ca_file '%s' cannot be read: %s", a->http_ca_file,
                 strerror(errno));
        yard_log(YARD_LOG_ERROR, "cannot read the CA bundle",
                 YF_STR("http_ca_file", a->http_ca_file));
        rc = YARD_E_CONFIG;
        goto fail;
    }
    a->n_replicas = (size_t)filled.replicas;
    const char *brokers = opts->broker && *opts->broker ? opts->broker : getenv("YARD_BROKER");
    rc = yard__endpoints_parse(brokers, &a->endpoints, &a->n_endpoints);
    a->broker = brokers ? strdup(brokers) : NULL;
    a->config = opts->config;
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "no broker endpoint, or a malformed one",
                 YF_STR("broker", brokers));
        goto fail;
    }
    if (2 * a->n_endpoints + 1 + YARD__RT_SOURCE_ITEMS > YARD_WAIT_MAX) {
        yard_log(YARD_LOG_ERROR, "too many broker endpoints", YF_STR("broker", brokers),
                 YF_INT("max", (YARD_WAIT_MAX - 1 - YARD__RT_SOURCE_ITEMS) / 2));
        rc = YARD_E_CONFIG;
        goto fail;
    }
    const char *store = opts->store && *opts->store
                            ? opts->store
                            : yard_options_default(yard_actor_common_options, "store");
    rc = yard_store_open(store, &a->store);
    if (rc != 0) {
        s_store_why(store, rc, why, cap);
        yard_log(YARD_LOG_ERROR, "cannot open the state store", YF_STR("store", store),
                 YF_STR("error", yard_err_name(rc)));
        goto fail;
    }
    if (def->stateful && a->n_replicas > 1 && !yard_store_shared(a->store)) {
        /* Replicas are meant to be interchangeable and movable to other processes; state in
         * one process's memory would silently diverge the moment one is, so refuse now. */
        yard_log(YARD_LOG_ERROR,
                 "this actor keeps state: more than one replica needs a shared store; set "
                 "store to redis://host:port (YARD_STORE) or run one replica",
                 YF_STR("actor", def->name), YF_STR("store", store),
                 YF_UINT("replicas", a->n_replicas));
        rc = YARD_E_CONFIG;
        goto fail;
    }
    if (def->options_size) {
        a->options = yard__xcalloc(1, def->options_size);
        if (actor_options) {
            s_options_copy(def, a->options, actor_options);
        }
    }
    a->ctx = opts->zmq_context;
    if (!a->ctx) {
        a->ctx = zmq_ctx_new();
        a->own_ctx = true;
        if (!a->ctx) {
            rc = YARD_E_INTERNAL;
            goto fail;
        }
    }
    char host[128] = "localhost";
    gethostname(host, sizeof host - 1);
    a->replicas = yard__xcalloc(a->n_replicas, sizeof *a->replicas);
    for (size_t i = 0; i < a->n_replicas; i++) {
        yard__rt_replica_t *rep = &a->replicas[i];
        rep->actor = a;
        rep->index = (int)i;
        rep->links = yard__xcalloc(a->n_endpoints, sizeof *rep->links);
        for (size_t k = 0; k < a->n_endpoints; k++) {
            yard__link_init(&rep->links[k].io);
        }
        rep->credit = yard__xcalloc(a->n_endpoints, sizeof *rep->credit);
        yard__credit_init(rep->credit, a->n_endpoints, a->credit);
        rep->mbox = yard__mailbox_new(true);
        rep->codec = yard_codec_new();
        rep->next_expiry = YARD__RT_NEVER;
        rep->hdrs = yard__xcalloc(2 * YARD_WIRE_HEADERS_MAX, sizeof *rep->hdrs);
        if (!msgpack_zone_init(&rep->zone, 4096)) {
            abort();
        }
        for (int f = 0; f < 3; f++) {
            zmq_msg_init(&rep->frames[f]);
        }
        snprintf(rep->name, sizeof rep->name, "%s/%ld/%zu", host, (long)getpid(), i);
    }
    for (size_t i = 0; i < a->n_replicas; i++) {
        if (pthread_create(&a->replicas[i].thread, NULL, s_replica_main, &a->replicas[i]) != 0) {
            abort();
        }
        a->replicas[i].started = true;
    }
    pthread_mutex_lock(&a->lock);
    while (a->n_inited < a->n_replicas) {
        pthread_cond_wait(&a->cond, &a->lock);
    }
    rc = a->init_rc;
    a->go = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    if (rc != 0) {
        /* No broker is asked before init: UNREACHABLE there is something init needed. */
        snprintf(why, cap, "init failed: %s",
                 rc == YARD_E_UNREACHABLE
                     ? "a service it needs (its state store, an upstream) did not answer"
                     : yard_strerror(rc));
        goto fail;
    }
    *out = a;
    return 0;
fail:
    yard_actor_destroy(&a);
    return rc;
}

void
yard__actor_set_refused(yard_actor_t *a, yard_str_t text)
{
    pthread_mutex_lock(&a->lock);
    if (!a->refused) {
        size_t n = text.len < sizeof a->refused_text ? text.len : sizeof a->refused_text - 1;
        memcpy(a->refused_text, text.ptr ? text.ptr : "", n);
        a->refused_text[n] = '\0';
        a->refused = true;
    }
    pthread_mutex_unlock(&a->lock);
}

bool
yard_actor_refused(yard_actor_t *self, char *text, size_t cap)
{
    if (!self) {
        return false;
    }
    pthread_mutex_lock(&self->lock);
    bool refused = self->refused;
    if (refused && text && cap > 0) {
        snprintf(text, cap, "%s", self->refused_text);
    }
    pthread_mutex_unlock(&self->lock);
    return refused;
}

void
yard_actor_stop(yard_actor_t *self)
{
    if (!self) {
        return;
    }
    /* Not self->lock: a replica just released from start-up still needs that one to leave
     * its wait, and we are about to join it. */
    pthread_mutex_lock(&self->stop_lock);
    /* replicas is NULL when start failed before creating them. */
    if (!self->stopped && self->replicas) {
        for (size_t i = 0; i < self->n_replicas; i++) {
            yard__rt_replica_t *rep = &self->replicas[i];
            atomic_store(&rep->mbox->stop, true);
            uint64_t one = 1;
            ssize_t w = write(rep->mbox->efd, &one, sizeof one);
            (void)w;
        }
        for (size_t i = 0; i < self->n_replicas; i++) {
            if (self->replicas[i].started) {
                pthread_join(self->replicas[i].thread, NULL);
                self->replicas[i].started = false;
            }
        }
        self->stopped = true;
    }
    pthread_mutex_unlock(&self->stop_lock);
}

void
yard_actor_destroy(yard_actor_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    yard_actor_t *self = *self_p;
    yard_actor_stop(self);
    for (size_t i = 0; self->replicas && i < self->n_replicas; i++) {
        s_replica_free(&self->replicas[i]);
    }
    free(self->replicas);
    if (self->own_ctx && self->ctx) {
        zmq_ctx_term(self->ctx);
    }
    yard_store_destroy(&self->store);
    free(self->http_ca_file);
    if (self->options && self->def->options) {
        yard_options_free(self->def->options, self->options);
    }
    free(self->options);
    yard__endpoints_free(self->endpoints, self->n_endpoints);
    free(self->broker);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->lock);
    pthread_mutex_destroy(&self->stop_lock);
    free(self);
    *self_p = NULL;
}
