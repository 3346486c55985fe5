/* Rules: POSIX extended regular expressions on a message's sender, subject, labels (any label
 * id matches) and text body, all given ones must match; a leading "(?i)" makes one ignore
 * case. A matching rule's actions run in order after the message was published:
 *   notify     the telegram actor's `notify` op (or the service/op given), {text, account, ...}
 *   publish    the message event again on a subject of the rule's choosing
 *   call       a service's op with the message event as the body
 *   label      adds a user label, created on first use (labels.list, then labels.create)
 *   mark_read  removes UNREAD;  archive  removes INBOX (messages.modify)
 * A failed action does not stop the others; it goes into the account's retry set
 * ("gmail:<account>:pending", members "<message id>|<rule>|<action>", with the event kept in
 * "gmail:<account>:ev:<id>") and is tried again at the start of each cycle, up to
 * S_MAX_TRIES times. */
#include "gm_internal.h"

#include "yard/bus.h"
#include "yard/error.h"
#include "yard/json.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_TRIES   10   /* attempts of one failed action, then it is dropped (logged) */
#define S_MAX_PENDING 100  /* retries handled per cycle */
#define S_MAX_SET     1000 /* failed actions kept; past it a new failure is dropped (logged) */

typedef struct {
    gm_acct_t *a;
    uint64_t gen;
} s_bus_arg_t;

static void s_next_action(gm_acct_t *a);
static void s_next_pending(gm_acct_t *a);

static bool
s_re(const regex_t *re, const char *s)
{
    return regexec(re, s ? s : "", 0, NULL, 0) == 0;
}

bool
gm_rules_match(gm_state_t *st, gm_acct_t *a, gm_msg_t *m)
{
    bool need_body = false;
    for (size_t i = 0; i < st->n_rules; i++) {
        gm_rule_t *r = &st->rules[i];
        m->matched[i] = false;
        if (r->account && strcmp(r->account, a->name) != 0) {
            continue;
        }
        if ((r->has_from && !s_re(&r->from, m->from)) ||
            (r->has_subject && !s_re(&r->subject, m->subject))) {
            continue;
        }
        if (r->has_label) {
            bool any = false;
            for (size_t k = 0; k < m->n_labels && !any; k++) {
                any = s_re(&r->label, m->labels[k]);
            }
            if (!any) {
                continue;
            }
        }
        if ((r->has_body || r->fetch_body) && !m->body) {
            need_body = true; /* decided once the body is there */
            continue;
        }
        if (r->has_body && !s_re(&r->body, m->body)) {
            continue;
        }
        m->matched[i] = true;
    }
    return need_body;
}

/* --- the outcome of one action ---------------------------------------------------------- */

static void
s_pending_key(const gm_acct_t *a, char *key, size_t cap)
{
    gm_key(a, "pending", key, cap);
}

static void
s_action_done(gm_acct_t *a, bool ok, const char *why)
{
    gm_msg_t *m = &a->msg;
    gm_rule_t *r = &a->st->rules[m->rule];
    char key[160], member[160];
    s_pending_key(a, key, sizeof key);
    snprintf(member, sizeof member, "%s|%zu|%zu", m->id, m->rule, m->action);
    if (!ok) {
        a->actions_failed++;
        snprintf(a->last_error, sizeof a->last_error, "rule %.40s action %zu on %.30s: %.150s",
                 r->name, m->action + 1, m->id, why ? why : "failed");
        yard_log(YARD_LOG_WARN, "gmail: action failed, retried next cycle",
                 YF_STR("account", a->name), YF_STR("error", a->last_error));
    }
    if (m->retry) {
        char tkey[256];
        snprintf(tkey, sizeof tkey, "gmail:%s:tries:%s", a->name, member);
        int64_t tries = 0;
        if (ok || (yard_store_incr(a->st->store, tkey, 1, &tries) == 0 && tries >= S_MAX_TRIES)) {
            if (!ok) {
                yard_log(YARD_LOG_ERROR, "gmail: action dropped after its last try",
                         YF_STR("account", a->name), YF_STR("action", member));
            }
            yard_store_srem(a->st->store, key, member);
            yard_store_del(a->st->store, tkey);
        }
        s_next_pending(a);
        return;
    }
    if (!ok && a->pending_total >= S_MAX_SET) {
        yard_log(YARD_LOG_ERROR, "gmail: too many failed actions kept; this one is dropped",
                 YF_STR("account", a->name), YF_STR("action", member));
    } else if (!ok) {
        a->pending_total++;
        char ekey[160];
        snprintf(ekey, sizeof ekey, "gmail:%s:ev:%s", a->name, m->id);
        yard_store_set(a->st->store, ekey, m->event, m->event_size, a->st->o->processed_ttl_ms);
        yard_store_sadd(a->st->store, key, member);
    }
    m->action++;
    s_next_action(a);
}

static void
s_bus_done(yard_ctx_t *ctx, const yard_msg_t *reply, void *arg)
{
    (void)ctx;
    s_bus_arg_t *ba = arg;
    gm_acct_t *a = ba->a;
    bool current = ba->gen == a->gen;
    free(ba);
    if (!current) {
        return;
    }
    int status = yard_msg_status(reply);
    char why[160];
    snprintf(why, sizeof why, "bus call: %s", yard_err_name(status));
    s_action_done(a, status == 0, why);
}

static void
s_bus(gm_acct_t *a, const char *service, const char *op, const void *body, size_t size)
{
    s_bus_arg_t *ba = malloc(sizeof *ba);
    if (!ba) {
        abort();
    }
    ba->a = a;
    ba->gen = a->gen;
    int rc = yard_bus_call(a->st->ctx, service, op, body, size, a->st->o->call_timeout_ms,
                           s_bus_done, ba);
    if (rc != 0) {
        free(ba);
        char why[160];
        snprintf(why, sizeof why, "bus call: %s", yard_err_name(rc));
        s_action_done(a, false, why);
    }
}

static void
s_notify(gm_acct_t *a, const gm_action_t *act)
{
    gm_msg_t *m = &a->msg;
    char text[1024];
    snprintf(text, sizeof text, "Mail (%s) from %s: %s", a->name, m->from ? m->from : "",
             m->subject ? m->subject : "");
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "text", text);
    yard_mpw_kstr(w, "source", "gmail");
    yard_mpw_kstr(w, "account", a->name);
    yard_mpw_kstr(w, "id", m->id);
    yard_mpw_end(w);
    const void *data = NULL;
    size_t size = 0;
    if (yard_mpw_finish(w, &data, &size) != 0) {
        yard_mpw_destroy(&w);
        s_action_done(a, false, "could not build the notification");
        return;
    }
    s_bus(a, act->arg, act->op, data, size);
    yard_mpw_destroy(&w);
}

static void
s_modified(gm_acct_t *a, const gm_resp_t *r)
{
    bool ok = r->err == 0 && r->status == 200;
    s_action_done(a, ok, ok ? NULL : r->text);
}

static void
s_modify(gm_acct_t *a, const char *field, const char *label_id)
{
    char path[200], json[400];
    snprintf(path, sizeof path, "/messages/%s/modify", a->msg.id);
    snprintf(json, sizeof json, "{\"%s\":[\"%s\"]}", field, label_id);
    gm_api(a, "POST", path, json, GM_UNITS_MSG_MODIFY, s_modified);
}

/* --- label: find or create it ------------------------------------------------------------ */

static void s_labels_listed(gm_acct_t *a, const gm_resp_t *r);

static void
s_label_known(gm_acct_t *a, const char *id)
{
    char key[400];
    snprintf(key, sizeof key, "gmail:%s:label:%s", a->name, a->label_name);
    yard_store_set(a->st->store, key, id, strlen(id), 0);
    s_modify(a, "addLabelIds", id);
}

static void
s_label_created(gm_acct_t *a, const gm_resp_t *r)
{
    char id[128] = "";
    if (r->err == 0 && r->status == 409) { /* created meanwhile (another replica, a person) */
        gm_api(a, "GET", "/labels", NULL, GM_UNITS_LABELS_LIST, s_labels_listed);
        return;
    }
    if (r->err || r->status != 200 || !r->json ||
        yard_mp_get_strbuf(r->json, "id", id, sizeof id, NULL, 0) != 0) {
        s_action_done(a, false, r->text[0] ? r->text : "labels.create gave no id");
        return;
    }
    s_label_known(a, id);
}

static void
s_labels_listed(gm_acct_t *a, const gm_resp_t *r)
{
    if (r->err || r->status != 200 || !r->json) {
        s_action_done(a, false, r->text[0] ? r->text : "labels.list failed");
        return;
    }
    const msgpack_object *ls = yard_mp_find(r->json, "labels");
    for (uint32_t i = 0; ls && ls->type == MSGPACK_OBJECT_ARRAY && i < ls->via.array.size; i++) {
        char name[256] = "", id[128] = "";
        const msgpack_object *l = &ls->via.array.ptr[i];
        if (yard_mp_get_strbuf(l, "name", name, sizeof name, NULL, 0) == 0 &&
            yard_mp_get_strbuf(l, "id", id, sizeof id, NULL, 0) == 0 &&
            strcmp(name, a->label_name) == 0) {
            s_label_known(a, id);
            return;
        }
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "name", a->label_name);
    yard_mpw_kstr(w, "labelListVisibility", "labelShow");
    yard_mpw_kstr(w, "messageListVisibility", "show");
    yard_mpw_end(w);
    const void *data = NULL;
    size_t size = 0;
    char *json = NULL;
    if (yard_mpw_finish(w, &data, &size) != 0 ||
        yard_json_from_msgpack(data, size, &json, NULL, NULL, 0) != 0) {
        yard_mpw_destroy(&w);
        s_action_done(a, false, "could not build labels.create");
        return;
    }
    yard_mpw_destroy(&w);
    gm_api(a, "POST", "/labels", json, GM_UNITS_LABELS_NEW, s_label_created);
    free(json);
}

static void
s_label(gm_acct_t *a, const char *name)
{
    snprintf(a->label_name, sizeof a->label_name, "%s", name);
    char key[400], *id = NULL;
    size_t n = 0;
    snprintf(key, sizeof key, "gmail:%s:label:%s", a->name, name);
    if (yard_store_get(a->st->store, key, &id, &n) == 0) {
        s_modify(a, "addLabelIds", id);
        free(id);
        return;
    }
    gm_api(a, "GET", "/labels", NULL, GM_UNITS_LABELS_LIST, s_labels_listed);
}

/* --- running them ------------------------------------------------------------------------ */

static void
s_run_one(gm_acct_t *a)
{
    gm_msg_t *m = &a->msg;
    const gm_action_t *act = &a->st->rules[m->rule].actions[m->action];
    switch (act->kind) {
    case GM_ACT_NOTIFY:
        s_notify(a, act);
        return;
    case GM_ACT_CALL:
        s_bus(a, act->arg, act->op, m->event, m->event_size);
        return;
    case GM_ACT_PUBLISH: {
        int rc = yard_ctx_publish(a->st->ctx, act->arg, m->event, m->event_size);
        s_action_done(a, rc == 0, "publish failed");
        return;
    }
    case GM_ACT_LABEL:
        s_label(a, act->arg);
        return;
    case GM_ACT_MARK_READ:
        s_modify(a, "removeLabelIds", "UNREAD");
        return;
    case GM_ACT_ARCHIVE:
        s_modify(a, "removeLabelIds", "INBOX");
        return;
    }
    s_action_done(a, false, "unknown action");
}

static void
s_next_action(gm_acct_t *a)
{
    gm_msg_t *m = &a->msg;
    while (m->rule < a->st->n_rules) {
        if (m->matched[m->rule] && m->action < a->st->rules[m->rule].n_actions) {
            s_run_one(a);
            return;
        }
        m->rule++;
        m->action = 0;
    }
    void (*done)(gm_acct_t *) = a->rules_done;
    a->rules_done = NULL;
    done(a);
}

void
gm_rules_run(gm_acct_t *a, void (*done)(gm_acct_t *a))
{
    a->rules_done = done;
    a->msg.rule = a->msg.action = 0;
    a->msg.retry = false;
    s_next_action(a);
}

/* --- retries ----------------------------------------------------------------------------- */

/* Loads the stored event of a pending action into a->msg. */
static bool
s_load(gm_acct_t *a, const char *member)
{
    gm_msg_t *m = &a->msg;
    gm_msg_clear(m);
    char id[GM_ID_MAX];
    size_t rule = 0, action = 0;
    if (sscanf(member, "%63[^|]|%zu|%zu", id, &rule, &action) != 3 || rule >= a->st->n_rules ||
        action >= a->st->rules[rule].n_actions) {
        return false; /* the config changed: the rule is gone */
    }
    char key[160], *ev = NULL;
    size_t n = 0;
    snprintf(key, sizeof key, "gmail:%s:ev:%s", a->name, id);
    if (yard_store_get(a->st->store, key, &ev, &n) != 0) {
        return false;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    if (yard_mp_decode(ev, n, &zone, &obj, NULL, 0) != 0) {
        msgpack_zone_destroy(&zone);
        free(ev);
        return false;
    }
    const char *from = NULL, *subject = NULL;
    yard_mp_get_cstr(&obj, "from", &zone, &from, NULL, 0);
    yard_mp_get_cstr(&obj, "subject", &zone, &subject, NULL, 0);
    m->from = strdup(from ? from : "");
    m->subject = strdup(subject ? subject : "");
    msgpack_zone_destroy(&zone);
    snprintf(m->id, sizeof m->id, "%s", id);
    m->event = ev;
    m->event_size = n;
    m->rule = rule;
    m->action = action;
    m->retry = true;
    return true;
}

static void
s_next_pending(gm_acct_t *a)
{
    char key[160];
    s_pending_key(a, key, sizeof key);
    while (a->pending && a->pending_at < a->n_pending) {
        const char *member = a->pending[a->pending_at++];
        if (s_load(a, member)) {
            s_run_one(a);
            return;
        }
        yard_store_srem(a->st->store, key, member);
    }
    yard_store_members_free(&a->pending);
    a->n_pending = a->pending_at = 0;
    gm_msg_clear(&a->msg);
    void (*done)(gm_acct_t *) = a->rules_done;
    a->rules_done = NULL;
    done(a);
}

void
gm_rules_retry(gm_acct_t *a, void (*done)(gm_acct_t *a))
{
    char key[160];
    s_pending_key(a, key, sizeof key);
    a->rules_done = done;
    yard_store_members_free(&a->pending);
    a->n_pending = a->pending_at = 0;
    if (yard_store_smembers(a->st->store, key, &a->pending, &a->n_pending) != 0) {
        a->pending = NULL;
        a->n_pending = 0;
    }
    a->pending_total = a->n_pending;
    if (a->n_pending > S_MAX_PENDING) {
        a->n_pending = S_MAX_PENDING; /* the rest waits for the next cycles */
    }
    s_next_pending(a);
}
