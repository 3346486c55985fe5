/* One message of a batch: skip it when the store says it was processed; else read it
 * (format=metadata with From/To/Subject/Date/Message-ID; format=full only when a matching
 * rule needs the body), claim it, publish gmail.message.<account>, mark it processed for
 * processed_ttl, and run the matching rules' actions.
 *
 * Exactly once: the claim (SET NX, value "claim/<owner>", TTL twice the lease) comes before
 * the publish and "done" replaces it after, so two replicas never both publish a message, and
 * one killed before publishing leaves a claim that lapses and the message is taken again (the
 * cursor did not move past it). The one window left is a kill between the publish and the
 * "done" write (one store round trip): the claim then lapses and the message is published a
 * second time. */
#include "gm_internal.h"

#include "gm_mime.h"
#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
gm_msg_clear(gm_msg_t *m)
{
    free(m->from);
    free(m->to);
    free(m->subject);
    free(m->date);
    free(m->msgid);
    free(m->snippet);
    free(m->body);
    free(m->event);
    for (size_t i = 0; i < m->n_labels; i++) {
        free(m->labels[i]);
    }
    memset(m, 0, sizeof *m);
}

int
gm_publish(gm_acct_t *a, const char *subject, yard_mpw_t **w_p)
{
    const void *data = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(*w_p, &data, &size);
    if (rc == 0) {
        rc = yard_ctx_publish(a->st->ctx, subject, data, size);
    }
    if (rc != 0) {
        yard_log(YARD_LOG_WARN, "gmail: publish failed", YF_STR("account", a->name),
                 YF_STR("subject", subject), YF_INT("error", rc));
    }
    yard_mpw_destroy(w_p);
    return rc;
}

static char *
s_strdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        abort();
    }
    return d;
}

/* str field of map as a UTF-8 C string ("" when absent). */
static char *
s_field(const msgpack_object *map, const char *key)
{
    yard_str_t v = {0};
    if (yard_mp_get_str(map, key, &v, NULL, 0) != 0) {
        return s_strdup("");
    }
    char *tmp = malloc(v.len + 1);
    if (!tmp) {
        abort();
    }
    memcpy(tmp, v.ptr, v.len);
    tmp[v.len] = '\0';
    char *out = gm_header_decode(tmp); /* RFC 2047 words, and valid UTF-8 either way */
    free(tmp);
    return out;
}

static void
s_headers(gm_msg_t *m, const msgpack_object *payload)
{
    const msgpack_object *hs = payload ? yard_mp_find(payload, "headers") : NULL;
    static const char *const names[] = {"From", "To", "Subject", "Date", "Message-ID"};
    char **slots[] = {&m->from, &m->to, &m->subject, &m->date, &m->msgid};
    for (uint32_t i = 0; hs && hs->type == MSGPACK_OBJECT_ARRAY && i < hs->via.array.size; i++) {
        yard_str_t n;
        const msgpack_object *h = &hs->via.array.ptr[i];
        if (yard_mp_get_str(h, "name", &n, NULL, 0) != 0) {
            continue;
        }
        for (size_t k = 0; k < 5; k++) {
            if (!*slots[k] && n.len == strlen(names[k]) &&
                strncasecmp(n.ptr, names[k], n.len) == 0) {
                *slots[k] = s_field(h, "value");
            }
        }
    }
    for (size_t k = 0; k < 5; k++) {
        if (!*slots[k]) {
            *slots[k] = s_strdup("");
        }
    }
}

static void
s_read(gm_msg_t *m, const msgpack_object *msg)
{
    yard_mp_get_strbuf(msg, "threadId", m->thread, sizeof m->thread, NULL, 0);
    yard_mp_get_strbuf(msg, "historyId", m->history, sizeof m->history, NULL, 0);
    m->snippet = s_field(msg, "snippet");
    const msgpack_object *ls = yard_mp_find(msg, "labelIds");
    for (uint32_t i = 0; ls && ls->type == MSGPACK_OBJECT_ARRAY && i < ls->via.array.size &&
                         m->n_labels < sizeof m->labels / sizeof m->labels[0];
         i++) {
        const msgpack_object *l = &ls->via.array.ptr[i];
        if (l->type == MSGPACK_OBJECT_STR) {
            char *s = malloc(l->via.str.size + 1);
            if (!s) {
                abort();
            }
            memcpy(s, l->via.str.ptr, l->via.str.size);
            s[l->via.str.size] = '\0';
            m->labels[m->n_labels++] = s;
        }
    }
    s_headers(m, yard_mp_find(msg, "payload"));
}

static void
s_event(gm_acct_t *a, gm_msg_t *m)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "account", a->name);
    yard_mpw_kstr(w, "id", m->id);
    yard_mpw_kstr(w, "threadId", m->thread);
    yard_mpw_kstr(w, "historyId", m->history);
    yard_mpw_key(w, "labelIds");
    yard_mpw_strs(w, (const char *const *)m->labels, m->n_labels);
    yard_mpw_kstr(w, "from", m->from);
    yard_mpw_kstr(w, "to", m->to);
    yard_mpw_kstr(w, "subject", m->subject);
    yard_mpw_kstr(w, "date", m->date);
    yard_mpw_kstr(w, "messageId", m->msgid);
    yard_mpw_kstr(w, "snippet", m->snippet);
    if (m->body) {
        yard_mpw_kstr(w, "body", m->body);
    }
    yard_mpw_end(w);
    const void *data = NULL;
    size_t size = 0;
    if (yard_mpw_finish(w, &data, &size) == 0) {
        m->event = malloc(size);
        if (!m->event) {
            abort();
        }
        memcpy(m->event, data, size);
        m->event_size = size;
    }
    yard_mpw_destroy(&w);
}

static void
s_after_actions(gm_acct_t *a)
{
    gm_msg_clear(&a->msg);
    gm_sync_next(a);
}

/* Skips the message: processed before, or another replica has it (then the batch is not
 * complete until that claim is done or lapses). */
static void
s_skip(gm_acct_t *a, bool claimed_elsewhere)
{
    a->skipped++;
    if (claimed_elsewhere) {
        a->incomplete = true;
    }
    gm_msg_clear(&a->msg);
    gm_sync_next(a);
}

static void
s_publish(gm_acct_t *a)
{
    gm_msg_t *m = &a->msg;
    s_event(a, m);
    char key[160], claim[96], subject[96];
    snprintf(key, sizeof key, "gmail:%s:msg:%s", a->name, m->id);
    int n = snprintf(claim, sizeof claim, "claim/%s", a->st->owner);
    int rc = yard_store_set_nx(a->st->store, key, claim, (size_t)n, a->st->o->lease_ms * 2);
    if (rc != 1 || !m->event) {
        if (rc < 0) {
            gm_sync_end(a, "the store did not answer (claim)");
            return;
        }
        s_skip(a, true);
        return;
    }
    snprintf(subject, sizeof subject, "gmail.message.%s", a->name);
    rc = yard_ctx_publish(a->st->ctx, subject, m->event, m->event_size);
    if (rc != 0) {
        yard_store_del_if(a->st->store, key, claim, (size_t)n);
        a->incomplete = true;
        snprintf(a->last_error, sizeof a->last_error, "publishing %s failed (%d)", m->id, rc);
        gm_sync_end(a, a->last_error);
        return;
    }
    yard_store_set(a->st->store, key, "done", 4, a->st->o->processed_ttl_ms);
    a->published++;
    gm_rules_run(a, s_after_actions);
}

static void
s_got_full(gm_acct_t *a, const gm_resp_t *r)
{
    if (r->err || r->status != 200 || !r->json) {
        gm_sync_end(a, r->text[0] ? r->text : "messages.get (full) failed");
        return;
    }
    a->msg.body = gm_payload_text(yard_mp_find(r->json, "payload"), NULL);
    if (!a->msg.body) {
        a->msg.body = s_strdup("");
    }
    gm_rules_match(a->st, a, &a->msg); /* again: body patterns can match now */
    s_publish(a);
}

static void
s_got_meta(gm_acct_t *a, const gm_resp_t *r)
{
    if (r->err == 0 && r->status == 404) {
        s_skip(a, false); /* deleted since it was listed */
        return;
    }
    if (r->err || r->status != 200 || !r->json) {
        gm_sync_end(a, r->text[0] ? r->text : "messages.get failed");
        return;
    }
    s_read(&a->msg, r->json);
    if (gm_rules_match(a->st, a, &a->msg)) {
        char path[160];
        snprintf(path, sizeof path, "/messages/%s?format=full", a->msg.id);
        gm_api(a, "GET", path, NULL, GM_UNITS_MSG_GET, s_got_full);
        return;
    }
    s_publish(a);
}

void
gm_msg_handle(gm_acct_t *a, const char *id)
{
    gm_msg_clear(&a->msg);
    snprintf(a->msg.id, sizeof a->msg.id, "%s", id);
    char key[160], *v = NULL;
    size_t n = 0;
    snprintf(key, sizeof key, "gmail:%s:msg:%s", a->name, id);
    int rc = yard_store_get(a->st->store, key, &v, &n);
    if (rc == 0) {
        bool done = n == 4 && memcmp(v, "done", 4) == 0;
        free(v);
        s_skip(a, !done);
        return;
    }
    if (rc != YARD_E_NOT_FOUND) {
        gm_sync_end(a, "the store did not answer (processed ids)");
        return;
    }
    char path[400], eid[GM_ID_MAX * 3];
    gm_url_escape(id, eid, sizeof eid);
    snprintf(path, sizeof path,
             "/messages/%s?format=metadata&metadataHeaders=From&metadataHeaders=To"
             "&metadataHeaders=Subject&metadataHeaders=Date&metadataHeaders=Message-ID",
             eid);
    gm_api(a, "GET", path, NULL, GM_UNITS_MSG_GET, s_got_meta);
}
