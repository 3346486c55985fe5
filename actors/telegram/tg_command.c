/* Commands (tg_internal.h): the built-ins (/start [code], /help [cmd], /lang [code], /cancel,
 * /whoami) and the registry's, each of which calls a service on the bus after the auth actor
 * said the Telegram user holds the command's scope (auth's telegram.check: a user linked by
 * an invitation, /start <code>). A user without the scope gets "not permitted" in their
 * language and the service is never called. Replies are rendered as text; errors as one
 * short line naming the error.
 *
 * Conversations: a registry command with an `ask` question, sent without arguments, asks it
 * and keeps conv:<chat>:<user> = "<expiry wall ms> <command>" in the store; the user's next
 * plain message is the answer (the command then runs with it as its arguments), /cancel ends
 * it, and an answer after the expiry gets "timed out". */
#include "tg_internal.h"

#include "yard/bus.h"
#include "yard/error.h"
#include "yard/json.h"
#include "yard/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RENDER_LINES 200

typedef struct {
    tg_state_t *st;
    tg_cmd_call_t call;
} s_pending_t;

static s_pending_t *
s_pending(tg_state_t *st, const tg_cmd_call_t *call)
{
    s_pending_t *p = calloc(1, sizeof *p);
    if (!p) {
        abort();
    }
    p->st = st;
    p->call = *call;
    st->cmds_inflight++;
    return p;
}

/* Ends a command's bus call; the last one lets a batch waiting for it go on (tg_poll.c). */
static void
s_release(s_pending_t *p)
{
    tg_state_t *st = p->st;
    free(p);
    if (st->cmds_inflight > 0 && --st->cmds_inflight == 0) {
        tg_poll_commands_idle(st);
    }
}

static void
s_say(tg_state_t *st, const tg_cmd_call_t *call, tg_msg_t id, const char *a1, const char *a2,
      const char *a3)
{
    const char *args[3] = {a1, a2, a3};
    char *text = tg_msgf(call->lang, id, args, 3);
    tg_outbox_say(st, call->chat_id, text);
    free(text);
}

static void
s_event(tg_state_t *st, const tg_cmd_call_t *call, bool allowed)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "command", call->name);
    yard_mpw_kint(w, "chat_id", call->chat_id);
    yard_mpw_kint(w, "user_id", call->user_id);
    if (call->update_id) {
        yard_mpw_kint(w, "update_id", call->update_id);
    }
    yard_mpw_kstr(w, "args", call->args);
    yard_mpw_kbool(w, "allowed", allowed);
    yard_mpw_end(w);
    char subject[64];
    snprintf(subject, sizeof subject, "telegram.command.%s", call->name);
    tg_publish(st, subject, &w);
}

/* A bus call with a msgpack map body; on refusal the callback is run here with no reply. */
static void
s_bus(tg_state_t *st, const char *service, const char *op, yard_mpw_t *w, yard_bus_reply_fn *cb,
      s_pending_t *p)
{
    const void *body = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &body, &size);
    if (rc == 0) {
        rc = yard_bus_call(st->ctx, service, op, body, size, st->o->call_timeout_ms, cb, p);
    }
    yard_mpw_destroy(&w);
    if (rc != 0) {
        yard_log(YARD_LOG_WARN, "bus call refused", YF_STR("service", service),
                 YF_STR("op", op ? op : ""), YF_INT("error", rc));
        s_say(st, &p->call, TG_MSG_UNAVAILABLE, NULL, NULL, NULL);
        s_release(p);
    }
}

/* --- rendering a service's reply ----------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} s_buf_t;

static void
s_put(s_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->buf = realloc(b->buf, b->cap);
        if (!b->buf) {
            abort();
        }
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void
s_value(s_buf_t *b, const msgpack_object *v)
{
    char tmp[64];
    switch (v->type) {
    case MSGPACK_OBJECT_STR:
        s_put(b, v->via.str.ptr, v->via.str.size);
        return;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(tmp, sizeof tmp, "%" PRIu64, v->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(tmp, sizeof tmp, "%" PRId64, v->via.i64);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        snprintf(tmp, sizeof tmp, "%s", v->via.boolean ? "yes" : "no");
        break;
    case MSGPACK_OBJECT_NIL:
        snprintf(tmp, sizeof tmp, "-");
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        snprintf(tmp, sizeof tmp, "%g", v->via.f64);
        break;
    default: {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_object(&pk, *v);
        char *json = NULL;
        size_t jl = 0;
        if (yard_json_from_msgpack(sb.data, sb.size, &json, &jl, NULL, 0) == 0) {
            s_put(b, json, jl);
        }
        free(json);
        msgpack_sbuffer_destroy(&sb);
        return;
    }
    }
    s_put(b, tmp, strlen(tmp));
}

char *
tg_render(const void *body, size_t size, const char *lang)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    s_buf_t b = {0};
    if (size == 0 || yard_mp_decode(body, size, &zone, &obj, NULL, 0) != 0 ||
        obj.type == MSGPACK_OBJECT_NIL ||
        (obj.type == MSGPACK_OBJECT_MAP && obj.via.map.size == 0)) {
        const char *done = tg_msg(lang, TG_MSG_DONE);
        s_put(&b, done, strlen(done));
    } else if (obj.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < obj.via.map.size && i < S_RENDER_LINES; i++) {
            s_value(&b, &obj.via.map.ptr[i].key);
            s_put(&b, ": ", 2);
            s_value(&b, &obj.via.map.ptr[i].val);
            s_put(&b, "\n", 1);
        }
    } else if (obj.type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < obj.via.array.size && i < S_RENDER_LINES; i++) {
            s_put(&b, "- ", 2);
            s_value(&b, &obj.via.array.ptr[i]);
            s_put(&b, "\n", 1);
        }
        if (obj.via.array.size == 0) {
            const char *none = tg_msg(lang, TG_MSG_NONE);
            s_put(&b, none, strlen(none));
        }
    } else {
        s_value(&b, &obj);
    }
    msgpack_zone_destroy(&zone);
    if (b.len > TG_TEXT_MAX - 16) {
        b.len = TG_TEXT_MAX - 16;
        while (b.len > 0 && ((unsigned char)b.buf[b.len] & 0xC0) == 0x80) {
            b.len--;
        }
        b.buf[b.len] = '\0';
        s_put(&b, "\n...", 4);
    }
    return b.buf ? b.buf : strdup("");
}

/* "NAME: text", cut short, for a failed call. */
static void
s_error_line(const yard_msg_t *reply, char *out, size_t cap)
{
    int status = yard_msg_status(reply);
    const char *app = yard_msg_app_error(reply);
    const char *text = yard_msg_error_text(reply);
    snprintf(out, cap, "%s%s%.200s", app && *app ? app : yard_err_name(status),
             text && *text ? ": " : "", text ? text : "");
}

/* --- registry commands --------------------------------------------------------------- */

static void
s_served(yard_ctx_t *ctx, const yard_msg_t *reply, void *arg)
{
    (void)ctx;
    s_pending_t *p = arg;
    if (yard_msg_status(reply) == 0) {
        size_t size = 0;
        const void *body = yard_msg_body(reply, &size);
        char *text = tg_render(body, size, p->call.lang);
        tg_outbox_say(p->st, p->call.chat_id, text);
        free(text);
    } else {
        char line[300];
        s_error_line(reply, line, sizeof line);
        s_say(p->st, &p->call, TG_MSG_SERVICE_ERROR, p->call.name, line, NULL);
    }
    s_release(p);
}

static void
s_checked(yard_ctx_t *ctx, const yard_msg_t *reply, void *arg)
{
    (void)ctx;
    s_pending_t *p = arg;
    tg_state_t *st = p->st;
    int status = yard_msg_status(reply);
    const char *app = yard_msg_app_error(reply);
    bool allowed = false;
    if (status == 0) {
        size_t size = 0;
        const void *body = yard_msg_body(reply, &size);
        msgpack_zone zone;
        msgpack_zone_init(&zone, 256);
        msgpack_object obj;
        if (yard_mp_decode(body, size, &zone, &obj, NULL, 0) == 0) {
            yard_mp_get_bool(&obj, "allowed", &allowed, NULL, 0);
        }
        msgpack_zone_destroy(&zone);
    }
    const tg_cmd_t *cmd = tg_config_cmd(st, p->call.name);
    if (status == YARD_E_SERVICE && app && strcmp(app, "NOT_LINKED") == 0) {
        s_event(st, &p->call, false);
        s_say(st, &p->call, TG_MSG_NOT_LINKED, NULL, NULL, NULL);
    } else if (status != 0 || !cmd) {
        char line[300];
        s_error_line(reply, line, sizeof line);
        yard_log(YARD_LOG_WARN, "scope check failed", YF_STR("command", p->call.name),
                 YF_STR("error", line));
        s_say(st, &p->call, TG_MSG_UNAVAILABLE, NULL, NULL, NULL);
    } else if (!allowed) {
        s_event(st, &p->call, false);
        s_say(st, &p->call, TG_MSG_NOT_PERMITTED, p->call.name, NULL, NULL);
    } else {
        s_event(st, &p->call, true);
        yard_mpw_t *w = yard_mpw_new();
        yard_mpw_map(w);
        if (p->call.args[0]) {
            yard_mpw_kstr(w, "args", p->call.args);
        }
        yard_mpw_end(w);
        s_bus(st, cmd->service, cmd->op, w, s_served, p);
        return;
    }
    s_release(p);
}

static void
s_check_then_call(tg_state_t *st, const tg_cmd_call_t *call, const tg_cmd_t *cmd)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kint(w, "telegram_id", call->user_id);
    if (cmd->scope) {
        yard_mpw_kstr(w, "scope", cmd->scope);
    }
    yard_mpw_end(w);
    s_bus(st, "auth", "telegram.check", w, s_checked, s_pending(st, call));
}

static void
s_conv_key(const tg_state_t *st, int64_t chat, int64_t user, char *key, size_t cap)
{
    snprintf(key, cap, "%sconv:%" PRId64 ":%" PRId64, st->prefix, chat, user);
}

static void
s_registry(tg_state_t *st, const tg_cmd_call_t *call, const tg_cmd_t *cmd)
{
    const char *ask = tg_config_text(st, cmd->ask_lang, call->lang);
    if (ask && !call->args[0]) {
        char key[128], val[64];
        s_conv_key(st, call->chat_id, call->user_id, key, sizeof key);
        int64_t exp = yard_ctx_wall_ms(st->ctx) + st->o->conversation_timeout_ms;
        int n = snprintf(val, sizeof val, "%" PRId64 " %s", exp, cmd->name);
        uint32_t ttl = st->o->conversation_timeout_ms * 2u; /* to tell "timed out" after it */
        if (yard_store_set(st->store, key, val, (size_t)n, ttl) != 0) {
            s_say(st, call, TG_MSG_UNAVAILABLE, NULL, NULL, NULL);
            return;
        }
        tg_outbox_say(st, call->chat_id, ask);
        return;
    }
    s_check_then_call(st, call, cmd);
}

bool
tg_command_answer(tg_state_t *st, int64_t chat_id, int64_t user_id, const char *lang,
                  const char *text)
{
    char key[128], *val = NULL;
    size_t len = 0;
    s_conv_key(st, chat_id, user_id, key, sizeof key);
    if (yard_store_get(st->store, key, &val, &len) != 0) {
        return false;
    }
    yard_store_del(st->store, key);
    char *sp = strchr(val, ' ');
    int64_t exp = strtoll(val, NULL, 10);
    tg_cmd_call_t call = {.chat_id = chat_id, .user_id = user_id};
    snprintf(call.lang, sizeof call.lang, "%s", lang);
    snprintf(call.name, sizeof call.name, "%s", sp ? sp + 1 : "");
    free(val);
    const tg_cmd_t *cmd = tg_config_cmd(st, call.name);
    if (!cmd) {
        return false;
    }
    if (yard_ctx_wall_ms(st->ctx) > exp) {
        s_say(st, &call, TG_MSG_CONV_TIMEOUT, call.name, NULL, NULL);
        return true;
    }
    if (strlen(text) > TG_ARGS_MAX) {
        s_say(st, &call, TG_MSG_TOO_LONG, NULL, NULL, NULL);
        return true;
    }
    snprintf(call.args, sizeof call.args, "%s", text);
    s_check_then_call(st, &call, cmd);
    return true;
}

/* --- built-ins ----------------------------------------------------------------------- */

static void
s_started(yard_ctx_t *ctx, const yard_msg_t *reply, void *arg)
{
    (void)ctx;
    s_pending_t *p = arg;
    int status = yard_msg_status(reply);
    const char *app = yard_msg_app_error(reply);
    if (status == 0) {
        char name[80] = "";
        size_t size = 0;
        const void *body = yard_msg_body(reply, &size);
        msgpack_zone zone;
        msgpack_zone_init(&zone, 256);
        msgpack_object obj;
        if (yard_mp_decode(body, size, &zone, &obj, NULL, 0) == 0) {
            yard_mp_get_strbuf(&obj, "username", name, sizeof name, NULL, 0);
        }
        msgpack_zone_destroy(&zone);
        s_say(p->st, &p->call, TG_MSG_LINKED, name, NULL, NULL);
    } else if (status == YARD_E_SERVICE && app && strcmp(app, "INVALID_CODE") == 0) {
        s_say(p->st, &p->call, TG_MSG_INVALID_CODE, NULL, NULL, NULL);
    } else if (status == YARD_E_SERVICE && app && strcmp(app, "CONFLICT") == 0) {
        s_say(p->st, &p->call, TG_MSG_ALREADY_LINKED, NULL, NULL, NULL);
    } else if (status == YARD_E_BAD_REQUEST) {
        s_say(p->st, &p->call, TG_MSG_INVALID_CODE, NULL, NULL, NULL);
    } else {
        s_say(p->st, &p->call, TG_MSG_UNAVAILABLE, NULL, NULL, NULL);
    }
    s_release(p);
}

static void
s_start(tg_state_t *st, const tg_cmd_call_t *call)
{
    if (!call->args[0]) {
        s_say(st, call, TG_MSG_WELCOME, NULL, NULL, NULL);
        return;
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "code", call->args);
    yard_mpw_kint(w, "telegram_id", call->user_id);
    yard_mpw_end(w);
    s_bus(st, "auth", "invite.redeem", w, s_started, s_pending(st, call));
}

static const struct {
    const char *name;
    tg_msg_t help;
} s_builtin_help[] = {{"start", TG_MSG_HELP_START},
                      {"help", TG_MSG_HELP_HELP},
                      {"lang", TG_MSG_HELP_LANG},
                      {"cancel", TG_MSG_HELP_CANCEL},
                      {"whoami", TG_MSG_HELP_WHOAMI}};
#define S_BUILTINS (sizeof s_builtin_help / sizeof s_builtin_help[0])

static void
s_help_line(s_buf_t *b, const char *name, const char *help)
{
    s_put(b, "/", 1);
    s_put(b, name, strlen(name));
    s_put(b, " - ", 3);
    s_put(b, help, strlen(help));
    s_put(b, "\n", 1);
}

static void
s_help(tg_state_t *st, const tg_cmd_call_t *call)
{
    s_buf_t b = {0};
    const char *want = call->args[0] == '/' ? call->args + 1 : call->args;
    for (size_t i = 0; i < st->n_cmds; i++) {
        if (*want && strcmp(want, st->cmds[i].name) != 0) {
            continue;
        }
        const char *help = tg_config_text(st, st->cmds[i].help_lang, call->lang);
        s_help_line(&b, st->cmds[i].name, help ? help : tg_msg(call->lang, TG_MSG_NO_HELP));
    }
    for (size_t i = 0; i < S_BUILTINS; i++) {
        if (!*want || strcmp(want, s_builtin_help[i].name) == 0) {
            s_help_line(&b, s_builtin_help[i].name, tg_msg(call->lang, s_builtin_help[i].help));
        }
    }
    if (*want && b.len == 0) {
        s_say(st, call, TG_MSG_HELP_UNKNOWN, want, NULL, NULL);
        return;
    }
    if (!*want) {
        const char *head = tg_msg(call->lang, TG_MSG_HELP_HEADER);
        const char *foot = tg_msg(call->lang, TG_MSG_HELP_FOOTER);
        s_buf_t all = {0};
        s_put(&all, head, strlen(head));
        s_put(&all, "\n", 1);
        s_put(&all, b.buf, b.len);
        s_put(&all, "\n", 1);
        s_put(&all, foot, strlen(foot));
        free(b.buf);
        b = all;
    }
    tg_outbox_say(st, call->chat_id, b.buf);
    free(b.buf);
}

static void
s_lang(tg_state_t *st, const tg_cmd_call_t *call)
{
    char list[64] = "";
    for (size_t i = 0; i < st->n_langs; i++) {
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 st->langs[i]);
    }
    if (!call->args[0]) {
        s_say(st, call, TG_MSG_LANG_LIST, list, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < st->n_langs; i++) {
        if (strcmp(st->langs[i], call->args) == 0) {
            char key[96];
            snprintf(key, sizeof key, "%slang:%" PRId64, st->prefix, call->user_id);
            if (yard_store_set(st->store, key, st->langs[i], strlen(st->langs[i]), 0) != 0) {
                s_say(st, call, TG_MSG_UNAVAILABLE, NULL, NULL, NULL);
                return;
            }
            tg_cmd_call_t now = *call;
            snprintf(now.lang, sizeof now.lang, "%s", st->langs[i]);
            s_say(st, &now, TG_MSG_LANG_SET, NULL, NULL, NULL);
            return;
        }
    }
    char shown[17];
    snprintf(shown, sizeof shown, "%.16s", call->args);
    s_say(st, call, TG_MSG_LANG_UNKNOWN, shown, list, NULL);
}

static void
s_cancel(tg_state_t *st, const tg_cmd_call_t *call)
{
    char key[128];
    s_conv_key(st, call->chat_id, call->user_id, key, sizeof key);
    int rc = yard_store_del(st->store, key);
    s_say(st, call, rc == 1 ? TG_MSG_CANCELLED : TG_MSG_NOTHING_TO_CANCEL, NULL, NULL, NULL);
}

static void
s_whoami_done(yard_ctx_t *ctx, const yard_msg_t *reply, void *arg)
{
    (void)ctx;
    s_pending_t *p = arg;
    char id[32];
    snprintf(id, sizeof id, "%" PRId64, p->call.user_id);
    int status = yard_msg_status(reply);
    const char *app = yard_msg_app_error(reply);
    if (status == 0) {
        char name[80] = "";
        s_buf_t scopes = {0};
        size_t size = 0;
        const void *body = yard_msg_body(reply, &size);
        msgpack_zone zone;
        msgpack_zone_init(&zone, 256);
        msgpack_object obj;
        const msgpack_object *arr = NULL;
        if (yard_mp_decode(body, size, &zone, &obj, NULL, 0) == 0) {
            yard_mp_get_strbuf(&obj, "username", name, sizeof name, NULL, 0);
            if (yard_mp_get_array(&obj, "scopes", &arr, NULL, 0) == 0) {
                for (uint32_t i = 0; i < arr->via.array.size; i++) {
                    if (i) {
                        s_put(&scopes, ", ", 2);
                    }
                    s_value(&scopes, &arr->via.array.ptr[i]);
                }
            }
        }
        msgpack_zone_destroy(&zone);
        s_say(p->st, &p->call, TG_MSG_WHOAMI, name, id,
              scopes.len ? scopes.buf : tg_msg(p->call.lang, TG_MSG_NONE));
        free(scopes.buf);
    } else if (status == YARD_E_SERVICE && app && strcmp(app, "NOT_LINKED") == 0) {
        s_say(p->st, &p->call, TG_MSG_WHOAMI_UNLINKED, id, NULL, NULL);
    } else {
        s_say(p->st, &p->call, TG_MSG_UNAVAILABLE, NULL, NULL, NULL);
    }
    s_release(p);
}

static void
s_whoami(tg_state_t *st, const tg_cmd_call_t *call)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kint(w, "telegram_id", call->user_id);
    yard_mpw_end(w);
    s_bus(st, "auth", "telegram.check", w, s_whoami_done, s_pending(st, call));
}

void
tg_command_run(tg_state_t *st, const tg_cmd_call_t *call)
{
    static const struct {
        const char *name;
        void (*fn)(tg_state_t *, const tg_cmd_call_t *);
    } builtins[] = {{"start", s_start},
                    {"help", s_help},
                    {"lang", s_lang},
                    {"cancel", s_cancel},
                    {"whoami", s_whoami}};
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        if (strcmp(builtins[i].name, call->name) == 0) {
            tg_cmd_call_t shown = *call;
            if (i == 0) {
                shown.args[0] = '\0'; /* /start's argument is an invitation code: a secret */
            }
            s_event(st, &shown, true);
            builtins[i].fn(st, call);
            return;
        }
    }
    const tg_cmd_t *cmd = tg_config_cmd(st, call->name);
    if (cmd) {
        s_registry(st, call, cmd);
        return;
    }
    char shown[TG_NAME_MAX + 1];
    snprintf(shown, sizeof shown, "%s", call->name);
    s_say(st, call, TG_MSG_UNKNOWN_COMMAND, shown, NULL, NULL);
}
