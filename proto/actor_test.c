/* The actor test harness: replica 0 of an actor without a broker, built and ended by the same
 * functions a replica uses (yard_actor_configure, yard__ctx_new/init/shutdown/fini,
 * yard__actor_call), so that what a test shows is what the runtime does. Only the loop
 * differs: timers follow a fake clock the test moves, and sources turn in real time while
 * the test waits for something in yard_actor_test_run().
 *
 * Invariant: as in a replica, the sources are destroyed and the timers stopped before fini. */
#include "alloc_internal.h"
#include "actor_internal.h"
#include "ctx_internal.h"
#include "yard/actor_test.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/wait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_POLL_MS          10 /* until() may watch other threads: look this often */
#define S_DEFAULT_DRAIN_MS 5000

struct yard_actor_test {
    const yard_actor_def_t *def;
    yard_config_t *cfg;
    yard_actor_opts_t opts;
    void *options;
    yard_store_t *store;
    yard_ctx_t *ctx;
};

/* yard_config_load() reads files: the text goes through a private temporary one. */
static int
s_config_from_text(const char *text, yard_config_t **out, char *err, size_t errlen)
{
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/yard-actor-test-XXXXXX.yaml", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(path, 5);
    if (fd < 0) {
        snprintf(err, errlen, "cannot make a temporary config file in %.200s", dir ? dir : "/tmp");
        return YARD_E_IO;
    }
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    close(fd);
    int rc = w == (ssize_t)len ? yard_config_load(path, out, err, errlen) : YARD_E_IO;
    if (w != (ssize_t)len) {
        snprintf(err, errlen, "cannot write the temporary config file %.200s", path);
    }
    unlink(path);
    return rc;
}

static void
s_free(yard_actor_test_t *t)
{
    yard__ctx_destroy(&t->ctx);
    yard_store_destroy(&t->store);
    yard_actor_config_free(t->def, &t->opts, &t->options);
    yard_config_destroy(&t->cfg);
    free(t);
}

int
yard_actor_test_new(const yard_actor_def_t *def, const char *yaml_config, yard_actor_test_t **out)
{
    *out = NULL;
    if (yard__actor_check_def(def) != 0) {
        yard_log(YARD_LOG_ERROR, "invalid actor descriptor");
        return YARD_E_INVALID;
    }
    yard_actor_test_t *t = yard__xcalloc(1, sizeof *t);
    t->def = def;
    char err[512] = "";
    int rc = yaml_config ? s_config_from_text(yaml_config, &t->cfg, err, sizeof err) : 0;
    if (rc == 0) {
        rc = yard_actor_configure(def, t->cfg, 0, NULL, &t->opts, &t->options, err, sizeof err);
    }
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "actor test: bad config", YF_STR("actor", def->name),
                 YF_STR("error", err));
        s_free(t);
        return YARD_E_CONFIG;
    }
    const char *store = t->opts.store && *t->opts.store ? t->opts.store : "memory";
    rc = yard_store_open(store, &t->store);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "actor test: cannot open the store", YF_STR("store", store),
                 YF_STR("error", yard_err_name(rc)));
        s_free(t);
        return rc;
    }
    t->ctx = yard__ctx_new(def, 0, t->options, t->store, NULL);
    t->ctx->http_ca_file = t->opts.http_ca_file ? yard__xstrdup(t->opts.http_ca_file) : NULL;
    t->ctx->broker = t->opts.broker && *t->opts.broker ? t->opts.broker : getenv("YARD_BROKER");
    t->ctx->zmq_context = t->opts.zmq_context;
    yard_actor_env_t env = {.config = t->cfg};
    rc = yard__ctx_init(t->ctx, &env);
    if (rc != 0) {
        s_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

yard_request_t *
yard_actor_test_call(yard_actor_test_t *t, const char *op, const void *body, size_t size)
{
    yard_request_t *req = yard_request_new_test(t->def->name, op, body, size);
    req->ctx = t->ctx;
    yard__actor_call(t->def, req, t->ctx->state);
    return req;
}

void
yard_actor_test_advance(yard_actor_test_t *t, int64_t ms)
{
    yard__timers_advance(t->ctx, ms);
}

/* One turn of the sources: wait on their items up to wait_ms, then dispatch. */
static void
s_turn(yard_ctx_t *ctx, int64_t wait_ms)
{
    yard_wait_item_t items[YARD_WAIT_MAX];
    int64_t now = yard_loop_now_ms();
    int64_t wake = now + wait_ms;
    int n = yard__ctx_prepare(ctx, items, YARD_WAIT_MAX, &wake);
    yard_wait(items, n, wake <= now ? 0 : (long)(wake - now));
    yard__ctx_dispatch(ctx, items, yard_loop_now_ms());
}

int
yard_actor_test_run(yard_actor_test_t *t, int64_t max_ms, bool (*until)(void *arg), void *arg)
{
    int64_t deadline = yard_loop_now_ms() + (max_ms > 0 ? max_ms : 0);
    for (;;) {
        yard__timers_run(t->ctx, t->ctx->fake_now); /* e.g. a retry a completion started */
        if (until ? until(arg) : !yard__ctx_busy(t->ctx)) {
            return 0;
        }
        int64_t left = deadline - yard_loop_now_ms();
        if (left <= 0) {
            return YARD_E_TIMEOUT;
        }
        s_turn(t->ctx, left < S_POLL_MS ? left : S_POLL_MS);
    }
}

size_t
yard_actor_test_published(yard_actor_test_t *t, size_t i, const char **subject, const void **body,
                          size_t *size)
{
    const yard_ctx_t *ctx = t->ctx;
    if (i < ctx->n_events) {
        const yard__event_t *e = &ctx->events[i];
        if (subject) {
            *subject = e->subject;
        }
        if (body) {
            *body = e->body;
        }
        if (size) {
            *size = e->size;
        }
    }
    return ctx->n_events;
}

yard_ctx_t *
yard_actor_test_ctx(yard_actor_test_t *t)
{
    return t->ctx;
}

void
yard_actor_test_destroy(yard_actor_test_t **t_p)
{
    if (!t_p || !*t_p) {
        return;
    }
    yard_actor_test_t *t = *t_p;
    yard__ctx_drain(t->ctx);
    int64_t until = yard_loop_now_ms() + (t->opts.drain_ms ? t->opts.drain_ms : S_DEFAULT_DRAIN_MS);
    for (int64_t left; yard__ctx_busy(t->ctx) && (left = until - yard_loop_now_ms()) > 0;) {
        s_turn(t->ctx, left < S_POLL_MS ? left : S_POLL_MS);
    }
    yard__ctx_shutdown(t->ctx);
    yard__ctx_fini(t->ctx);
    s_free(t);
    *t_p = NULL;
}
