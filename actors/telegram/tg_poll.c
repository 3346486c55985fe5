/* The leader (tg_internal.h): one replica per bot token, across every process on the store,
 * holds the lease "telegram:<bot id>:leader" and talks to Telegram for the whole bot:
 *
 *   1. getMe, for the username that "/cmd@username" must name;
 *   2. poll mode: deleteWebhook when the store says a webhook was set (switching back to
 *      polling), webhook mode: setWebhook with the secret_token;
 *   3. setMyCommands for each language, from the same registry /help reads;
 *   4. poll mode: getUpdates in a loop, the offset read from and written to the store;
 *   5. forwards alert.> to the admin chats (subscribed while leader, so once per bot).
 *
 * The offset moves past an update only after tg_update_handle() claimed and handled it and a
 * bus flush said its events and calls reached the broker (the claim then marked done): a
 * replica killed before that leaves the offset behind, and the next leader gets those updates
 * again: done ones are skipped by their claims (upd:<id>), the one left pending is handled
 * again (at-least-once for that window, never lost). A lost lease stops the loop before the next
 * update; a getUpdates answered after the lease was lost is dropped unprocessed (the next leader
 * fetches it again).
 *
 * Every call's answer carries the leadership term it was made in; one from an older term is
 * ignored. Errors back off: 409 (another poller, or a webhook) logged once, 401 once, 429 as
 * retry_after says, anything else exponentially from 1 s to 30 s. */
#include "tg_internal.h"

#include "yard/bus.h"
#include "yard/error.h"
#include "yard/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const tg_allowed_updates[] = {"message", "edited_message", "callback_query",
                                          "my_chat_member", NULL};

#define S_BACKOFF_MIN 1000u
#define S_BACKOFF_MAX 30000u

typedef enum { S_GETME, S_HOOK, S_COMMANDS, S_POLL } s_step_t;

typedef struct {
    tg_state_t *st;
    uint64_t term;
    s_step_t step;
} s_call_t;

static void s_next(tg_state_t *st, s_step_t step, uint32_t delay_ms);

static bool
s_current(const s_call_t *c)
{
    tg_state_t *st = c->st;
    return st->leader && c->term == st->term && yard_lease_held(st->lease, yard_loop_now_ms());
}

static void
s_backoff(tg_state_t *st, s_step_t step, uint32_t at_least_ms)
{
    st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : S_BACKOFF_MIN;
    if (st->backoff_ms > S_BACKOFF_MAX) {
        st->backoff_ms = S_BACKOFF_MAX;
    }
    s_next(st, step, at_least_ms > st->backoff_ms ? at_least_ms : st->backoff_ms);
}

/* Handles the answers every step shares: transfer errors, 401, 429. Returns true when res is
 * a success the step should read. */
static bool
s_answer_ok(tg_state_t *st, const char *method, const tg_api_res_t *res, s_step_t step)
{
    if (res->ok) {
        st->logged_401 = false;
        return true;
    }
    if (res->error == YARD_E_SHUTDOWN) {
        return false;
    }
    if (res->error_code == 401 || res->error_code == 404) {
        if (!st->logged_401) {
            yard_log(YARD_LOG_ERROR, "telegram refused the bot token (check token / api_base)",
                     YF_STR("method", method), YF_INT("status", res->error_code),
                     YF_STR("description", res->description));
            st->logged_401 = true;
        }
        s_next(st, step, 60000);
        return false;
    }
    if (res->error_code == 429 && res->retry_after > 0) {
        s_next(st, step, (uint32_t)(res->retry_after > 3600 ? 3600 : res->retry_after) * 1000u);
        return false;
    }
    if (res->error_code != 409) {
        yard_log(YARD_LOG_WARN, "telegram call failed", YF_STR("method", method),
                 YF_INT("status", res->error_code), YF_STR("description", res->description));
        s_backoff(st, step, 0);
    }
    return false;
}

/* --- 1. getMe ------------------------------------------------------------------------ */

static void
s_getme_done(const yard_http_resp_t *resp, void *arg)
{
    s_call_t *c = arg;
    tg_state_t *st = c->st;
    tg_api_res_t res;
    tg_api_res_read(resp, &res);
    if (s_current(c) && s_answer_ok(st, "getMe", &res, S_GETME)) {
        char name[64] = "";
        yard_mp_get_strbuf(&res.result, "username", name, sizeof name, NULL, 0);
        snprintf(st->username, sizeof st->username, "%s", name);
        s_next(st, S_HOOK, 0);
    }
    tg_api_res_free(&res);
    free(c);
}

/* --- 2. webhook on or off ------------------------------------------------------------ */

static void
s_hook_done(const yard_http_resp_t *resp, void *arg)
{
    s_call_t *c = arg;
    tg_state_t *st = c->st;
    tg_api_res_t res;
    tg_api_res_read(resp, &res);
    if (s_current(c) && s_answer_ok(st, "setWebhook/deleteWebhook", &res, S_HOOK)) {
        const char *mode = strcmp(st->o->mode, "webhook") == 0 ? "webhook" : "poll";
        char key[96];
        snprintf(key, sizeof key, "%smode", st->prefix);
        yard_store_set(st->store, key, mode, strlen(mode), 0);
        yard_log(YARD_LOG_INFO, mode[0] == 'w' ? "webhook set" : "webhook deleted: polling");
        s_next(st, S_COMMANDS, 0);
    }
    tg_api_res_free(&res);
    free(c);
}

static void s_call(tg_state_t *st, s_step_t step, const char *method, yard_mpw_t *w,
                   uint32_t timeout_ms, yard_http_done_fn *cb);

static void
s_hook(tg_state_t *st)
{
    bool webhook = strcmp(st->o->mode, "webhook") == 0;
    if (!webhook) {
        char key[96], *val = NULL;
        size_t len = 0;
        snprintf(key, sizeof key, "%smode", st->prefix);
        int rc = yard_store_get(st->store, key, &val, &len);
        bool polling = rc == 0 && strcmp(val, "poll") == 0;
        free(val);
        if (polling) {
            s_next(st, S_COMMANDS, 0);
            return;
        }
        /* never set up here, or set to webhook: delete it before the first getUpdates */
        s_call(st, S_HOOK, "deleteWebhook", NULL, 15000, s_hook_done);
        return;
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "url", st->hook_url);
    yard_mpw_kstr(w, "secret_token", st->hook_secret);
    yard_mpw_key(w, "allowed_updates");
    yard_mpw_array(w);
    for (size_t i = 0; tg_allowed_updates[i]; i++) {
        yard_mpw_str(w, tg_allowed_updates[i]);
    }
    yard_mpw_end(w);
    yard_mpw_end(w);
    s_call(st, S_HOOK, "setWebhook", w, 15000, s_hook_done);
}

/* --- 3. setMyCommands ---------------------------------------------------------------- */

static void
s_commands_done(const yard_http_resp_t *resp, void *arg)
{
    s_call_t *c = arg;
    tg_api_res_t res;
    tg_api_res_read(resp, &res);
    if (!res.ok && res.error != YARD_E_SHUTDOWN) {
        yard_log(YARD_LOG_WARN, "setMyCommands failed", YF_INT("status", res.error_code),
                 YF_STR("description", res.description));
    }
    tg_api_res_free(&res);
    free(c);
}

/* A command description as setMyCommands takes it: 1..256 UTF-16 units, cut with an
 * ellipsis when longer. Returns help itself, or buf holding the shortened copy. */
static const char *
s_desc(const char *help, char *buf, size_t cap)
{
    size_t len = strlen(help);
    if (tg_utf16_len(help, len) <= 256) {
        return help;
    }
    size_t n = 0, units = 0;
    while (n < len && n + 4 < cap) {
        unsigned char b = (unsigned char)help[n];
        size_t step = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        size_t u = b >= 0xF0 ? 2 : 1;
        if (units + u > 255 || n + step > len) {
            break;
        }
        units += u;
        n += step;
    }
    memcpy(buf, help, n);
    memcpy(buf + n, "\xe2\x80\xa6", 4); /* an ellipsis, one unit */
    return buf;
}

/* The "/" menu for lang (NULL: the default list, in English), from the same registry and
 * catalogue /help reads. */
static yard_mpw_t *
s_menu(tg_state_t *st, const char *lang)
{
    static const struct {
        const char *name;
        tg_msg_t help;
    } builtins[] = {{"start", TG_MSG_HELP_START},
                    {"help", TG_MSG_HELP_HELP},
                    {"lang", TG_MSG_HELP_LANG},
                    {"cancel", TG_MSG_HELP_CANCEL},
                    {"whoami", TG_MSG_HELP_WHOAMI}};
    const char *l = lang ? lang : "en";
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_key(w, "commands");
    yard_mpw_array(w);
    for (size_t i = 0; i < st->n_cmds; i++) {
        const char *help = tg_config_text(st, st->cmds[i].help_lang, l);
        yard_mpw_map(w);
        yard_mpw_kstr(w, "command", st->cmds[i].name);
        char buf[1100];
        yard_mpw_kstr(w, "description",
                      s_desc(help ? help : tg_msg(l, TG_MSG_NO_HELP), buf, sizeof buf));
        yard_mpw_end(w);
    }
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        yard_mpw_map(w);
        yard_mpw_kstr(w, "command", builtins[i].name);
        yard_mpw_kstr(w, "description", tg_msg(l, builtins[i].help));
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    if (lang) {
        yard_mpw_kstr(w, "language_code", lang);
    }
    yard_mpw_end(w);
    return w;
}

static void
s_commands(tg_state_t *st)
{
    s_call(st, S_COMMANDS, "setMyCommands", s_menu(st, NULL), 15000, s_commands_done);
    for (size_t i = 0; i < st->n_langs; i++) {
        s_call(st, S_COMMANDS, "setMyCommands", s_menu(st, st->langs[i]), 15000, s_commands_done);
    }
    st->setup_done = true;
    if (strcmp(st->o->mode, "webhook") != 0) {
        s_next(st, S_POLL, 0);
    }
}

/* --- 4. getUpdates ------------------------------------------------------------------- */

static void
s_commit(tg_state_t *st, int64_t offset)
{
    char key[96], val[32];
    snprintf(key, sizeof key, "%soffset", st->prefix);
    int n = snprintf(val, sizeof val, "%" PRId64, offset);
    if (yard_store_set(st->store, key, val, (size_t)n, 0) == 0) {
        st->offset = offset;
    }
}

/* A getUpdates batch, handled one update at a time in update_id order: claim and handle it
 * (tg_update_handle), wait for its command's bus calls, flush the bus client, mark the claim
 * done and commit the offset past it; then the next. So at most one update is pending at a
 * time: a leader killed mid-way leaves that one (and its events, maybe half sent) to be
 * handled again by the next leader, and none lost. The batch stops at a store fault, a failed
 * flush or a lost lease; the next poll fetches the rest again. */
typedef struct {
    tg_state_t *st;
    uint64_t term;
    tg_api_res_t res; /* the batch's answer, alive until the batch ends */
    uint32_t i;       /* the update being handled */
    int64_t id;
    bool waiting; /* for the update's commands */
} s_batch_t;

typedef enum { S_END_NEXT, S_END_BACKOFF, S_END_STOP } s_end_t;

static void
s_batch_end(s_batch_t *b, s_end_t how)
{
    tg_state_t *st = b->st;
    bool current = b->term == st->term && st->leader;
    st->batch = NULL;
    tg_api_res_free(&b->res);
    free(b);
    bool due = st->poll_after_batch && st->leader;
    st->poll_after_batch = false;
    if (current && how == S_END_NEXT) {
        s_next(st, S_POLL, 0);
    } else if (current && how == S_END_BACKOFF) {
        s_backoff(st, S_POLL, 0);
    } else if (due) {
        s_next(st, S_POLL, 0); /* a newer term's poll waited for this batch to end */
    }
}

static bool
s_batch_current(const s_batch_t *b)
{
    const tg_state_t *st = b->st;
    return st->leader && b->term == st->term && yard_lease_held(st->lease, yard_loop_now_ms());
}

static void s_batch_step(s_batch_t *b);

static void
s_batch_flushed(yard_ctx_t *ctx, int status, void *arg)
{
    (void)ctx;
    s_batch_t *b = arg;
    tg_state_t *st = b->st;
    if (status != 0) {
        if (status != YARD_E_SHUTDOWN) {
            yard_log(YARD_LOG_WARN, "bus flush failed: update left pending for the next poll",
                     YF_INT("update_id", b->id), YF_INT("error", status));
        }
        s_batch_end(b, status == YARD_E_SHUTDOWN ? S_END_STOP : S_END_BACKOFF);
        return;
    }
    if (tg_update_done(st, b->id) != 0) {
        s_batch_end(b, S_END_BACKOFF); /* still pending: handled again later */
        return;
    }
    if (b->term == st->term) {
        s_commit(st, b->id + 1);
    }
    b->i++;
    s_batch_step(b);
}

static void
s_batch_flush(s_batch_t *b)
{
    b->waiting = false;
    int rc = yard_bus_flush(b->st->ctx, b->st->o->call_timeout_ms, s_batch_flushed, b);
    if (rc == YARD_E_CONFIG) {
        s_batch_flushed(b->st->ctx, 0, b); /* no bus client (no broker): nothing to wait for */
    } else if (rc != 0) {
        s_batch_end(b, rc == YARD_E_SHUTDOWN ? S_END_STOP : S_END_BACKOFF);
    }
}

void
tg_poll_commands_idle(tg_state_t *st)
{
    s_batch_t *b = st->batch;
    if (b && b->waiting) {
        s_batch_flush(b);
    }
}

void
tg_poll_free(tg_state_t *st)
{
    s_batch_t *b = st->batch;
    if (b) {
        st->batch = NULL;
        tg_api_res_free(&b->res);
        free(b);
    }
}

static void
s_batch_step(s_batch_t *b)
{
    tg_state_t *st = b->st;
    const msgpack_object *arr = &b->res.result;
    for (; b->i < arr->via.array.size; b->i++) {
        const msgpack_object *u = &arr->via.array.ptr[b->i];
        int64_t id = 0;
        if (yard_mp_get_int(u, "update_id", &id, NULL, 0) != 0) {
            yard_log(YARD_LOG_WARN, "an update without update_id: skipped");
            continue;
        }
        if (id < st->offset) {
            continue; /* confirmed before */
        }
        if (!s_batch_current(b)) {
            s_batch_end(b, S_END_NEXT); /* polls again only in the same term, as before */
            return;
        }
        int rc = tg_update_handle(st, u, &id);
        if (rc < 0) {
            yard_log(YARD_LOG_WARN, "store unreachable: update left for the next poll",
                     YF_INT("update_id", id));
            s_batch_end(b, S_END_BACKOFF);
            return;
        }
        if (rc == 0) {
            st->duplicates++;
            s_commit(st, id + 1);
            continue;
        }
        st->updates++;
        b->id = id;
        b->waiting = true;
        if (st->cmds_inflight == 0) {
            s_batch_flush(b);
        } /* else tg_poll_commands_idle() flushes when the command's calls answered */
        return;
    }
    s_batch_end(b, S_END_NEXT);
}

static void
s_poll_done(const yard_http_resp_t *resp, void *arg)
{
    s_call_t *c = arg;
    tg_state_t *st = c->st;
    s_batch_t *b = calloc(1, sizeof *b);
    if (!b) {
        abort();
    }
    b->st = st;
    b->term = c->term;
    tg_api_res_read(resp, &b->res);
    const tg_api_res_t *res = &b->res;
    st->poll_busy = false;
    if (!s_current(c)) {
        /* leadership ended meanwhile: whatever came is the next leader's to fetch */
    } else if (res->ok && res->result.type == MSGPACK_OBJECT_ARRAY) {
        st->logged_409 = false;
        st->backoff_ms = 0;
        st->polls++;
        st->batch = b;
        b = NULL;
        s_batch_step(st->batch);
    } else if (res->error_code == 409 && strstr(res->description, "webhook")) {
        yard_log(YARD_LOG_WARN, "a webhook is set: deleting it before polling");
        char key[96];
        snprintf(key, sizeof key, "%smode", st->prefix);
        yard_store_del(st->store, key);
        s_next(st, S_HOOK, 0);
    } else if (res->error_code == 409) {
        if (!st->logged_409) {
            yard_log(YARD_LOG_WARN,
                     "another getUpdates uses this bot token (a second deployment "
                     "or a stale poller): backing off",
                     YF_STR("description", res->description));
            st->logged_409 = true;
        }
        s_backoff(st, S_POLL, st->o->lease_ms / 2);
    } else if (s_answer_ok(st, "getUpdates", res, S_POLL)) {
        s_backoff(st, S_POLL, 0); /* ok but no array: not the API we know */
    }
    if (b) {
        tg_api_res_free(&b->res);
        free(b);
    }
    free(c);
}

static void
s_poll(tg_state_t *st)
{
    if (st->poll_busy) {
        return;
    }
    if (st->batch) {
        st->poll_after_batch = true; /* an older term's batch is still ending */
        return;
    }
    char key[96], *val = NULL;
    size_t len = 0;
    snprintf(key, sizeof key, "%soffset", st->prefix);
    int rc = yard_store_get(st->store, key, &val, &len);
    if (rc == 0) {
        st->offset = strtoll(val, NULL, 10);
    } else if (rc != YARD_E_NOT_FOUND) {
        free(val);
        s_backoff(st, S_POLL, 0);
        return;
    }
    free(val);
    uint32_t secs = st->o->poll_timeout_ms / 1000;
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    if (st->offset > 0) {
        yard_mpw_kint(w, "offset", st->offset);
    }
    yard_mpw_kint(w, "limit", 100);
    yard_mpw_kint(w, "timeout", secs);
    yard_mpw_key(w, "allowed_updates");
    yard_mpw_array(w);
    for (size_t i = 0; tg_allowed_updates[i]; i++) {
        yard_mpw_str(w, tg_allowed_updates[i]);
    }
    yard_mpw_end(w);
    yard_mpw_end(w);
    st->poll_busy = true;
    /* the HTTP timeout is above the server's hold time, so a quiet poll ends by the server */
    s_call(st, S_POLL, "getUpdates", w, st->o->poll_timeout_ms + 15000, s_poll_done);
}

/* --- the steps ----------------------------------------------------------------------- */

static void
s_call(tg_state_t *st, s_step_t step, const char *method, yard_mpw_t *w, uint32_t timeout_ms,
       yard_http_done_fn *cb)
{
    const void *body = NULL;
    size_t size = 0;
    if (w && yard_mpw_finish(w, &body, &size) != 0) {
        yard_log(YARD_LOG_ERROR, "could not build a Bot API request", YF_STR("method", method));
        yard_mpw_destroy(&w);
        return;
    }
    s_call_t *c = calloc(1, sizeof *c);
    if (!c) {
        abort();
    }
    c->st = st;
    c->term = st->term;
    c->step = step;
    int rc = tg_api_call(st, method, body, size, timeout_ms, cb, c);
    yard_mpw_destroy(&w);
    if (rc != 0) {
        free(c);
        if (step == S_POLL) {
            st->poll_busy = false;
        }
        if (rc != YARD_E_SHUTDOWN) {
            s_backoff(st, step, 0);
        }
    }
}

static void
s_run(yard_ctx_t *ctx, void *arg)
{
    (void)ctx;
    tg_state_t *st = arg;
    st->poll_timer = NULL;
    if (!st->leader) {
        return;
    }
    switch ((s_step_t)st->next_step) {
    case S_GETME:
        s_call(st, S_GETME, "getMe", NULL, 15000, s_getme_done);
        break;
    case S_HOOK:
        s_hook(st);
        break;
    case S_COMMANDS:
        s_commands(st);
        break;
    case S_POLL:
        s_poll(st);
        break;
    }
}

/* Runs step after delay_ms (one pending step at a time: a later call replaces it). */
static void
s_next(tg_state_t *st, s_step_t step, uint32_t delay_ms)
{
    if (!st->leader) {
        return;
    }
    yard_timer_cancel(&st->poll_timer);
    st->next_step = (int)step;
    st->poll_timer = yard_timer_at(st->ctx, yard_ctx_wall_ms(st->ctx) + delay_ms, s_run, st);
}

/* --- 5. alerts ----------------------------------------------------------------------- */

static void
s_alert(yard_ctx_t *ctx, const yard_msg_t *msg, void *arg)
{
    (void)ctx;
    tg_state_t *st = arg;
    if (!st->leader || st->n_admins == 0) {
        return;
    }
    size_t size = 0;
    const void *body = yard_msg_body(msg, &size);
    char *rendered = size ? tg_render(body, size, "en") : NULL;
    const char *subject = yard_msg_subject(msg);
    size_t n = strlen(subject ? subject : "") + (rendered ? strlen(rendered) : 0) + 16;
    char *text = malloc(n);
    if (!text) {
        abort();
    }
    snprintf(text, n, "\u26a0 %s%s%s", subject ? subject : "alert", rendered ? "\n" : "",
             rendered ? rendered : "");
    for (size_t i = 0; i < st->n_admins; i++) {
        tg_outbox_say(st, st->admins[i], text);
    }
    free(text);
    free(rendered);
}

/* --- the lease ----------------------------------------------------------------------- */

static void
s_lease(yard_ctx_t *ctx, yard_lease_t *lease, bool held, void *arg)
{
    (void)lease;
    tg_state_t *st = arg;
    st->term++;
    st->leader = held;
    st->poll_busy = false; /* a poll in flight belongs to the old term: its answer is dropped */
    st->backoff_ms = 0;
    yard_timer_cancel(&st->poll_timer);
    yard_log(YARD_LOG_INFO,
             held ? "leader: talking to Telegram for this bot" : "no longer the leader",
             YF_STR("bot", st->bot_id), YF_INT("replica", yard_ctx_replica(ctx)));
    if (held) {
        if (!st->subscribed && st->n_admins > 0) {
            int rc = yard_bus_subscribe(ctx, "alert.>", s_alert, st);
            st->subscribed = rc == 0;
            if (rc != 0) {
                yard_log(YARD_LOG_WARN, "could not subscribe to alert.>", YF_INT("error", rc));
            }
        }
        s_next(st, S_GETME, 0);
    } else if (st->subscribed) {
        yard_bus_unsubscribe(ctx, "alert.>");
        st->subscribed = false;
    }
}

int
tg_poll_start(tg_state_t *st)
{
    char name[96];
    snprintf(name, sizeof name, "%sleader", st->prefix);
    return yard_ctx_lease(st->ctx, name, st->o->lease_ms, s_lease, st, &st->lease);
}
