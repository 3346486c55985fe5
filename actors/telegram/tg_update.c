/* One update (tg_internal.h). Its claim upd:<update_id> (dedup_ttl, longer than the 24 h
 * Telegram keeps an update) is taken as pending, "p:<lease token>", before anything else
 * happens, and marked done, "d", by the caller once yard_bus_flush() said the update's events
 * and calls reached the broker. An update that comes again (a leader died or lost the lease
 * after handling it, before committing the offset; a webhook delivery Telegram retries) is
 * skipped when done, and handled again when still pending: its handler may have died before
 * anything left the process, so at-least-once for that window, never lost. Then:
 *   - telegram.update.<type> is published for every update;
 *   - a message whose first entity is a bot_command at offset 0 runs that command, if it names
 *     no bot or names ours (/cmd@our_username);
 *   - another text message from a user with an open conversation answers its question.
 * Anything else (an unknown update type, callback data the bot never sent, the bot removed
 * from a chat) is logged and ignored. */
#include "tg_internal.h"

#include "yard/bus.h"
#include "yard/error.h"
#include "yard/log.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
tg_publish(tg_state_t *st, const char *subject, yard_mpw_t **w_p)
{
    const void *body = NULL;
    size_t size = 0;
    if (yard_mpw_finish(*w_p, &body, &size) == 0) {
        /* through the bus client, so the caller's yard_bus_flush() covers it */
        int rc = yard_bus_publish(st->ctx, subject, body, size);
        if (rc == YARD_E_CONFIG) {
            rc = yard_ctx_publish(st->ctx, subject, body, size); /* no broker endpoint */
        }
        if (rc != 0) {
            yard_log(YARD_LOG_WARN, "could not publish", YF_STR("subject", subject),
                     YF_INT("error", rc));
        }
    }
    yard_mpw_destroy(w_p);
}

void
tg_update_lang(tg_state_t *st, int64_t user_id, const char *code, char *out)
{
    char key[96], *val = NULL;
    size_t len = 0;
    snprintf(key, sizeof key, "%slang:%" PRId64, st->prefix, user_id);
    snprintf(out, 8, "en");
    if (yard_store_get(st->store, key, &val, &len) == 0 && len < 8) {
        for (size_t i = 0; i < st->n_langs; i++) {
            if (strcmp(st->langs[i], val) == 0) {
                snprintf(out, 8, "%s", val);
                free(val);
                return;
            }
        }
    }
    free(val);
    if (code && strlen(code) >= 2) {
        char two[3] = {(char)tolower((unsigned char)code[0]), (char)tolower((unsigned char)code[1]),
                       '\0'};
        for (size_t i = 0; i < st->n_langs; i++) {
            if (strcmp(st->langs[i], two) == 0) {
                snprintf(out, 8, "%s", two);
                return;
            }
        }
    }
}

/* The update's type: its one key besides update_id, when it is a plain token. */
static const msgpack_object *
s_type(const msgpack_object *u, char *type, size_t cap)
{
    for (uint32_t i = 0; i < u->via.map.size; i++) {
        const msgpack_object_kv *kv = &u->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) {
            continue;
        }
        yard_str_t k = {kv->key.via.str.ptr, kv->key.via.str.size};
        if (k.len == 9 && memcmp(k.ptr, "update_id", 9) == 0) {
            continue;
        }
        bool ok = k.len > 0 && k.len < cap;
        for (uint32_t j = 0; j < k.len && ok; j++) {
            ok = (k.ptr[j] >= 'a' && k.ptr[j] <= 'z') || k.ptr[j] == '_';
        }
        snprintf(type, cap, "%.*s", ok ? (int)k.len : 7, ok ? k.ptr : "unknown");
        return &kv->val;
    }
    snprintf(type, cap, "unknown");
    return NULL;
}

static int64_t
s_id_at(const msgpack_object *obj, const char *key)
{
    const msgpack_object *m = NULL;
    int64_t id = 0;
    if (obj && yard_mp_get_map(obj, key, &m, NULL, 0) == 0) {
        yard_mp_get_int(m, "id", &id, NULL, 0);
    }
    return id;
}

/* A bot_command entity at offset 0: its name (lower-case, without @bot) and the rest of the
 * text. Returns 1 for a command to us, 0 for none or one naming another bot, -1 for a
 * command too long to take. */
static int
s_command(const tg_state_t *st, const msgpack_object *msg, const char *text, size_t len,
          tg_cmd_call_t *call)
{
    const msgpack_object *ents = NULL;
    if (yard_mp_get_array(msg, "entities", &ents, NULL, 0) != 0 || ents->via.array.size == 0) {
        return 0;
    }
    const msgpack_object *e = &ents->via.array.ptr[0];
    char type[32] = "";
    int64_t off = -1, n = 0;
    yard_mp_get_strbuf(e, "type", type, sizeof type, NULL, 0);
    yard_mp_get_int(e, "offset", &off, NULL, 0);
    yard_mp_get_int(e, "length", &n, NULL, 0);
    if (strcmp(type, "bot_command") != 0 || off != 0 || n < 2 || (size_t)n > len ||
        text[0] != '/') {
        return 0;
    }
    /* commands are ASCII, so the entity's UTF-16 length is its byte length */
    size_t cl = (size_t)n;
    const char *at = memchr(text, '@', cl);
    size_t name_len = (at ? (size_t)(at - text) : cl) - 1;
    if (at) {
        size_t bl = cl - (size_t)(at - text) - 1;
        if (!st->username[0] || bl != strlen(st->username) ||
            strncasecmp(at + 1, st->username, bl) != 0) {
            return 0; /* for another bot in the group */
        }
    }
    if (name_len == 0 || name_len > TG_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < name_len; i++) {
        call->name[i] = (char)tolower((unsigned char)text[1 + i]);
    }
    call->name[name_len] = '\0';
    const char *rest = text + cl;
    size_t rl = len - cl;
    while (rl && isspace((unsigned char)*rest)) {
        rest++;
        rl--;
    }
    while (rl && isspace((unsigned char)rest[rl - 1])) {
        rl--;
    }
    if (rl > TG_ARGS_MAX) {
        return -1;
    }
    memcpy(call->args, rest, rl);
    call->args[rl] = '\0';
    return 1;
}

static void
s_message(tg_state_t *st, const msgpack_object *msg, int64_t update_id)
{
    yard_str_t text;
    if (yard_mp_get_str(msg, "text", &text, NULL, 0) != 0 || memchr(text.ptr, 0, text.len)) {
        return; /* photos, stickers, ...: the event was enough */
    }
    tg_cmd_call_t call = {0};
    call.update_id = update_id;
    call.chat_id = s_id_at(msg, "chat");
    call.user_id = s_id_at(msg, "from");
    if (!call.chat_id || !call.user_id) {
        return;
    }
    const msgpack_object *from = NULL;
    char code[16] = "";
    if (yard_mp_get_map(msg, "from", &from, NULL, 0) == 0) {
        yard_mp_get_strbuf(from, "language_code", code, sizeof code, NULL, 0);
    }
    tg_update_lang(st, call.user_id, code, call.lang);
    char *copy = malloc(text.len + 1);
    if (!copy) {
        abort();
    }
    memcpy(copy, text.ptr, text.len);
    copy[text.len] = '\0';
    int rc = s_command(st, msg, copy, text.len, &call);
    if (rc == 1) {
        tg_command_run(st, &call);
    } else if (rc < 0) {
        tg_outbox_say(st, call.chat_id, tg_msg(call.lang, TG_MSG_TOO_LONG));
    } else if (copy[0] != '/') {
        tg_command_answer(st, call.chat_id, call.user_id, call.lang, copy);
    }
    free(copy);
}

static void
s_claim_key(const tg_state_t *st, int64_t id, char *key, size_t cap)
{
    snprintf(key, cap, "%supd:%" PRId64, st->prefix, id);
}

/* Claims update id as pending under this replica's lease token. Returns 1 to handle it, 0
 * when it is done, or a store error. */
static int
s_claim(tg_state_t *st, int64_t id)
{
    char key[96], mine[96];
    s_claim_key(st, id, key, sizeof key);
    snprintf(mine, sizeof mine, "p:%s", st->lease ? yard_lease_token(st->lease) : "-");
    size_t ml = strlen(mine);
    int rc = yard_store_set_nx(st->store, key, mine, ml, st->o->dedup_ttl_ms);
    if (rc != 0) {
        return rc; /* 1: ours now; < 0: the store is down */
    }
    char *val = NULL;
    size_t len = 0;
    rc = yard_store_get(st->store, key, &val, &len);
    bool done = rc == 0 && len >= 1 && val[0] == 'd';
    bool own = rc == 0 && len == ml && memcmp(val, mine, ml) == 0;
    free(val);
    if (rc != 0 && rc != YARD_E_NOT_FOUND) {
        return rc;
    }
    if (done) {
        return 0;
    }
    /* pending: its handler died or lost the lease before the events surely left it */
    yard_log(YARD_LOG_INFO,
             own ? "an update this replica left pending: handled again"
                 : "an update another replica left pending: handled again",
             YF_INT("update_id", id));
    st->rehandled++;
    rc = yard_store_set(st->store, key, mine, ml, st->o->dedup_ttl_ms);
    return rc < 0 ? rc : 1;
}

int
tg_update_done(tg_state_t *st, int64_t id)
{
    char key[96];
    s_claim_key(st, id, key, sizeof key);
    return yard_store_set(st->store, key, "d", 1, st->o->dedup_ttl_ms);
}

int
tg_update_handle(tg_state_t *st, const msgpack_object *u, int64_t *id_out)
{
    int64_t id = 0;
    *id_out = 0;
    if (u->type != MSGPACK_OBJECT_MAP || yard_mp_get_int(u, "update_id", &id, NULL, 0) != 0) {
        return 0;
    }
    *id_out = id;
    int rc = s_claim(st, id);
    if (rc <= 0) {
        return rc; /* 0: handled before; < 0: the store is down */
    }
    char type[40];
    const msgpack_object *obj = s_type(u, type, 33);
    int64_t chat = 0, user = 0;
    if (obj && obj->type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *m = NULL;
        user = s_id_at(obj, "from");
        chat = s_id_at(obj, "chat");
        if (!chat && yard_mp_get_map(obj, "message", &m, NULL, 0) == 0) {
            chat = s_id_at(m, "chat");
        }
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kint(w, "update_id", id);
    yard_mpw_kstr(w, "type", type);
    if (chat) {
        yard_mpw_kint(w, "chat_id", chat);
    }
    if (user) {
        yard_mpw_kint(w, "user_id", user);
    }
    yard_str_t text;
    if (obj && obj->type == MSGPACK_OBJECT_MAP &&
        yard_mp_get_str(obj, "text", &text, NULL, 0) == 0) {
        size_t n = text.len > 4096 ? 4096 : text.len;
        if (n > 7 && memcmp(text.ptr, "/start", 6) == 0 &&
            (text.ptr[6] == ' ' || text.ptr[6] == '@')) {
            n = 6; /* "/start <code>": the code is a secret, never in an event */
        }
        while (n < text.len && n > 0 && ((unsigned char)text.ptr[n] & 0xC0) == 0x80) {
            n--; /* cut on a character boundary */
        }
        yard_mpw_key(w, "text");
        yard_mpw_strn(w, text.ptr, n);
    }
    yard_mpw_end(w);
    char subject[64];
    snprintf(subject, sizeof subject, "telegram.update.%s", type);
    tg_publish(st, subject, &w);
    if (!obj || obj->type != MSGPACK_OBJECT_MAP) {
        yard_log(YARD_LOG_INFO, "an update of no known shape: ignored", YF_INT("update_id", id));
    } else if (strcmp(type, "message") == 0) {
        s_message(st, obj, id);
    } else if (strcmp(type, "callback_query") == 0) {
        /* the bot sends no inline keyboards of its own: any data is not ours to trust */
        yard_log(YARD_LOG_INFO, "callback query ignored (the bot issues no callback data)",
                 YF_INT("update_id", id), YF_INT("user_id", user));
    } else if (strcmp(type, "my_chat_member") == 0) {
        yard_log(YARD_LOG_INFO, "the bot's membership changed", YF_INT("chat_id", chat));
    }
    return 1;
}
