/* telegram: the bot that fronts the bus (issue 13). The descriptor, its options and its ops:
 *
 *   send     {chat_id, text, parse_mode?, reply_markup?} -> {sent: n} once every piece went
 *   notify   {text, parse_mode?}          -> {sent, failed} to the admin chats
 *   webhook  a Telegram update (the gateway's route for Telegram's webhook POSTs)
 *   status   {}                           -> {leader, mode, username, offset, ...}
 *
 * Everything that talks to Telegram for the bot as a whole (polling, webhook set-up, the "/"
 * menu, alert.> forwarding) runs on the one replica holding the leader lease (tg_poll.c);
 * every replica sends (tg_outbox.c) and serves ops. See tg_internal.h for the parts and the
 * store layout, README.md for the behaviour. */
#include "tg_internal.h"

#include "yard/bus.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const yard_option_t s_options[] = {
    {"token", YARD_OPT_STRING, NULL, offsetof(tg_opts_t, token),
     "the bot token from @BotFather (give it as token_file)", 0, 0,
     YARD_OPT_REQUIRED | YARD_OPT_SECRET},
    {"api_base", YARD_OPT_STRING, "https://api.telegram.org", offsetof(tg_opts_t, api_base),
     "the Bot API's base URL (a local Bot API server, or a test's fake)", 0, 0, 0},
    {"mode", YARD_OPT_STRING, "poll", offsetof(tg_opts_t, mode),
     "poll (getUpdates) or webhook (Telegram POSTs to webhook_url)", 0, 0, 0},
    {"poll_timeout", YARD_OPT_MS, "30s", offsetof(tg_opts_t, poll_timeout_ms),
     "how long one getUpdates long poll is held (whole seconds, at most 50 s)", 0, 50000, 0},
    {"lease", YARD_OPT_MS, "10s", offsetof(tg_opts_t, lease_ms),
     "the leader lease's TTL: how soon another replica takes over from a dead poller", 300, 600000,
     0},
    {"webhook_url", YARD_OPT_STRING, NULL, offsetof(tg_opts_t, webhook_url),
     "webhook mode: the public https:// URL of the gateway route to the webhook op", 0, 0, 0},
    {"webhook_secret", YARD_OPT_STRING, NULL, offsetof(tg_opts_t, webhook_secret),
     "webhook mode: the secret_token Telegram sends back (1..256 of A-Z a-z 0-9 _ -)", 0, 0,
     YARD_OPT_SECRET},
    {"webhook", YARD_OPT_NODE, NULL, 0,
     "webhook mode, as a map: {url, secret_token_file} (or webhook_url, webhook_secret)", 0, 0, 0},
    {"admin_chats", YARD_OPT_NODE, NULL, 0, "chat ids that notify and alert.> go to", 0, 0, 0},
    {"languages", YARD_OPT_NODE, NULL, 0, "the languages spoken (default: en, de)", 0, 0, 0},
    {"commands", YARD_OPT_NODE, NULL, 0,
     "the command registry: [{name, service, op, scope, help, ask}]", 0, 0, 0},
    {"conversation_timeout", YARD_OPT_MS, "5m", offsetof(tg_opts_t, conversation_timeout_ms),
     "how long a command's follow-up question waits for its answer", 1000, 86400000, 0},
    {"chat_interval", YARD_OPT_MS, "1050ms", offsetof(tg_opts_t, chat_interval_ms),
     "the least time between two messages to one chat (Telegram: 1/s; 5% for jitter)", 100, 60000,
     0},
    {"group_per_min", YARD_OPT_INT, "20", offsetof(tg_opts_t, group_per_min),
     "messages a minute to one group", 1, 1000, 0},
    {"global_per_s", YARD_OPT_INT, "30", offsetof(tg_opts_t, global_per_s),
     "messages a second for the whole bot, across replicas", 1, 1000, 0},
    {"send_attempts", YARD_OPT_INT, "5", offsetof(tg_opts_t, send_attempts),
     "tries per message on 5xx and transfer errors", 1, 20, 0},
    {"dedup_ttl", YARD_OPT_MS, "48h", offsetof(tg_opts_t, dedup_ttl_ms),
     "how long an update_id is remembered as handled (Telegram keeps updates 24 h)", 60000,
     604800000, 0},
    {"call_timeout", YARD_OPT_MS, "10s", offsetof(tg_opts_t, call_timeout_ms),
     "the deadline of the bus calls a command makes", 100, 120000, 0},
    {NULL},
};

/* --- init ---------------------------------------------------------------------------- */

static int
s_bad(const char *what)
{
    yard_log(YARD_LOG_ERROR, "bad telegram setting", YF_STR("error", what));
    return YARD_E_CONFIG;
}

/* "<digits>:<A-Z a-z 0-9 _ ->": the form @BotFather gives. The public part is the bot's id. */
static int
s_token(tg_state_t *st, const char *token)
{
    size_t digits = strspn(token, "0123456789");
    const char *rest = token + digits;
    if (digits == 0 || digits >= sizeof st->bot_id || *rest != ':' || !rest[1] ||
        strspn(rest + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
            strlen(rest + 1)) {
        return s_bad("'token' is not a bot token (<bot id>:<secret>, as @BotFather gives it)");
    }
    memcpy(st->bot_id, token, digits);
    st->bot_id[digits] = '\0';
    snprintf(st->prefix, sizeof st->prefix, "telegram:%s:", st->bot_id);
    return 0;
}

static int
s_check(const tg_state_t *st)
{
    const tg_opts_t *o = st->o;
    if (strcmp(o->mode, "poll") != 0 && strcmp(o->mode, "webhook") != 0) {
        return s_bad("'mode' must be poll or webhook");
    }
    if (strncmp(o->api_base, "http://", 7) != 0 && strncmp(o->api_base, "https://", 8) != 0) {
        return s_bad("'api_base' must be an http:// or https:// URL");
    }
    if (o->poll_timeout_ms % 1000 != 0) {
        return s_bad("'poll_timeout' must be whole seconds (getUpdates takes seconds)");
    }
    if (strcmp(o->mode, "webhook") != 0) {
        return 0;
    }
    if (strncmp(st->hook_url, "https://", 8) != 0) {
        return s_bad("webhook mode needs 'webhook: {url}', an https:// URL (Telegram's rule)");
    }
    size_t n = strlen(st->hook_secret);
    if (n < 1 || n > 256 ||
        strspn(st->hook_secret,
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != n) {
        return s_bad("webhook mode needs a secret token (webhook: {secret_token_file}) of 1 to "
                     "256 of A-Z a-z 0-9 _ -");
    }
    return 0;
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    tg_state_t *st = state;
    st->ctx = env->ctx;
    st->store = env->store;
    st->o = env->options;
    int rc = s_token(st, st->o->token);
    if (rc == 0) {
        rc = tg_config_load(st, env->config);
    }
    if (rc == 0) {
        rc = s_check(st);
    }
    if (rc != 0) {
        return rc;
    }
    tg_outbox_new(st);
    rc = tg_poll_start(st);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "could not keep the leader lease", YF_INT("error", rc));
        tg_outbox_destroy(st);
    }
    return rc;
}

static void
s_fini(void *state)
{
    tg_state_t *st = state;
    tg_poll_free(st);
    tg_outbox_destroy(st);
    tg_config_free(st);
}

/* --- send ---------------------------------------------------------------------------- */

static void
s_send_done(tg_state_t *st, int err, const char *why, void *arg)
{
    (void)st;
    yard_deferred_t *d = arg;
    if (err == 0) {
        yard_mpw_t *w = yard_mpw_new();
        yard_mpw_map(w);
        yard_mpw_kbool(w, "sent", true);
        yard_mpw_end(w);
        yard_deferred_reply_mpw(&d, &w);
    } else if (err == YARD_E_SERVICE) {
        yard_deferred_fail(&d, YARD_E_SERVICE, "TELEGRAM", why);
    } else {
        yard_deferred_fail(&d, err, NULL, why);
    }
}

/* The request's reply_markup (a map) as msgpack bytes in *out (caller frees), or none. */
static int
s_markup(yard_request_t *req, void **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    if (!yard_req_has(req, "reply_markup")) {
        return 0;
    }
    const msgpack_object *m = NULL;
    int rc = yard_req_map(req, "reply_markup", &m);
    if (rc != 0) {
        return rc;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, *m);
    *out = sb.data; /* the sbuffer's memory, ours now */
    *size = sb.size;
    return 0;
}

static int
s_op_send(yard_request_t *req, void *state)
{
    tg_state_t *st = state;
    int64_t chat = 0;
    const char *text, *mode;
    int rc;
    if ((rc = yard_req_int(req, "chat_id", &chat)) ||
        (rc = yard_req_str_max(req, "text", TG_TEXT_MAX, &text)) ||
        (rc = yard_req_str_or(req, "parse_mode", NULL, &mode))) {
        return rc;
    }
    if (chat == 0) {
        return yard_req_fail_field(req, "chat_id", "must not be 0");
    }
    void *markup = NULL;
    size_t msize = 0;
    if ((rc = s_markup(req, &markup, &msize)) != 0) {
        return rc;
    }
    yard_deferred_t *d = yard_request_defer(req);
    char err[128];
    rc = tg_outbox_send(st, chat, text, mode, markup, msize, s_send_done, d, err, sizeof err);
    free(markup);
    if (rc != 0) {
        yard_deferred_fail(&d, rc, NULL, err);
    }
    return 0;
}

/* --- notify -------------------------------------------------------------------------- */

typedef struct {
    yard_deferred_t *d;
    size_t left, sent, failed;
    char why[160];
} s_notify_t;

static void
s_notify_done(tg_state_t *st, int err, const char *why, void *arg)
{
    (void)st;
    s_notify_t *n = arg;
    if (err == 0) {
        n->sent++;
    } else {
        n->failed++;
        snprintf(n->why, sizeof n->why, "%s", why ? why : "");
    }
    if (--n->left > 0) {
        return;
    }
    if (n->sent == 0) {
        yard_deferred_fail(&n->d, YARD_E_SERVICE, "TELEGRAM", n->why);
    } else {
        yard_mpw_t *w = yard_mpw_new();
        yard_mpw_map(w);
        yard_mpw_kuint(w, "sent", n->sent);
        yard_mpw_kuint(w, "failed", n->failed);
        yard_mpw_end(w);
        yard_deferred_reply_mpw(&n->d, &w);
    }
    free(n);
}

static int
s_op_notify(yard_request_t *req, void *state)
{
    tg_state_t *st = state;
    const char *text, *mode;
    int rc;
    if ((rc = yard_req_str_max(req, "text", TG_TEXT_MAX, &text)) ||
        (rc = yard_req_str_or(req, "parse_mode", NULL, &mode))) {
        return rc;
    }
    if (st->n_admins == 0) {
        return yard_request_fail(req, YARD_E_SERVICE, "NOT_CONFIGURED",
                                 "no admin_chats are configured");
    }
    s_notify_t *n = calloc(1, sizeof *n);
    if (!n) {
        abort();
    }
    n->d = yard_request_defer(req);
    n->left = st->n_admins;
    for (size_t i = 0; i < st->n_admins; i++) {
        char err[128];
        rc = tg_outbox_send(st, st->admins[i], text, mode, NULL, 0, s_notify_done, n, err,
                            sizeof err);
        if (rc != 0) {
            s_notify_done(st, rc, err, n); /* counts it as failed; may complete */
        }
    }
    return 0;
}

/* --- webhook ------------------------------------------------------------------------- */

/* Equal in time that depends only on the lengths, so a wrong guess learns nothing from it. */
static bool
s_secret_eq(const char *got, const char *want)
{
    size_t a = strlen(got), b = strlen(want);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++) {
        diff |= (unsigned char)(want[i] ^ (i < a ? got[i] : 0));
    }
    return diff == 0;
}

typedef struct {
    tg_state_t *st;
    int64_t id;
} s_hooked_t;

static bool
s_hook_inflight(const tg_state_t *st, int64_t id)
{
    for (size_t i = 0; i < st->n_hook_inflight; i++) {
        if (st->hook_inflight[i] == id) {
            return true;
        }
    }
    return false;
}

static void
s_hook_inflight_end(tg_state_t *st, int64_t id)
{
    for (size_t i = 0; i < st->n_hook_inflight; i++) {
        if (st->hook_inflight[i] == id) {
            st->hook_inflight[i] = st->hook_inflight[--st->n_hook_inflight];
            return;
        }
    }
}

/* The update's events reached the broker: its claim is done. On failure it stays pending, and
 * a retried delivery of it is handled again. */
static void
s_hook_flushed(yard_ctx_t *ctx, int status, void *arg)
{
    (void)ctx;
    s_hooked_t *h = arg;
    s_hook_inflight_end(h->st, h->id);
    if (status == 0) {
        tg_update_done(h->st, h->id);
    } else if (status != YARD_E_SHUTDOWN) {
        yard_log(YARD_LOG_WARN, "bus flush failed: webhook update left pending",
                 YF_INT("update_id", h->id), YF_INT("error", status));
    }
    free(h);
}

static void
s_hook_flush(tg_state_t *st, int64_t id)
{
    s_hooked_t *h = malloc(sizeof *h);
    if (!h) {
        abort();
    }
    *h = (s_hooked_t){.st = st, .id = id};
    int rc = yard_bus_flush(st->ctx, st->o->call_timeout_ms, s_hook_flushed, h);
    if (rc == YARD_E_CONFIG) {
        tg_update_done(st, id); /* no bus client (no broker endpoint): nothing to wait for */
    }
    if (rc != 0) {
        free(h);
        return;
    }
    if (st->n_hook_inflight < TG_HOOK_INFLIGHT_MAX) {
        st->hook_inflight[st->n_hook_inflight++] = id;
    }
}

static int
s_op_webhook(yard_request_t *req, void *state)
{
    tg_state_t *st = state;
    if (strcmp(st->o->mode, "webhook") != 0) {
        return yard_request_fail(req, YARD_E_FORBIDDEN, NULL, "the bot is in poll mode");
    }
    const char *got = yard_request_header(req, "http.header.x-telegram-bot-api-secret-token");
    if (!got || !s_secret_eq(got, st->hook_secret)) {
        yard_log(YARD_LOG_WARN, "webhook call without the right secret token: refused");
        return yard_request_fail(req, YARD_E_UNAUTHENTICATED, NULL, "wrong secret token");
    }
    size_t size = 0;
    const void *body = yard_request_body(req, &size);
    void *copy = size ? malloc(size) : NULL;
    if (size && !copy) {
        abort();
    }
    if (size) {
        memcpy(copy, body, size);
    }
    yard_request_reply(req, NULL, 0); /* Telegram gets its 200 at once; the work follows */
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    int64_t id = 0;
    bool decoded = size && yard_mp_decode(copy, size, &zone, &obj, NULL, 0) == 0;
    if (!decoded) {
        yard_log(YARD_LOG_WARN, "webhook body is not an update: ignored");
    } else if (yard_mp_get_int(&obj, "update_id", &id, NULL, 0) == 0 && s_hook_inflight(st, id)) {
        st->duplicates++; /* delivered again while its first delivery is being handled */
        yard_log(YARD_LOG_DEBUG, "webhook update already in progress: skipped",
                 YF_INT("update_id", id));
    } else {
        int rc = tg_update_handle(st, &obj, &id);
        if (rc < 0) {
            yard_log(YARD_LOG_WARN, "store unreachable: webhook update dropped");
        } else if (rc == 1) {
            s_hook_flush(st, id);
        }
    }
    msgpack_zone_destroy(&zone);
    free(copy);
    return 0;
}

/* --- status -------------------------------------------------------------------------- */

static int
s_op_status(yard_request_t *req, void *state)
{
    tg_state_t *st = state;
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "bot_id", st->bot_id);
    yard_mpw_kstr(w, "mode", st->o->mode);
    yard_mpw_kbool(w, "leader", st->leader);
    yard_mpw_kstr(w, "username", st->username);
    yard_mpw_kint(w, "offset", st->offset);
    yard_mpw_kuint(w, "polls", st->polls);
    yard_mpw_kuint(w, "updates", st->updates);
    yard_mpw_kuint(w, "duplicates", st->duplicates);
    yard_mpw_kuint(w, "rehandled", st->rehandled);
    yard_mpw_kuint(w, "queued", tg_outbox_pending(st));
    yard_mpw_kuint(w, "commands", st->n_cmds);
    yard_mpw_kuint(w, "admin_chats", st->n_admins);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

static const yard_handler_def_t s_handlers[] = {
    {"send", s_op_send, "{chat_id, text, parse_mode?, reply_markup?} -> {sent}"},
    {"notify", s_op_notify, "{text, parse_mode?} -> {sent, failed} (the admin chats)"},
    {"webhook", s_op_webhook, "a Telegram update, from the gateway's webhook route"},
    {"status", s_op_status, "{} -> {leader, mode, username, offset, polls, updates, ...}"},
    {NULL, NULL, NULL},
};

/* An update carries users' messages and, after /start, an invitation code: a tap shows that a
 * webhook call happened, its size and outcome, never the update. (Its secret token travels as
 * a bus header, which a tap never copies.) */
static const char *const s_sensitive[] = {"webhook", NULL};

const yard_actor_def_t yard_actor_telegram = {
    .name = "telegram",
    .description = "Telegram bot: commands to bus calls, invitations, alerts, rate-limited sends",
    .handlers = s_handlers,
    .options = s_options,
    .options_size = sizeof(tg_opts_t),
    .state_size = sizeof(tg_state_t),
    .credit = 64,
    .stateful = true,
    .sensitive = s_sensitive,
    .init = s_init,
    .fini = s_fini,
};
