/* The Telegram Bot API fake (telegram_fake.h). One mutex guards the state; a held getUpdates
 * waits on the condition variable on its own connection thread (http_fake runs one thread per
 * connection), so a long poll blocks nobody else. Requests and replies are JSON, read and
 * written through libyard's JSON <-> msgpack conversion. */
#include "telegram_fake.h"

#include "harness.h"
#include "http_fake.h"
#include "yard/json.h"
#include "yard/mp.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_MAX_UPDATES 4096
#define S_MAX_SENT    8192
#define S_MAX_CHATS   64
#define S_MAX_LANGS   8
#define S_POLL_MAX_S  50 /* the API's cap on a long poll's timeout */

typedef struct {
    int64_t id;
    char type[32];
    char *obj; /* JSON */
} s_update_t;

typedef struct {
    int64_t chat;
    char *text;
    char mode[16];
    long long at;
} s_sent_t;

typedef struct {
    int64_t chat;
    int64_t migrate_to; /* 0: none */
    bool blocked;
    int throttle_n, throttle_s;
} s_chat_t;

struct tg_fake {
    yh_fake_srv_t srv;
    char token[128];
    int64_t bot_id;
    pthread_cond_t cond;
    bool stopping;
    s_update_t updates[S_MAX_UPDATES];
    size_t n_updates;
    int64_t next_id, confirmed;
    s_sent_t *sent;
    size_t n_sent;
    s_chat_t chats[S_MAX_CHATS];
    size_t n_chats;
    uint64_t poll_gen;
    bool paused;
    size_t polls_held;
    char allowed[512];
    char webhook[512], secret[512];
    char langs[S_MAX_LANGS][8];
    char *commands[S_MAX_LANGS];
    size_t n_langs;
    struct {
        char method[32];
        size_t n;
    } calls[32];
    struct {
        int code;
        size_t n;
    } errors[16];
};

/* --- bookkeeping (under the lock) ------------------------------------------------------- */

static void
s_count_call(tg_fake_t *f, const char *method)
{
    for (size_t i = 0; i < 32; i++) {
        if (!f->calls[i].method[0]) {
            snprintf(f->calls[i].method, sizeof f->calls[i].method, "%s", method);
        }
        if (strcmp(f->calls[i].method, method) == 0) {
            f->calls[i].n++;
            return;
        }
    }
}

static void
s_count_error(tg_fake_t *f, int code)
{
    for (size_t i = 0; i < 16; i++) {
        if (!f->errors[i].code) {
            f->errors[i].code = code;
        }
        if (f->errors[i].code == code) {
            f->errors[i].n++;
            return;
        }
    }
}

static s_chat_t *
s_chat(tg_fake_t *f, int64_t chat, bool create)
{
    for (size_t i = 0; i < f->n_chats; i++) {
        if (f->chats[i].chat == chat) {
            return &f->chats[i];
        }
    }
    if (!create || f->n_chats == S_MAX_CHATS) {
        return NULL;
    }
    s_chat_t *c = &f->chats[f->n_chats++];
    memset(c, 0, sizeof *c);
    c->chat = chat;
    return c;
}

/* Fills reply with body (malloc'ed; the server frees it). */
static bool
s_answer(yh_http_reply_t *reply, int status, char *body)
{
    return yh_http_reply_take(reply, status, body, "Content-Type: application/json");
}

/* {"ok":true,"result":<result_json>} */
static bool
s_ok(tg_fake_t *f, yh_http_reply_t *reply, const char *result_json)
{
    (void)f;
    yh_text_t b = {0};
    yh_text_add(&b, "{\"ok\":true,\"result\":%s}", result_json);
    return s_answer(reply, 200, b.s);
}

/* The JSON text of what *w wrote (caller frees it); destroys *w. */
static char *
s_json_of(yard_mpw_t **w)
{
    const void *mp;
    size_t size;
    char *json = NULL;
    if (yard_mpw_finish(*w, &mp, &size) != 0 ||
        yard_json_from_msgpack(mp, size, &json, NULL, NULL, 0) != 0) {
        abort();
    }
    yard_mpw_destroy(w);
    return json;
}

/* {"ok":false,"error_code":code,"description":desc[,"parameters":{param:value}]} */
static bool
s_err(tg_fake_t *f, yh_http_reply_t *reply, int code, const char *desc, const char *param,
      int64_t value)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kbool(w, "ok", false);
    yard_mpw_kint(w, "error_code", code);
    yard_mpw_kstr(w, "description", desc);
    if (param) {
        yard_mpw_key(w, "parameters");
        yard_mpw_map(w);
        yard_mpw_kint(w, param, value);
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    char *json = s_json_of(&w);
    s_count_error(f, code);
    return s_answer(reply, code, json);
}

/* --- the request's JSON fields ---------------------------------------------------------- */

/* The request's JSON body; ok when it is an object. */
typedef struct {
    yh_http_json_t j;
    msgpack_object obj;
    bool ok;
} s_body_t;

static void
s_body_parse(const yh_http_fake_req_t *req, s_body_t *b)
{
    b->ok = yh_http_json_parse(req, &b->j) && b->j.obj.type == MSGPACK_OBJECT_MAP;
    b->obj = b->j.obj;
}

static void
s_body_free(s_body_t *b)
{
    yh_http_json_free(&b->j);
}

static int64_t
s_int(const s_body_t *b, const char *key, int64_t dflt)
{
    int64_t v = dflt;
    if (b->ok && yard_mp_get_int(&b->obj, key, &v, NULL, 0) != 0) {
        /* chat_id may also be given as a string of digits */
        char buf[32];
        if (yard_mp_get_strbuf(&b->obj, key, buf, sizeof buf, NULL, 0) == 0) {
            char *end;
            errno = 0;
            long long x = strtoll(buf, &end, 10);
            return errno == 0 && *buf && !*end ? x : dflt;
        }
        return dflt;
    }
    return v;
}

/* A NUL-terminated copy of a string field (caller frees), or NULL. */
static char *
s_str(const s_body_t *b, const char *key)
{
    yard_str_t s;
    if (!b->ok || yard_mp_get_str(&b->obj, key, &s, NULL, 0) != 0) {
        return NULL;
    }
    char *out = malloc(s.len + 1);
    if (!out) {
        abort();
    }
    memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
    return out;
}

/* --- methods ------------------------------------------------------------------------------ */

static bool
s_get_me(tg_fake_t *f, yh_http_reply_t *reply)
{
    char result[256];
    snprintf(result, sizeof result,
             "{\"id\":%lld,\"is_bot\":true,\"first_name\":\"Yard Test\",\"username\":\"%s\","
             "\"can_join_groups\":true,\"supports_inline_queries\":false}",
             (long long)f->bot_id, TG_FAKE_USERNAME);
    return s_ok(f, reply, result);
}

/* True when type is listed in the allowed JSON array text (empty: everything but the
 * opt-in types, as the API defaults). */
static bool
s_allowed(const char *allowed, const char *type)
{
    if (!allowed[0] || strcmp(allowed, "[]") == 0) {
        return strcmp(type, "chat_member") != 0 && strcmp(type, "message_reaction") != 0;
    }
    char quoted[48];
    snprintf(quoted, sizeof quoted, "\"%s\"", type);
    return strstr(allowed, quoted) != NULL;
}

/* The updates from offset on (up to limit) as a JSON array; NULL when none. Under the lock. */
static char *
s_updates_json(tg_fake_t *f, int64_t limit)
{
    if (f->paused) {
        return NULL;
    }
    size_t n = 0;
    yh_text_t t = {0};
    yh_text_add(&t, "[");
    for (size_t i = 0; i < f->n_updates && (int64_t)n < limit; i++) {
        const s_update_t *u = &f->updates[i];
        if (!s_allowed(f->allowed, u->type)) {
            continue;
        }
        yh_text_add(&t, "%s{\"update_id\":%lld,\"%s\":%s}", n ? "," : "", (long long)u->id, u->type,
                    u->obj);
        n++;
    }
    yh_text_add(&t, "]");
    if (n == 0) {
        free(t.s);
        return NULL;
    }
    return t.s;
}

static void
s_confirm(tg_fake_t *f, int64_t offset)
{
    if (offset <= 0) {
        return;
    }
    size_t keep = 0;
    for (size_t i = 0; i < f->n_updates; i++) {
        if (f->updates[i].id < offset) {
            free(f->updates[i].obj);
        } else {
            f->updates[keep++] = f->updates[i];
        }
    }
    f->n_updates = keep;
    if (offset - 1 > f->confirmed) {
        f->confirmed = offset - 1;
    }
}

static bool
s_get_updates(tg_fake_t *f, const s_body_t *b, yh_http_reply_t *reply)
{
    if (f->webhook[0]) {
        return s_err(f, reply, 409,
                     "Conflict: can't use getUpdates method while webhook is active; use "
                     "deleteWebhook to delete the webhook first",
                     NULL, 0);
    }
    int64_t offset = s_int(b, "offset", 0);
    int64_t limit = s_int(b, "limit", 100);
    int64_t timeout = s_int(b, "timeout", 0);
    if (limit < 1 || limit > 100) {
        limit = 100;
    }
    if (timeout < 0) {
        timeout = 0;
    } else if (timeout > S_POLL_MAX_S) {
        timeout = S_POLL_MAX_S;
    }
    const msgpack_object *au = b->ok ? yard_mp_find(&b->obj, "allowed_updates") : NULL;
    if (au && au->type == MSGPACK_OBJECT_ARRAY) {
        char *json = NULL;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_object(&pk, *au);
        if (yard_json_from_msgpack(sb.data, sb.size, &json, NULL, NULL, 0) == 0) {
            snprintf(f->allowed, sizeof f->allowed, "%s", json);
        }
        free(json);
        msgpack_sbuffer_destroy(&sb);
    }
    s_confirm(f, offset);
    uint64_t gen = ++f->poll_gen;
    pthread_cond_broadcast(&f->cond); /* ends an older held poll with 409 */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)timeout;
    f->polls_held++;
    char *arr = NULL;
    for (;;) {
        if (f->webhook[0]) {
            f->polls_held--; /* a webhook set meanwhile: no more updates through getUpdates */
            return s_err(f, reply, 409,
                         "Conflict: can't use getUpdates method while webhook is active; use "
                         "deleteWebhook to delete the webhook first",
                         NULL, 0);
        }
        if ((arr = s_updates_json(f, limit)) || timeout <= 0 || f->stopping || f->poll_gen != gen) {
            break;
        }
        if (pthread_cond_timedwait(&f->cond, &f->srv.lock, &until) == ETIMEDOUT) {
            arr = f->webhook[0] ? NULL : s_updates_json(f, limit);
            break;
        }
    }
    f->polls_held--;
    if (!arr && f->poll_gen != gen) {
        return s_err(f, reply, 409,
                     "Conflict: terminated by other getUpdates request; make sure that only one "
                     "bot instance is running",
                     NULL, 0);
    }
    bool r = s_ok(f, reply, arr ? arr : "[]");
    free(arr);
    return r;
}

/* A MarkdownV2 text the API would refuse: an unescaped reserved character outside the
 * entity syntax. Returns the character, or 0 when the text parses. */
static char
s_md2_bad(const char *t)
{
    bool code = false, pre = false, url = false;
    int link = 0;
    for (size_t i = 0; t[i]; i++) {
        char c = t[i];
        if (c == '\\') {
            if (!t[i + 1]) {
                return '\\';
            }
            i++;
            continue;
        }
        if (pre || code) {
            if (c == '`' && pre && strncmp(t + i, "```", 3) == 0) {
                pre = false;
                i += 2;
            } else if (c == '`' && code) {
                code = false;
            }
            continue;
        }
        if (url) {
            url = c != ')';
            continue;
        }
        if (strncmp(t + i, "```", 3) == 0) {
            pre = true;
            i += 2;
        } else if (c == '`') {
            code = true;
        } else if (c == '[') {
            link++;
        } else if (c == ']' && link > 0) {
            link--;
            if (t[i + 1] != '(') {
                return ']';
            }
            url = true;
            i++;
        } else if (strchr("]()>#+-={}.!", c)) {
            return c;
        }
    }
    return code || pre ? '`' : (link ? '[' : 0);
}

/* An HTML text the API would refuse: an unsupported tag or an '&' that starts no known
 * reference. Returns a static reason, or NULL when the text parses. */
static const char *
s_html_bad(const char *t)
{
    static const char *const tags[] = {
        "b",    "strong",     "i", "em",   "u",   "ins",        "s",        "strike", "del",
        "span", "tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji", NULL};
    for (size_t i = 0; t[i]; i++) {
        if (t[i] == '&') {
            const char *refs[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;", "&#", NULL};
            bool known = false;
            for (size_t k = 0; refs[k] && !known; k++) {
                known = strncmp(t + i, refs[k], strlen(refs[k])) == 0;
            }
            if (!known) {
                return "Bad Request: can't parse entities: Unsupported HTML entity";
            }
        } else if (t[i] == '<') {
            size_t j = i + 1 + (t[i + 1] == '/');
            size_t n = 0;
            while (t[j + n] && t[j + n] != '>' && t[j + n] != ' ') {
                n++;
            }
            bool known = false;
            for (size_t k = 0; tags[k] && !known; k++) {
                known = strlen(tags[k]) == n && strncmp(t + j, tags[k], n) == 0;
            }
            const char *end = strchr(t + j, '>');
            if (!known || !end) {
                return "Bad Request: can't parse entities: Unsupported start tag";
            }
            i = (size_t)(end - t); /* past the tag, attributes included */
        } else if (t[i] == '>') {
            return "Bad Request: can't parse entities: Unexpected end tag";
        }
    }
    return NULL;
}

static size_t
s_utf16_n(const char *t, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)t[i];
        if ((b & 0xC0) != 0x80) {
            n += b >= 0xF0 ? 2 : 1;
        }
    }
    return n;
}

static size_t
s_utf16(const char *t)
{
    return s_utf16_n(t, strlen(t));
}

/* The rate rules: 1 a second per chat, 20 a minute per group, 30 a second in all. Returns
 * the seconds to wait, or 0 when the message may go. */
static int
s_rate(tg_fake_t *f, int64_t chat, long long now)
{
    int in_chat = 0, in_group = 0, in_all = 0;
    long long last = -1;
    for (size_t i = f->n_sent; i-- > 0;) {
        const s_sent_t *m = &f->sent[i];
        if (now - m->at >= 60000) {
            break;
        }
        if (m->chat == chat) {
            in_group += chat < 0;
            if (now - m->at < 1000) {
                in_chat++;
                last = last < 0 ? m->at : last;
            }
        }
        in_all += now - m->at < 1000;
    }
    if (in_chat > 0) {
        return (int)((1000 - (now - last) + 999) / 1000);
    }
    if (in_group >= 20) {
        return 3;
    }
    return in_all >= 30 ? 1 : 0;
}

static bool
s_send_message(tg_fake_t *f, const s_body_t *b, yh_http_reply_t *reply)
{
    int64_t chat = s_int(b, "chat_id", 0);
    char *text = s_str(b, "text");
    char *mode = s_str(b, "parse_mode");
    bool r;
    s_chat_t *c = chat ? s_chat(f, chat, false) : NULL;
    long long now = yh_now_ms();
    int wait;
    char ch;
    const char *bad;
    if (!chat) {
        r = s_err(f, reply, 400, "Bad Request: chat not found", NULL, 0);
    } else if (!text || !*text) {
        r = s_err(f, reply, 400, "Bad Request: message text is empty", NULL, 0);
    } else if (s_utf16(text) > 4096) {
        r = s_err(f, reply, 400, "Bad Request: message is too long", NULL, 0);
    } else if (mode && strcmp(mode, "MarkdownV2") != 0 && strcmp(mode, "HTML") != 0 &&
               strcmp(mode, "Markdown") != 0) {
        r = s_err(f, reply, 400, "Bad Request: unsupported parse_mode", NULL, 0);
    } else if (mode && strcmp(mode, "MarkdownV2") == 0 && (ch = s_md2_bad(text)) != 0) {
        char desc[160];
        snprintf(desc, sizeof desc,
                 "Bad Request: can't parse entities: Character '%c' is reserved and must be "
                 "escaped with the preceding '\\'",
                 ch);
        r = s_err(f, reply, 400, desc, NULL, 0);
    } else if (mode && strcmp(mode, "HTML") == 0 && (bad = s_html_bad(text)) != NULL) {
        r = s_err(f, reply, 400, bad, NULL, 0);
    } else if (c && c->migrate_to) {
        r = s_err(f, reply, 400, "Bad Request: group chat was upgraded to a supergroup chat",
                  "migrate_to_chat_id", c->migrate_to);
    } else if (c && c->blocked) {
        r = s_err(f, reply, 403, "Forbidden: bot was blocked by the user", NULL, 0);
    } else if (c && c->throttle_n > 0) {
        c->throttle_n--;
        char desc[64];
        snprintf(desc, sizeof desc, "Too Many Requests: retry after %d", c->throttle_s);
        r = s_err(f, reply, 429, desc, "retry_after", c->throttle_s);
    } else if ((wait = s_rate(f, chat, now)) > 0) {
        char desc[64];
        snprintf(desc, sizeof desc, "Too Many Requests: retry after %d", wait);
        r = s_err(f, reply, 429, desc, "retry_after", wait);
    } else {
        if (f->n_sent % 256 == 0) {
            f->sent = realloc(f->sent, (f->n_sent + 256) * sizeof *f->sent);
            if (!f->sent) {
                abort();
            }
        }
        s_sent_t *m = &f->sent[f->n_sent++];
        m->chat = chat;
        m->text = text;
        snprintf(m->mode, sizeof m->mode, "%s", mode ? mode : "");
        m->at = now;
        text = NULL;
        char result[256];
        snprintf(result, sizeof result,
                 "{\"message_id\":%zu,\"date\":%lld,\"chat\":{\"id\":%lld,\"type\":\"%s\"}}",
                 f->n_sent, (long long)time(NULL), (long long)chat,
                 chat < 0 ? "supergroup" : "private");
        r = s_ok(f, reply, result);
        pthread_cond_broadcast(&f->cond);
    }
    free(text);
    free(mode);
    return r;
}

static bool
s_secret_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 256) {
        return false;
    }
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static bool
s_set_webhook(tg_fake_t *f, const s_body_t *b, yh_http_reply_t *reply)
{
    char *url = s_str(b, "url");
    char *secret = s_str(b, "secret_token");
    bool r;
    if (!url || strncmp(url, "https://", 8) != 0) {
        r = s_err(f, reply, 400,
                  "Bad Request: bad webhook: An HTTPS URL must be provided for webhook", NULL, 0);
    } else if (secret && !s_secret_ok(secret)) {
        r = s_err(f, reply, 400, "Bad Request: secret token contains unallowed characters", NULL,
                  0);
    } else {
        snprintf(f->webhook, sizeof f->webhook, "%s", url);
        snprintf(f->secret, sizeof f->secret, "%s", secret ? secret : "");
        pthread_cond_broadcast(&f->cond);
        r = s_ok(f, reply, "true");
    }
    free(url);
    free(secret);
    return r;
}

static bool
s_command_ok(const char *name, const char *desc)
{
    size_t n = strlen(name);
    size_t d = s_utf16(desc);
    return n >= 1 && n <= 32 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n &&
           d >= 1 && d <= 256;
}

static bool
s_set_my_commands(tg_fake_t *f, const s_body_t *b, yh_http_reply_t *reply)
{
    const msgpack_object *cmds = b->ok ? yard_mp_find(&b->obj, "commands") : NULL;
    if (!cmds || cmds->type != MSGPACK_OBJECT_ARRAY || cmds->via.array.size > 100) {
        return s_err(f, reply, 400, "Bad Request: parameter \"commands\" is required", NULL, 0);
    }
    size_t cap = 64;
    for (uint32_t i = 0; i < cmds->via.array.size; i++) {
        cap += 300 + 40;
    }
    char *lines = calloc(1, cap);
    size_t o = 0;
    for (uint32_t i = 0; i < cmds->via.array.size; i++) {
        char name[64] = "", desc[1100] = "";
        const msgpack_object *c = &cmds->via.array.ptr[i];
        if (yard_mp_get_strbuf(c, "command", name, sizeof name, NULL, 0) != 0 ||
            yard_mp_get_strbuf(c, "description", desc, sizeof desc, NULL, 0) != 0 ||
            !s_command_ok(name, desc)) {
            free(lines);
            return s_err(f, reply, 400, "Bad Request: BOT_COMMAND_INVALID", NULL, 0);
        }
        o += (size_t)snprintf(lines + o, cap - o, "%s=%s\n", name, desc);
    }
    char lang[8] = "";
    if (b->ok) {
        yard_mp_get_strbuf(&b->obj, "language_code", lang, sizeof lang, NULL, 0);
    }
    size_t k = 0;
    while (k < f->n_langs && strcmp(f->langs[k], lang) != 0) {
        k++;
    }
    if (k == S_MAX_LANGS) {
        free(lines);
        return s_err(f, reply, 400, "Bad Request: too many languages", NULL, 0);
    }
    if (k == f->n_langs) {
        snprintf(f->langs[k], sizeof f->langs[k], "%s", lang);
        f->n_langs++;
    }
    free(f->commands[k]);
    f->commands[k] = lines;
    return s_ok(f, reply, "true");
}

static bool
s_handle(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg)
{
    tg_fake_t *f = arg;
    const char *p = req->path;
    if (strncmp(p, "/bot", 4) != 0 || !strchr(p + 4, '/')) {
        pthread_mutex_lock(&f->srv.lock);
        bool r = s_err(f, reply, 404, "Not Found", NULL, 0);
        pthread_mutex_unlock(&f->srv.lock);
        return r;
    }
    const char *slash = strchr(p + 4, '/');
    const char *method = slash + 1;
    s_body_t b;
    s_body_parse(req, &b);
    pthread_mutex_lock(&f->srv.lock);
    s_count_call(f, method);
    bool r;
    if ((size_t)(slash - (p + 4)) != strlen(f->token) ||
        strncmp(p + 4, f->token, strlen(f->token)) != 0) {
        r = s_err(f, reply, 401, "Unauthorized", NULL, 0);
    } else if (strcmp(method, "getMe") == 0) {
        r = s_get_me(f, reply);
    } else if (strcmp(method, "getUpdates") == 0) {
        r = s_get_updates(f, &b, reply);
    } else if (strcmp(method, "sendMessage") == 0) {
        r = s_send_message(f, &b, reply);
    } else if (strcmp(method, "setWebhook") == 0) {
        r = s_set_webhook(f, &b, reply);
    } else if (strcmp(method, "deleteWebhook") == 0) {
        f->webhook[0] = f->secret[0] = '\0';
        r = s_ok(f, reply, "true");
    } else if (strcmp(method, "getWebhookInfo") == 0) {
        char result[700];
        snprintf(result, sizeof result, "{\"url\":\"%s\",\"pending_update_count\":%zu}", f->webhook,
                 f->n_updates);
        r = s_ok(f, reply, result);
    } else if (strcmp(method, "setMyCommands") == 0) {
        r = s_set_my_commands(f, &b, reply);
    } else {
        r = s_err(f, reply, 404, "Not Found", NULL, 0);
    }
    pthread_mutex_unlock(&f->srv.lock);
    s_body_free(&b);
    return r;
}

/* --- the test's side ---------------------------------------------------------------------- */

tg_fake_t *
tg_fake_start(const char *token)
{
    tg_fake_t *f = yh_http_fake_xcalloc(sizeof *f);
    snprintf(f->token, sizeof f->token, "%s", token);
    f->bot_id = strtoll(token, NULL, 10);
    f->next_id = 1;
    pthread_cond_init(&f->cond, NULL);
    yh_fake_srv_start(&f->srv, "", s_handle, f); /* "http://127.0.0.1:<port>" */
    return f;
}

void
tg_fake_stop(tg_fake_t **f_p)
{
    tg_fake_t *f = *f_p;
    if (!f) {
        return;
    }
    pthread_mutex_lock(&f->srv.lock);
    f->stopping = true;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->srv.lock);
    yh_fake_srv_stop(&f->srv);
    for (size_t i = 0; i < f->n_updates; i++) {
        free(f->updates[i].obj);
    }
    for (size_t i = 0; i < f->n_sent; i++) {
        free(f->sent[i].text);
    }
    free(f->sent);
    for (size_t i = 0; i < f->n_langs; i++) {
        free(f->commands[i]);
    }
    pthread_cond_destroy(&f->cond);
    free(f);
    *f_p = NULL;
}

const char *
tg_fake_api_base(tg_fake_t *f)
{
    return f->srv.url;
}

int64_t
tg_fake_push(tg_fake_t *f, const char *type, const char *obj_json)
{
    pthread_mutex_lock(&f->srv.lock);
    if (f->n_updates == S_MAX_UPDATES) {
        pthread_mutex_unlock(&f->srv.lock);
        fprintf(stderr, "telegram_fake: more than %d updates queued\n", S_MAX_UPDATES);
        abort();
    }
    s_update_t *u = &f->updates[f->n_updates++];
    u->id = f->next_id++;
    snprintf(u->type, sizeof u->type, "%s", type);
    u->obj = strdup(obj_json);
    int64_t id = u->id;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->srv.lock);
    return id;
}

int64_t
tg_fake_push_text(tg_fake_t *f, int64_t chat_id, int64_t user_id, const char *lang,
                  const char *text)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kint(w, "message_id", (int64_t)time(NULL) % 100000);
    yard_mpw_kint(w, "date", (int64_t)time(NULL));
    yard_mpw_key(w, "chat");
    yard_mpw_map(w);
    yard_mpw_kint(w, "id", chat_id);
    yard_mpw_kstr(w, "type", chat_id < 0 ? "supergroup" : "private");
    yard_mpw_end(w);
    yard_mpw_key(w, "from");
    yard_mpw_map(w);
    yard_mpw_kint(w, "id", user_id);
    yard_mpw_kbool(w, "is_bot", false);
    yard_mpw_kstr(w, "first_name", "Test");
    if (lang) {
        yard_mpw_kstr(w, "language_code", lang);
    }
    yard_mpw_end(w);
    yard_mpw_kstr(w, "text", text);
    if (text[0] == '/') {
        size_t n = strcspn(text, " \n");
        yard_mpw_key(w, "entities");
        yard_mpw_array(w);
        yard_mpw_map(w);
        yard_mpw_kstr(w, "type", "bot_command");
        yard_mpw_kint(w, "offset", 0);
        yard_mpw_kint(w, "length", (int64_t)s_utf16_n(text, n));
        yard_mpw_end(w);
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    char *json = s_json_of(&w);
    int64_t id = tg_fake_push(f, "message", json);
    free(json);
    return id;
}

size_t
tg_fake_sent(tg_fake_t *f, int64_t chat_id)
{
    pthread_mutex_lock(&f->srv.lock);
    size_t n = 0;
    for (size_t i = 0; i < f->n_sent; i++) {
        n += !chat_id || f->sent[i].chat == chat_id;
    }
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

size_t
tg_fake_wait_sent(tg_fake_t *f, int64_t chat_id, size_t n, int timeout_ms)
{
    long long until = yh_now_ms() + timeout_ms;
    size_t have;
    while ((have = tg_fake_sent(f, chat_id)) < n && yh_now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&f->srv.lock);
        pthread_cond_timedwait(&f->cond, &f->srv.lock, &ts);
        pthread_mutex_unlock(&f->srv.lock);
    }
    return have;
}

static const s_sent_t *
s_nth(tg_fake_t *f, int64_t chat_id, size_t i)
{
    for (size_t k = 0; k < f->n_sent; k++) {
        if (!chat_id || f->sent[k].chat == chat_id) {
            if (i-- == 0) {
                return &f->sent[k];
            }
        }
    }
    return NULL;
}

char *
tg_fake_sent_text(tg_fake_t *f, int64_t chat_id, size_t i, char *mode)
{
    pthread_mutex_lock(&f->srv.lock);
    const s_sent_t *m = s_nth(f, chat_id, i);
    char *t = m ? strdup(m->text) : NULL;
    if (m && mode) {
        snprintf(mode, 16, "%s", m->mode);
    }
    pthread_mutex_unlock(&f->srv.lock);
    return t;
}

long long
tg_fake_sent_at(tg_fake_t *f, int64_t chat_id, size_t i)
{
    pthread_mutex_lock(&f->srv.lock);
    const s_sent_t *m = s_nth(f, chat_id, i);
    long long at = m ? m->at : -1;
    pthread_mutex_unlock(&f->srv.lock);
    return at;
}

size_t
tg_fake_calls(tg_fake_t *f, const char *method)
{
    pthread_mutex_lock(&f->srv.lock);
    size_t n = 0;
    for (size_t i = 0; i < 32 && f->calls[i].method[0]; i++) {
        if (strcmp(f->calls[i].method, method) == 0) {
            n = f->calls[i].n;
        }
    }
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

size_t
tg_fake_errors(tg_fake_t *f, int code)
{
    pthread_mutex_lock(&f->srv.lock);
    size_t n = 0;
    for (size_t i = 0; i < 16 && f->errors[i].code; i++) {
        if (f->errors[i].code == code) {
            n = f->errors[i].n;
        }
    }
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

size_t
tg_fake_polls_held(tg_fake_t *f)
{
    pthread_mutex_lock(&f->srv.lock);
    size_t n = f->polls_held;
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

const char *
tg_fake_allowed_updates(tg_fake_t *f, char *buf, size_t len)
{
    pthread_mutex_lock(&f->srv.lock);
    snprintf(buf, len, "%s", f->allowed);
    pthread_mutex_unlock(&f->srv.lock);
    return buf;
}

int64_t
tg_fake_confirmed(tg_fake_t *f)
{
    pthread_mutex_lock(&f->srv.lock);
    int64_t c = f->confirmed;
    pthread_mutex_unlock(&f->srv.lock);
    return c;
}

void
tg_fake_migrate(tg_fake_t *f, int64_t old_chat, int64_t new_chat)
{
    pthread_mutex_lock(&f->srv.lock);
    s_chat_t *c = s_chat(f, old_chat, true);
    if (c) {
        c->migrate_to = new_chat;
    }
    pthread_mutex_unlock(&f->srv.lock);
}

void
tg_fake_block(tg_fake_t *f, int64_t chat)
{
    pthread_mutex_lock(&f->srv.lock);
    s_chat_t *c = s_chat(f, chat, true);
    if (c) {
        c->blocked = true;
    }
    pthread_mutex_unlock(&f->srv.lock);
}

void
tg_fake_throttle(tg_fake_t *f, int64_t chat, int n, int retry_after)
{
    pthread_mutex_lock(&f->srv.lock);
    s_chat_t *c = s_chat(f, chat, true);
    if (c) {
        c->throttle_n = n;
        c->throttle_s = retry_after;
    }
    pthread_mutex_unlock(&f->srv.lock);
}

void
tg_fake_webhook(tg_fake_t *f, char *url, char *secret)
{
    pthread_mutex_lock(&f->srv.lock);
    snprintf(url, 512, "%s", f->webhook);
    snprintf(secret, 512, "%s", f->secret);
    pthread_mutex_unlock(&f->srv.lock);
}

void
tg_fake_set_webhook(tg_fake_t *f, const char *url)
{
    pthread_mutex_lock(&f->srv.lock);
    snprintf(f->webhook, sizeof f->webhook, "%s", url);
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->srv.lock);
}

const char *
tg_fake_commands(tg_fake_t *f, const char *lang, char *buf, size_t len)
{
    pthread_mutex_lock(&f->srv.lock);
    buf[0] = '\0';
    for (size_t i = 0; i < f->n_langs; i++) {
        if (strcmp(f->langs[i], lang) == 0) {
            snprintf(buf, len, "%s", f->commands[i]);
        }
    }
    pthread_mutex_unlock(&f->srv.lock);
    return buf;
}

void
tg_fake_pause(tg_fake_t *f, bool paused)
{
    pthread_mutex_lock(&f->srv.lock);
    f->paused = paused;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->srv.lock);
}
