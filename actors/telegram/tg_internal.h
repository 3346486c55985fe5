/* The telegram actor's parts, shared between its files (not a public API).
 *
 *   telegram.c   descriptor, options, init/fini, the ops (send, notify, webhook, status)
 *   tg_config.c  the structured settings: command registry, admin chats, languages
 *   tg_api.c     Bot API calls: building requests, reading {ok, result | error_code, ...}
 *   tg_poll.c    the leader (a lease): getMe, deleteWebhook/setWebhook, setMyCommands,
 *                long polling with the offset in the store, alert.> forwarding
 *   tg_update.c  one update: de-duplication by update_id, events, commands, conversations
 *   tg_command.c built-ins and registry commands: scopes through auth, bus calls, replies
 *   tg_outbox.c  sending: splitting, token buckets shared through the store, 429, migration
 *   tg_text.c    escaping and splitting;  tg_i18n.c  message catalogues
 *
 * Store layout (every key under "telegram:<bot id>:", the bot id being the token's public
 * part before ':'; never the token):
 *   offset                the next getUpdates offset (decimal)
 *   upd:<update_id>       the update's claim (dedup_ttl): "p:<lease token>" while the replica
 *                         with that token handles it, "d" once its events and bus calls
 *                         reached the broker (tg_update.c)
 *   mode                  "poll" or "webhook": what the leader last set up with Telegram
 *   lang:<user id>        the user's /lang choice
 *   conv:<chat>:<user>    an open conversation {cmd, exp} (msgpack)
 *   hold:<chat>           a 429's retry_after for that chat, shared by replicas (TTL)
 *   moved:<chat>          the supergroup a group migrated to
 *   tb:chat:<id>, tb:group:<id>, tb:all   token buckets (yard_store_take_token) */
#ifndef TG_INTERNAL_H
#define TG_INTERNAL_H

#include "tg_i18n.h"
#include "tg_text.h"
#include "yard/actor.h"
#include "yard/http.h"
#include "yard/lease.h"
#include "yard/mp.h"
#include "yard/timer.h"

#include <stdbool.h>
#include <stdint.h>

#define TG_CMD_MAX      64    /* registry entries */
#define TG_NAME_MAX     32    /* a command name (the API's limit) */
#define TG_ADMIN_MAX    16    /* admin chats */
#define TG_LANG_MAX     8     /* configured languages */
#define TG_ARGS_MAX     1024  /* bytes of a command's arguments */
#define TG_TEXT_MAX     32768 /* bytes of one send's text (split into at most 8+ messages) */
#define TG_OUTBOX_MAX   1024  /* messages queued per replica */
#define TG_TOKEN_SUFFIX "{secret}"

#define TG_HOOK_INFLIGHT_MAX 64 /* webhook updates between handling and flush */

typedef struct {
    char *token;    /* secret */
    char *api_base; /* "https://api.telegram.org" */
    char *mode;     /* "poll" or "webhook" */
    uint32_t poll_timeout_ms;
    uint32_t lease_ms;
    char *webhook_url;
    char *webhook_secret; /* secret */
    uint32_t conversation_timeout_ms;
    uint32_t chat_interval_ms; /* per-chat spacing (1/s plus a margin for jitter) */
    int64_t group_per_min;
    int64_t global_per_s;
    int64_t send_attempts;
    uint32_t dedup_ttl_ms;
    uint32_t call_timeout_ms; /* bus calls a command makes */
} tg_opts_t;

/* One registry command: `/name args` calls service/op after checking scope through auth. */
typedef struct {
    char name[TG_NAME_MAX + 1];
    char *service;
    char *op;
    char *scope;                        /* NULL: any linked user */
    const char *help_lang[TG_LANG_MAX]; /* borrowed from the config; NULL: none */
    const char *ask_lang[TG_LANG_MAX];  /* a follow-up question asked when there are no args */
} tg_cmd_t;

typedef struct tg_outbox tg_outbox_t;

typedef struct {
    yard_ctx_t *ctx;
    yard_store_t *store;
    const tg_opts_t *o;
    char bot_id[32];
    char prefix[48]; /* "telegram:<bot id>:" */
    char username[64];
    /* webhook mode: webhook_url / webhook_secret, or the webhook: {url, secret_token_file}
     * map of the config form (tg_config.c) */
    char hook_url[512];
    char hook_secret[260];
    /* the structured settings (tg_config.c) */
    tg_cmd_t cmds[TG_CMD_MAX];
    size_t n_cmds;
    int64_t admins[TG_ADMIN_MAX];
    size_t n_admins;
    char langs[TG_LANG_MAX][8];
    size_t n_langs;
    /* the leader (tg_poll.c) */
    yard_lease_t *lease;
    bool leader;
    bool setup_done;
    bool poll_busy;
    bool subscribed;
    bool logged_409;
    bool logged_401;
    uint32_t backoff_ms;
    uint64_t term; /* leadership terms: an answer from an older one is ignored */
    int next_step; /* the step the poll timer runs */
    int64_t offset;
    yard_timer_t *poll_timer;
    uint64_t polls, updates, duplicates, rehandled;
    /* Webhook updates handled but not yet flushed: a delivery Telegram repeats meanwhile is
     * the same update in progress, not one a dead handler left pending. */
    int64_t hook_inflight[TG_HOOK_INFLIGHT_MAX];
    size_t n_hook_inflight;
    void *batch;           /* the getUpdates batch being handled (tg_poll.c), or NULL */
    bool poll_after_batch; /* a poll was due while a batch of an older term ended */
    size_t cmds_inflight;  /* commands whose bus calls have not all answered (tg_command.c) */
    /* sending */
    tg_outbox_t *outbox;
} tg_state_t;

/* --- tg_config.c ---------------------------------------------------------------------- */

/* Reads commands, admin_chats and languages from the telegram section of cfg (may be NULL).
 * Returns 0, or YARD_E_CONFIG with the reason (file:line: ...) logged. */
int tg_config_load(tg_state_t *st, const yard_config_t *cfg);
void tg_config_free(tg_state_t *st);
/* The registry entry named name, or NULL. */
const tg_cmd_t *tg_config_cmd(const tg_state_t *st, const char *name);
/* The command's help (or question) in lang, falling back to English, then to the first one
 * given; NULL when it has none. */
const char *tg_config_text(const tg_state_t *st, const char *const *by_lang, const char *lang);

/* --- tg_api.c ------------------------------------------------------------------------- */

/* A Bot API answer, read from an HTTP response. */
typedef struct {
    int error;      /* 0, or the yard error of the transfer (no response) */
    int status;     /* HTTP status */
    bool ok;        /* the body's "ok" */
    int error_code; /* the body's error_code (or the status) */
    char description[256];
    int64_t retry_after;        /* parameters.retry_after, seconds; 0 when none */
    int64_t migrate_to_chat_id; /* parameters.migrate_to_chat_id; 0 when none */
    msgpack_zone zone;
    msgpack_object result; /* nil unless ok */
    void *mp;
} tg_api_res_t;

/* Reads resp into res (free with tg_api_res_free()). */
void tg_api_res_read(const yard_http_resp_t *resp, tg_api_res_t *res);
void tg_api_res_free(tg_api_res_t *res);

/* Calls method with the msgpack map body (NULL: none), timeout_ms per attempt. Calls cb
 * exactly once unless this returns an error. */
int tg_api_call(tg_state_t *st, const char *method, const void *body, size_t size,
                uint32_t timeout_ms, yard_http_done_fn *cb, void *arg);

/* --- tg_poll.c ------------------------------------------------------------------------ */

/* Starts keeping the leader lease (from init). */
int tg_poll_start(tg_state_t *st);

/* Called by tg_command.c when the last command's bus calls answered: a batch waiting for
 * them goes on. Frees a batch left at stop (tg_poll_free, from fini). */
void tg_poll_commands_idle(tg_state_t *st);
void tg_poll_free(tg_state_t *st);

/* The update types the bot asks for (getUpdates' and setWebhook's allowed_updates). */
extern const char *const tg_allowed_updates[];

/* --- tg_update.c ---------------------------------------------------------------------- */

/* Handles one update (a map with update_id): claims upd:<id> as pending under this replica's
 * lease token first (an update whose claim is done is skipped; one left pending, by a leader
 * that died or lost the lease mid-way, is handled again), then publishes its events through
 * the bus client and starts its command. Returns 1 when handled (the caller flushes the bus,
 * yard_bus_flush(), then calls tg_update_done()), 0 when it was done before, or a store error
 * (not handled; the caller stops and retries later). *id_out gets the update_id. */
int tg_update_handle(tg_state_t *st, const msgpack_object *update, int64_t *id_out);
/* Marks upd:<id> done: the update's events and calls reached the broker. Returns 0 or a store
 * error (the claim stays pending and a later leader handles the update again). */
int tg_update_done(tg_state_t *st, int64_t id);

/* The user's language: the /lang choice, else code (Telegram's language_code, may be
 * NULL) when configured, else "en". Writes into out (8 bytes). */
void tg_update_lang(tg_state_t *st, int64_t user_id, const char *code, char *out);

/* Publishes subject with the msgpack map w holds (takes the writer). */
void tg_publish(tg_state_t *st, const char *subject, yard_mpw_t **w_p);

/* --- tg_command.c --------------------------------------------------------------------- */

typedef struct {
    int64_t chat_id;
    int64_t user_id;
    int64_t update_id; /* in the command's event, for subscribers to drop a repeat; 0: none */
    char lang[8];
    char name[TG_NAME_MAX + 1];
    char args[TG_ARGS_MAX + 1];
} tg_cmd_call_t;

/* Runs the command in call (built-in or registry). */
void tg_command_run(tg_state_t *st, const tg_cmd_call_t *call);
/* A plain message from a user with an open conversation: the answer to its question.
 * Returns true when it was taken as one. */
bool tg_command_answer(tg_state_t *st, int64_t chat_id, int64_t user_id, const char *lang,
                       const char *text);
/* Renders a service's msgpack reply as text for a chat. Caller owns the result (free()). */
char *tg_render(const void *body, size_t size, const char *lang);

/* --- tg_outbox.c ---------------------------------------------------------------------- */

/* Called once per message when it was sent (err 0) or failed for good. */
typedef void(tg_sent_fn)(tg_state_t *st, int err, const char *why, void *arg);

int tg_outbox_new(tg_state_t *st);
void tg_outbox_destroy(tg_state_t *st);
/* Queues text (split as needed) for chat_id. mode is a parse_mode (NULL: plain); markup is a
 * msgpack reply_markup (may be NULL). cb (may be NULL) runs once when every piece was sent or
 * one failed for good. Returns 0, YARD_E_BAD_REQUEST (why in err: an empty text, too many
 * pieces), or YARD_E_OVERLOADED (the queue is full); on error cb never runs. */
int tg_outbox_send(tg_state_t *st, int64_t chat_id, const char *text, const char *mode,
                   const void *markup, size_t markup_size, tg_sent_fn *cb, void *arg, char *err,
                   size_t errlen);
/* Queues a plain text to chat_id with no callback; failures are logged and published. */
void tg_outbox_say(tg_state_t *st, int64_t chat_id, const char *text);
/* Messages queued or in flight. */
size_t tg_outbox_pending(const tg_state_t *st);

#endif
