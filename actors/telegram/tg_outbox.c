/* Sending (tg_internal.h). One queue per replica, in order per chat: a chat's next message
 * waits until the one before it was sent, while other chats keep flowing. Before each send
 * the replica takes a token from three buckets in the store, shared by every replica of the
 * bot (yard_store_take_token): the chat's (1 a second, with a margin: chat_interval), the
 * group's (20 a minute) and the bot's (30 a second), the limits Telegram documents
 * (core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this). A 429 still
 * answered is honoured for that chat only, for parameters.retry_after, by every replica
 * (hold:<chat>); a group that became a supergroup (migrate_to_chat_id) is remembered
 * (moved:<chat>) and the message resent there. Other 4xx answers fail the message for good
 * (telegram.error); 5xx and transfer errors are retried with backoff up to send_attempts. */
#include "tg_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SEEN_MAX  256 /* chats looked at in one pass */
#define S_HOLD_POLL 500 /* ms between looks at a chat another replica holds */

typedef struct {
    tg_sent_fn *cb;
    void *arg;
    size_t left;
} s_job_t;

typedef struct s_item {
    struct s_item *next;
    int64_t chat;
    char *text;
    char mode[16];
    void *markup;
    size_t markup_size;
    uint32_t attempts;
    int64_t not_before; /* wall ms */
    bool in_flight;
    s_job_t *job; /* NULL once the job ended (another piece failed) */
    tg_state_t *st;
} s_item_t;

struct tg_outbox {
    s_item_t *head;
    size_t n;
    yard_timer_t *timer;
    int64_t timer_at;
};

static void s_pump(tg_state_t *st);

int
tg_outbox_new(tg_state_t *st)
{
    st->outbox = calloc(1, sizeof *st->outbox);
    if (!st->outbox) {
        abort();
    }
    return 0;
}

static void
s_item_free(s_item_t *it)
{
    free(it->text);
    free(it->markup);
    free(it);
}

static void
s_job_end(tg_state_t *st, s_job_t *job, int err, const char *why)
{
    if (job->cb) {
        job->cb(st, err, why, job->arg);
    }
    free(job);
}

void
tg_outbox_destroy(tg_state_t *st)
{
    tg_outbox_t *ob = st->outbox;
    if (!ob) {
        return;
    }
    yard_timer_cancel(&ob->timer);
    while (ob->head) {
        s_item_t *it = ob->head;
        ob->head = it->next;
        s_job_t *job = it->job; /* ended once, at its first piece left */
        for (s_item_t *o = ob->head; o; o = o->next) {
            if (o->job == job) {
                o->job = NULL;
            }
        }
        if (job) {
            s_job_end(st, job, YARD_E_SHUTDOWN, "the actor stopped before the message was sent");
        }
        s_item_free(it);
    }
    free(ob);
    st->outbox = NULL;
}

size_t
tg_outbox_pending(const tg_state_t *st)
{
    return st->outbox ? st->outbox->n : 0;
}

static void
s_key(const tg_state_t *st, const char *what, int64_t chat, char *key, size_t cap)
{
    snprintf(key, cap, "%s%s:%" PRId64, st->prefix, what, chat);
}

/* The chat a group migrated to, or chat itself. */
static int64_t
s_resolve(tg_state_t *st, int64_t chat)
{
    char key[96], *val = NULL;
    size_t len = 0;
    s_key(st, "moved", chat, key, sizeof key);
    if (yard_store_get(st->store, key, &val, &len) == 0) {
        int64_t to = strtoll(val, NULL, 10);
        free(val);
        return to ? to : chat;
    }
    free(val);
    return chat;
}

int
tg_outbox_send(tg_state_t *st, int64_t chat_id, const char *text, const char *mode,
               const void *markup, size_t markup_size, tg_sent_fn *cb, void *arg, char *err,
               size_t errlen)
{
    tg_mode_t m;
    if (tg_mode_parse(mode, &m) != 0) {
        snprintf(err, errlen, "'parse_mode' must be MarkdownV2 or HTML");
        return YARD_E_BAD_REQUEST;
    }
    tg_piece_t pieces[TG_SPLIT_MAX];
    int n = tg_split(text, strlen(text), m, TG_TEXT_LIMIT, pieces, TG_SPLIT_MAX);
    if (n <= 0) {
        snprintf(err, errlen, n == 0 ? "'text' is empty" : "'text' needs too many messages");
        return YARD_E_BAD_REQUEST;
    }
    tg_outbox_t *ob = st->outbox;
    if (ob->n + (size_t)n > TG_OUTBOX_MAX) {
        snprintf(err, errlen, "the send queue is full (%d messages)", TG_OUTBOX_MAX);
        return YARD_E_OVERLOADED;
    }
    s_job_t *job = calloc(1, sizeof *job);
    if (!job) {
        abort();
    }
    job->cb = cb;
    job->arg = arg;
    job->left = (size_t)n;
    int64_t chat = s_resolve(st, chat_id);
    s_item_t **tail = &ob->head;
    while (*tail) {
        tail = &(*tail)->next;
    }
    for (int i = 0; i < n; i++) {
        s_item_t *it = calloc(1, sizeof *it);
        if (!it) {
            abort();
        }
        it->chat = chat;
        it->text = strndup(text + pieces[i].off, pieces[i].len);
        snprintf(it->mode, sizeof it->mode, "%s", mode ? mode : "");
        if (markup && i == n - 1) { /* the keyboard goes with the last piece */
            it->markup = malloc(markup_size);
            if (!it->markup) {
                abort();
            }
            memcpy(it->markup, markup, markup_size);
            it->markup_size = markup_size;
        }
        it->job = job;
        it->st = st;
        *tail = it;
        tail = &it->next;
        ob->n++;
    }
    s_pump(st);
    return 0;
}

void
tg_outbox_say(tg_state_t *st, int64_t chat_id, const char *text)
{
    char err[128];
    int rc = tg_outbox_send(st, chat_id, text, NULL, NULL, 0, NULL, NULL, err, sizeof err);
    if (rc != 0) {
        yard_log(YARD_LOG_WARN, "message not queued", YF_INT("chat_id", chat_id),
                 YF_STR("error", err));
    }
}

static void
s_remove(tg_outbox_t *ob, s_item_t *it)
{
    for (s_item_t **p = &ob->head; *p; p = &(*p)->next) {
        if (*p == it) {
            *p = it->next;
            ob->n--;
            s_item_free(it);
            return;
        }
    }
}

/* Fails the item's whole job: its other pieces are dropped unsent. */
static void
s_fail(tg_state_t *st, s_item_t *it, int err, int code, const char *why)
{
    tg_outbox_t *ob = st->outbox;
    s_job_t *job = it->job;
    int64_t chat = it->chat;
    for (s_item_t *o = ob->head, *next; o; o = next) {
        next = o->next;
        if (!job || o == it || o->job != job) {
            continue;
        }
        if (!o->in_flight) {
            s_remove(ob, o);
        } else {
            o->job = NULL; /* in flight: its answer no longer counts */
        }
    }
    s_remove(ob, it);
    if (err != YARD_E_SHUTDOWN) {
        yard_log(YARD_LOG_WARN, "message failed for good", YF_INT("chat_id", chat),
                 YF_INT("error_code", code), YF_STR("description", why));
        yard_mpw_t *w = yard_mpw_new();
        yard_mpw_map(w);
        yard_mpw_kint(w, "chat_id", chat);
        yard_mpw_kint(w, "error_code", code);
        yard_mpw_kstr(w, "description", why);
        yard_mpw_end(w);
        tg_publish(st, "telegram.error", &w);
    }
    if (job) {
        s_job_end(st, job, err, why);
    }
}

static void
s_migrate(tg_state_t *st, int64_t from, int64_t to)
{
    char key[96], val[32];
    s_key(st, "moved", from, key, sizeof key);
    int n = snprintf(val, sizeof val, "%" PRId64, to);
    yard_store_set(st->store, key, val, (size_t)n, 0);
    for (s_item_t *o = st->outbox->head; o; o = o->next) {
        if (o->chat == from) {
            o->chat = to;
        }
    }
    yard_log(YARD_LOG_INFO, "group migrated to a supergroup: resending there", YF_INT("from", from),
             YF_INT("to", to));
}

static void
s_sent(const yard_http_resp_t *resp, void *arg)
{
    s_item_t *it = arg;
    tg_state_t *st = it->st;
    tg_api_res_t res;
    tg_api_res_read(resp, &res);
    it->in_flight = false;
    int64_t now = yard_ctx_wall_ms(st->ctx);
    if (res.ok) {
        s_job_t *job = it->job;
        s_remove(st->outbox, it);
        if (job && --job->left == 0) {
            s_job_end(st, job, 0, NULL);
        }
    } else if (res.error == YARD_E_SHUTDOWN) {
        s_fail(st, it, YARD_E_SHUTDOWN, 0, "the actor stopped");
    } else if (res.error_code == 429) {
        int64_t secs = res.retry_after > 0 ? res.retry_after : 1;
        secs = secs > 3600 ? 3600 : secs;
        char key[96];
        s_key(st, "hold", it->chat, key, sizeof key);
        yard_store_set(st->store, key, "1", 1, (uint32_t)secs * 1000u);
        it->not_before = now + secs * 1000;
        yard_log(YARD_LOG_INFO, "telegram asked to slow down for a chat",
                 YF_INT("chat_id", it->chat), YF_INT("retry_after_s", secs));
    } else if (res.error_code == 400 && res.migrate_to_chat_id) {
        s_migrate(st, it->chat, res.migrate_to_chat_id);
    } else if (res.error || res.error_code >= 500 || res.error_code == 0) {
        if (++it->attempts >= (uint32_t)st->o->send_attempts) {
            s_fail(st, it, YARD_E_UNREACHABLE, res.error_code, res.description);
        } else {
            uint32_t shift = it->attempts < 6 ? it->attempts : 6;
            it->not_before = now + (int64_t)(500u << shift);
        }
    } else {
        s_fail(st, it, YARD_E_SERVICE, res.error_code, res.description);
    }
    tg_api_res_free(&res);
    s_pump(st);
}

/* Takes a token from the bucket key (rate per second, burst). Returns 0 when taken, else the
 * wait in ms (a store fault waits a second). */
static uint32_t
s_take(tg_state_t *st, const char *key, double rate, uint32_t burst)
{
    int allowed = 0;
    uint32_t wait = 0;
    /* Redis: the server's clock, shared by every host. Memory: the replica's loop clock (the
     * test harness's fake one), offset by one because 0 asks for the store's own. */
    uint64_t now = yard_store_shared(st->store) ? 0 : (uint64_t)yard_ctx_now_ms(st->ctx) + 1;
    int rc = yard_store_take_token(st->store, key, rate, burst, now, &allowed, &wait);
    if (rc != 0) {
        return 1000;
    }
    return allowed ? 0 : (wait ? wait : 1);
}

/* How long it must wait before a message to chat may go (0: now, token taken). */
static uint32_t
s_gate(tg_state_t *st, int64_t chat)
{
    char key[96];
    char *val = NULL;
    size_t len = 0;
    s_key(st, "hold", chat, key, sizeof key);
    int rc = yard_store_get(st->store, key, &val, &len);
    free(val);
    if (rc == 0) {
        return S_HOLD_POLL; /* another replica met a 429 for this chat */
    }
    s_key(st, "tb:chat", chat, key, sizeof key);
    uint32_t wait = s_take(st, key, 1000.0 / st->o->chat_interval_ms, 1);
    if (wait == 0 && chat < 0) {
        s_key(st, "tb:group", chat, key, sizeof key);
        wait = s_take(st, key, (double)st->o->group_per_min / 60.0, 1);
    }
    if (wait == 0) {
        snprintf(key, sizeof key, "%stb:all", st->prefix);
        wait = s_take(st, key, (double)st->o->global_per_s, (uint32_t)st->o->global_per_s);
    }
    return wait;
}

static int
s_send(tg_state_t *st, s_item_t *it)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kint(w, "chat_id", it->chat);
    yard_mpw_kstr(w, "text", it->text);
    if (it->mode[0]) {
        yard_mpw_kstr(w, "parse_mode", it->mode);
    }
    if (it->markup) {
        yard_mpw_key(w, "reply_markup");
        yard_mpw_raw(w, it->markup, it->markup_size);
    }
    yard_mpw_end(w);
    const void *body = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &body, &size);
    if (rc == 0) {
        rc = tg_api_call(st, "sendMessage", body, size, 15000, s_sent, it);
    }
    yard_mpw_destroy(&w);
    if (rc == 0) {
        it->in_flight = true;
    }
    return rc;
}

static void
s_wake(yard_ctx_t *ctx, void *arg)
{
    (void)ctx;
    tg_state_t *st = arg;
    st->outbox->timer = NULL;
    s_pump(st);
}

static bool
s_seen(int64_t *seen, size_t *n, int64_t chat)
{
    for (size_t i = 0; i < *n; i++) {
        if (seen[i] == chat) {
            return true;
        }
    }
    if (*n < S_SEEN_MAX) {
        seen[(*n)++] = chat;
    }
    return false;
}

/* Sends every chat's first message that may go now; arms the timer for the earliest wait. */
static void
s_pump(tg_state_t *st)
{
    tg_outbox_t *ob = st->outbox;
    if (!ob) {
        return;
    }
    int64_t seen[S_SEEN_MAX];
    size_t n_seen = 0;
    int64_t now = yard_ctx_wall_ms(st->ctx);
    int64_t wake = INT64_MAX;
    for (s_item_t *it = ob->head, *next; it; it = next) {
        next = it->next;
        if (n_seen == S_SEEN_MAX || s_seen(seen, &n_seen, it->chat) || it->in_flight) {
            continue;
        }
        if (it->not_before > now) {
            wake = it->not_before < wake ? it->not_before : wake;
            continue;
        }
        uint32_t wait = s_gate(st, it->chat);
        if (wait) {
            wake = now + wait < wake ? now + wait : wake;
            continue;
        }
        int rc = s_send(st, it);
        if (rc == YARD_E_OVERLOADED) {
            wake = now + 100 < wake ? now + 100 : wake;
        } else if (rc != 0) {
            s_fail(st, it, rc, 0, "could not start the HTTP request");
            s_pump(st); /* the list changed under the walk: start again */
            return;
        }
    }
    if (wake != INT64_MAX && (!ob->timer || wake < ob->timer_at)) {
        yard_timer_cancel(&ob->timer);
        ob->timer_at = wake;
        ob->timer = yard_timer_at(st->ctx, wake, s_wake, st);
    }
}
