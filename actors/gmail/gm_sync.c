/* Sync cycles, after Gmail's own sync guide (developers.google.com/gmail/api/guides/sync):
 *   - full: users.getProfile for the mailbox's historyId FIRST, then messages.list (query,
 *     labels) page by page up to max_initial; the historyId read first becomes the cursor, so
 *     a message that arrives while listing is seen again by the next history (and skipped
 *     there as already processed) rather than missed;
 *   - incremental: history.list from the cursor, historyTypes=messageAdded, every page; the
 *     new cursor is the last page's historyId (or, past GM_MAX_BATCH messages, the id of the
 *     last history record taken whole);
 *   - a 404 from history.list (cursor too old) publishes gmail.resync and runs a full sync.
 * The cursor is written only when every message of the batch was published (or had been
 * before): a failure leaves it, and the next cycle sees the same messages again. */
#include "gm_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
gm_key(const gm_acct_t *a, const char *what, char *out, size_t cap)
{
    snprintf(out, cap, "gmail:%s:%s", a->name, what);
}

static void s_list_page(gm_acct_t *a);
static void s_history_page(gm_acct_t *a);

static bool
s_has_id(const gm_acct_t *a, const char *id)
{
    for (size_t i = 0; i < a->n_ids; i++) {
        if (strcmp(a->ids[i], id) == 0) {
            return true;
        }
    }
    return false;
}

static void
s_add_id(gm_acct_t *a, const char *id, size_t len)
{
    if (len == 0 || len >= GM_ID_MAX || a->n_ids >= GM_MAX_BATCH) {
        return;
    }
    char tmp[GM_ID_MAX];
    memcpy(tmp, id, len);
    tmp[len] = '\0';
    if (!s_has_id(a, tmp)) {
        memcpy(a->ids[a->n_ids++], tmp, len + 1);
    }
}

void
gm_sync_end(gm_acct_t *a, const char *err)
{
    a->phase = GM_IDLE;
    a->n_ids = a->at = 0;
    gm_msg_clear(&a->msg);
    a->last_sync_ms = yard_ctx_wall_ms(a->st->ctx);
    if (err) {
        a->errors++;
        snprintf(a->last_error, sizeof a->last_error, "%s", err);
        yard_log(YARD_LOG_WARN, "gmail: sync failed", YF_STR("account", a->name),
                 YF_STR("error", err));
    } else {
        a->last_ok_ms = a->last_sync_ms;
    }
}

void
gm_sync_abort(gm_acct_t *a)
{
    a->gen++;
    gm_api_abort(a);
    yard_timer_cancel(&a->wait);
    a->wait_fn = NULL;
    a->token_cb = NULL;
    if (a->phase == GM_SYNCING) {
        a->phase = GM_IDLE;
        a->n_ids = a->at = 0;
        gm_msg_clear(&a->msg);
    }
}

static void
s_batch_done(gm_acct_t *a)
{
    if (a->incomplete) {
        gm_sync_end(a, a->last_error[0] ? a->last_error
                                        : "a message was not published; the cursor stays");
        return;
    }
    char key[128];
    gm_key(a, "cursor", key, sizeof key);
    if (a->new_cursor[0] &&
        yard_store_set(a->st->store, key, a->new_cursor, strlen(a->new_cursor), 0) != 0) {
        gm_sync_end(a, "the store did not answer (cursor)");
        return;
    }
    snprintf(a->cursor, sizeof a->cursor, "%s", a->new_cursor);
    a->last_error[0] = '\0';
    gm_sync_end(a, NULL);
}

void
gm_sync_next(gm_acct_t *a)
{
    if (a->at < a->n_ids) {
        gm_msg_handle(a, a->ids[a->at++]);
        return;
    }
    s_batch_done(a);
}

static void
s_batch_start(gm_acct_t *a)
{
    a->at = 0;
    gm_sync_next(a);
}

/* --- full sync ----------------------------------------------------------------------------- */

static void
s_listed(gm_acct_t *a, const gm_resp_t *r)
{
    if (r->err || r->status != 200 || !r->json) {
        gm_sync_end(a, r->text[0] ? r->text : "messages.list failed");
        return;
    }
    const msgpack_object *msgs = yard_mp_find(r->json, "messages");
    for (uint32_t i = 0; msgs && msgs->type == MSGPACK_OBJECT_ARRAY && i < msgs->via.array.size;
         i++) {
        yard_str_t id;
        if ((int64_t)a->n_ids < a->max_initial &&
            yard_mp_get_str(&msgs->via.array.ptr[i], "id", &id, NULL, 0) == 0) {
            s_add_id(a, id.ptr, id.len);
        }
    }
    a->page[0] = '\0';
    yard_mp_get_strbuf(r->json, "nextPageToken", a->page, sizeof a->page, NULL, 0);
    if (a->page[0] && (int64_t)a->n_ids < a->max_initial) {
        s_list_page(a);
        return;
    }
    /* messages.list answers newest first: publish the oldest first, as history does */
    for (size_t i = 0; i < a->n_ids / 2; i++) {
        char tmp[GM_ID_MAX];
        memcpy(tmp, a->ids[i], GM_ID_MAX);
        memcpy(a->ids[i], a->ids[a->n_ids - 1 - i], GM_ID_MAX);
        memcpy(a->ids[a->n_ids - 1 - i], tmp, GM_ID_MAX);
    }
    s_batch_start(a);
}

static void
s_list_page(gm_acct_t *a)
{
    char path[1024], q[600], tok[400];
    int64_t left = a->max_initial - (int64_t)a->n_ids;
    int n = snprintf(path, sizeof path, "/messages?maxResults=%lld",
                     (long long)(left > 500 ? 500 : left));
    if (a->query && a->query[0]) {
        gm_url_escape(a->query, q, sizeof q);
        n += snprintf(path + n, sizeof path - (size_t)n, "&q=%s", q);
    }
    for (size_t i = 0; i < a->n_labels && n < (int)sizeof path; i++) {
        gm_url_escape(a->labels[i], q, sizeof q);
        n += snprintf(path + n, sizeof path - (size_t)n, "&labelIds=%s", q);
    }
    if (a->page[0] && n < (int)sizeof path) {
        gm_url_escape(a->page, tok, sizeof tok);
        snprintf(path + n, sizeof path - (size_t)n, "&pageToken=%s", tok);
    }
    gm_api(a, "GET", path, NULL, GM_UNITS_MSG_LIST, s_listed);
}

static void
s_profiled(gm_acct_t *a, const gm_resp_t *r)
{
    if (r->err || r->status != 200 || !r->json ||
        yard_mp_get_strbuf(r->json, "historyId", a->new_cursor, sizeof a->new_cursor, NULL, 0) !=
            0) {
        gm_sync_end(a, r->text[0] ? r->text : "getProfile gave no historyId");
        return;
    }
    a->page[0] = '\0';
    if (a->max_initial == 0) {
        s_batch_start(a);
        return;
    }
    s_list_page(a);
}

static void
s_full(gm_acct_t *a)
{
    a->full = true;
    a->n_ids = 0;
    a->new_cursor[0] = '\0';
    gm_api(a, "GET", "/profile", NULL, GM_UNITS_PROFILE, s_profiled);
}

/* --- incremental sync ---------------------------------------------------------------------- */

/* True when labelIds (a msgpack array) holds every label the account filters on. */
static bool
s_labels_ok(const gm_acct_t *a, const msgpack_object *labels)
{
    for (size_t i = 0; i < a->n_labels; i++) {
        bool found = false;
        for (uint32_t j = 0;
             labels && labels->type == MSGPACK_OBJECT_ARRAY && j < labels->via.array.size && !found;
             j++) {
            const msgpack_object *l = &labels->via.array.ptr[j];
            found = l->type == MSGPACK_OBJECT_STR && l->via.str.size == strlen(a->labels[i]) &&
                    memcmp(l->via.str.ptr, a->labels[i], l->via.str.size) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

/* Takes one history record's added messages. Returns false when the batch is full. */
static bool
s_record(gm_acct_t *a, const msgpack_object *rec)
{
    const msgpack_object *added = yard_mp_find(rec, "messagesAdded");
    uint32_t n = added && added->type == MSGPACK_OBJECT_ARRAY ? added->via.array.size : 0;
    if (a->n_ids > 0 && a->n_ids + n > GM_MAX_BATCH) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *m = yard_mp_find(&added->via.array.ptr[i], "message");
        yard_str_t id;
        if (m && yard_mp_get_str(m, "id", &id, NULL, 0) == 0 &&
            s_labels_ok(a, yard_mp_find(m, "labelIds"))) {
            s_add_id(a, id.ptr, id.len);
        }
    }
    return true;
}

static void
s_history(gm_acct_t *a, const gm_resp_t *r)
{
    if (r->err == 0 && r->status == 404) {
        yard_log(YARD_LOG_WARN, "gmail: history cursor too old, full sync",
                 YF_STR("account", a->name), YF_STR("cursor", a->cursor));
        a->resyncs++;
        yard_mpw_t *w = yard_mpw_new();
        yard_mpw_map(w);
        yard_mpw_kstr(w, "account", a->name);
        yard_mpw_kstr(w, "cursor", a->cursor);
        yard_mpw_kstr(w, "reason", "history.list answered 404: the cursor is too old");
        yard_mpw_end(w);
        gm_publish(a, "gmail.resync", &w);
        char key[128];
        gm_key(a, "cursor", key, sizeof key);
        yard_store_del(a->st->store, key);
        a->cursor[0] = '\0';
        s_full(a);
        return;
    }
    if (r->err || r->status != 200 || !r->json) {
        gm_sync_end(a, r->text[0] ? r->text : "history.list failed");
        return;
    }
    const msgpack_object *hist = yard_mp_find(r->json, "history");
    for (uint32_t i = 0; hist && hist->type == MSGPACK_OBJECT_ARRAY && i < hist->via.array.size;
         i++) {
        const msgpack_object *rec = &hist->via.array.ptr[i];
        if (!s_record(a, rec)) {
            s_batch_start(a); /* new_cursor: the last record taken whole */
            return;
        }
        yard_mp_get_strbuf(rec, "id", a->new_cursor, sizeof a->new_cursor, NULL, 0);
    }
    a->page[0] = '\0';
    yard_mp_get_strbuf(r->json, "nextPageToken", a->page, sizeof a->page, NULL, 0);
    if (a->page[0]) {
        s_history_page(a);
        return;
    }
    yard_mp_get_strbuf(r->json, "historyId", a->new_cursor, sizeof a->new_cursor, NULL, 0);
    s_batch_start(a);
}

static void
s_history_page(gm_acct_t *a)
{
    char path[800], c[100], tok[400];
    gm_url_escape(a->cursor, c, sizeof c);
    int n = snprintf(path, sizeof path,
                     "/history?startHistoryId=%s&historyTypes=messageAdded&maxResults=500", c);
    if (a->page[0]) {
        gm_url_escape(a->page, tok, sizeof tok);
        snprintf(path + n, sizeof path - (size_t)n, "&pageToken=%s", tok);
    }
    gm_api(a, "GET", path, NULL, GM_UNITS_HISTORY_LIST, s_history);
}

static void
s_after_retries(gm_acct_t *a)
{
    char key[128], *cur = NULL;
    size_t n = 0;
    gm_key(a, "cursor", key, sizeof key);
    int rc = yard_store_get(a->st->store, key, &cur, &n);
    if (rc != 0 && rc != YARD_E_NOT_FOUND) {
        gm_sync_end(a, "the store did not answer (cursor)");
        return;
    }
    if (rc == YARD_E_NOT_FOUND || n == 0 || n >= sizeof a->cursor) {
        free(cur);
        a->cursor[0] = '\0';
        s_full(a);
        return;
    }
    memcpy(a->cursor, cur, n + 1);
    free(cur);
    a->full = false;
    snprintf(a->new_cursor, sizeof a->new_cursor, "%s", a->cursor);
    a->page[0] = '\0';
    s_history_page(a);
}

void
gm_sync_start(gm_acct_t *a)
{
    /* the start, shared: every replica counts the interval from it (gmail.c s_due) */
    char key[128], val[32];
    gm_key(a, "last", key, sizeof key);
    int n = snprintf(val, sizeof val, "%lld", (long long)yard_ctx_wall_ms(a->st->ctx));
    yard_store_set(a->st->store, key, val, (size_t)n, 0);
    a->phase = GM_SYNCING;
    a->incomplete = false;
    a->n_ids = a->at = 0;
    a->syncs++;
    if (!a->ids) {
        a->ids = calloc(GM_MAX_BATCH, GM_ID_MAX);
        if (!a->ids) {
            abort();
        }
    }
    gm_rules_retry(a, s_after_retries);
}
