/* The Gmail API fake (gmail_fake.h). One mailbox under a lock; answers are built as JSON text
 * and kept until stop (http_fake copies a reply after the handler returns). */
#include "gmail_fake.h"

#include "harness.h"
#include "http_fake.h"
#include "yard/mp.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_MAX_MSGS    8192
#define S_MAX_LABELS  16
#define S_MAX_ULABELS 64
#define S_METHODS     7
#define S_RATE_WIN    4096
#define S_ORDER       8192

static const char *const s_methods[S_METHODS] = {"getProfile",      "messages.list", "messages.get",
                                                 "messages.modify", "history.list",  "labels.list",
                                                 "labels.create"};
/* Gmail's quota units for each (developers.google.com/gmail/api/reference/quota). */
static const int s_units[S_METHODS] = {1, 5, 5, 5, 2, 1, 5};
static const char *const s_system[] = {"INBOX", "UNREAD", "STARRED", "IMPORTANT", "SENT",
                                       "SPAM",  "TRASH",  "DRAFT",   NULL};

typedef struct {
    char id[32], thread[32];
    uint64_t history;
    char labels[S_MAX_LABELS][32];
    int n_labels;
    char *from, *subject, *body, *payload;
} s_msg_t;

struct gm_fake {
    yh_fake_srv_t srv;
    go_fake_t *auth;
    s_msg_t *msgs;
    size_t n_msgs;
    uint64_t history, min_history;
    int page;
    int fail_n[S_METHODS], fail_status[S_METHODS];
    char fail_reason[S_METHODS][64];
    int delay[S_METHODS];
    size_t calls[S_METHODS], full_gets, units;
    size_t answers[600];
    int rate;
    long long win_at[S_RATE_WIN];
    int win_units[S_RATE_WIN];
    size_t win_n;
    int peak;
    char ulabels[S_MAX_ULABELS][64];
    int n_ulabels;
    int order[S_ORDER];
    size_t n_order;
};

/* The URL-safe base64 of n bytes of in (Gmail's message bodies), appended to b. */
static void
s_b64url(yh_text_t *b, const char *in, size_t n)
{
    size_t cap = (n + 2) / 3 * 4 + 8;
    char *out = yh_http_fake_xcalloc(cap);
    yh_text_add(b, "%s", yh_base64(in, n, true, out, cap));
    free(out);
}

/* --- answers ------------------------------------------------------------------------------- */

static bool
s_answer(gm_fake_t *f, yh_http_reply_t *reply, int status, yh_text_t *b)
{
    if (status >= 100 && status < 600) {
        f->answers[status]++;
    }
    return yh_http_reply_take(reply, status, b->s, "Content-Type: application/json; charset=UTF-8");
}

static const char *
s_status_name(int code)
{
    switch (code) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "ALREADY_EXISTS";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 503:
        return "UNAVAILABLE";
    default:
        return code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

/* Google's error body: {"error":{"code","message","errors":[{message,domain,reason}],"status"}}. */
static bool
s_error(gm_fake_t *f, yh_http_reply_t *reply, int code, const char *reason, const char *message)
{
    yh_text_t b = {0};
    const char *domain = code == 429 || strstr(reason, "RateLimit") || strstr(reason, "rateLimit")
                             ? "usageLimits"
                             : "global";
    yh_text_add(&b, "{\"error\":{\"code\":%d,\"message\":", code);
    yh_text_json_str(&b, message);
    yh_text_add(&b, ",\"errors\":[{\"message\":");
    yh_text_json_str(&b, message);
    yh_text_add(&b, ",\"domain\":\"%s\",\"reason\":\"%s\"}],\"status\":\"%s\"}}", domain, reason,
                s_status_name(code));
    return s_answer(f, reply, code, &b);
}

/* Counts units in the last second; true when they fit under the rate limit. */
static bool
s_spend(gm_fake_t *f, int units)
{
    long long now = yh_now_ms();
    size_t keep = 0;
    int sum = 0;
    for (size_t i = 0; i < f->win_n; i++) {
        if (now - f->win_at[i] < 1000) {
            f->win_at[keep] = f->win_at[i];
            f->win_units[keep] = f->win_units[i];
            sum += f->win_units[keep++];
        }
    }
    f->win_n = keep;
    if (f->rate > 0 && sum + units > f->rate) {
        return false;
    }
    if (f->win_n < S_RATE_WIN) {
        f->win_at[f->win_n] = now;
        f->win_units[f->win_n++] = units;
    }
    f->units += (size_t)units;
    if (sum + units > f->peak) {
        f->peak = sum + units;
    }
    return true;
}

/* --- the mailbox --------------------------------------------------------------------------- */

static s_msg_t *
s_msg(gm_fake_t *f, const char *id)
{
    for (size_t i = 0; i < f->n_msgs; i++) {
        if (strcmp(f->msgs[i].id, id) == 0) {
            return &f->msgs[i];
        }
    }
    return NULL;
}

static bool
s_has(const s_msg_t *m, const char *label)
{
    for (int i = 0; i < m->n_labels; i++) {
        if (strcmp(m->labels[i], label) == 0) {
            return true;
        }
    }
    return false;
}

static bool
s_label_exists(gm_fake_t *f, const char *id)
{
    for (int i = 0; s_system[i]; i++) {
        if (strcmp(s_system[i], id) == 0) {
            return true;
        }
    }
    for (int i = 0; i < f->n_ulabels; i++) {
        char lid[32];
        snprintf(lid, sizeof lid, "Label_%d", i + 1);
        if (strcmp(lid, id) == 0) {
            return true;
        }
    }
    return false;
}

static void
s_labels_json(yh_text_t *b, const s_msg_t *m)
{
    yh_text_add(b, "[");
    for (int i = 0; i < m->n_labels; i++) {
        yh_text_add(b, "%s\"%s\"", i ? "," : "", m->labels[i]);
    }
    yh_text_add(b, "]");
}

static int
s_page_size(gm_fake_t *f, const char *query)
{
    char v[32];
    int n = yh_http_query_param(query, "maxResults", v, sizeof v) ? atoi(v) : 100;
    n = n < 1 ? 1 : n > 500 ? 500 : n;
    return f->page > 0 && f->page < n ? f->page : n;
}

/* --- methods ------------------------------------------------------------------------------- */

static bool
s_profile(gm_fake_t *f, yh_http_reply_t *reply)
{
    yh_text_t b = {0};
    yh_text_add(&b,
                "{\"emailAddress\":\"me@example.com\",\"messagesTotal\":%zu,\"threadsTotal\":%zu,"
                "\"historyId\":\"%llu\"}",
                f->n_msgs, f->n_msgs, (unsigned long long)f->history);
    return s_answer(f, reply, 200, &b);
}

static bool
s_list(gm_fake_t *f, const yh_http_fake_req_t *req, yh_http_reply_t *reply)
{
    int size = s_page_size(f, req->query);
    char tok[32];
    size_t skip =
        yh_http_query_param(req->query, "pageToken", tok, sizeof tok) ? strtoul(tok, NULL, 10) : 0;
    bool unread = yh_http_query_has(req->query, "q", "is:unread");
    yh_text_t b = {0};
    yh_text_add(&b, "{\"messages\":[");
    size_t seen = 0, put = 0;
    bool more = false;
    for (size_t k = f->n_msgs; k-- > 0;) { /* newest first */
        s_msg_t *m = &f->msgs[k];
        bool ok = !unread || s_has(m, "UNREAD");
        char lab[64];
        for (size_t i = 0; ok && yh_http_query_nth(req->query, "labelIds", i, lab, sizeof lab);
             i++) {
            ok = s_has(m, lab);
        }
        if (!ok || seen++ < skip) {
            continue;
        }
        if ((int)put == size) {
            more = true;
            break;
        }
        yh_text_add(&b, "%s{\"id\":\"%s\",\"threadId\":\"%s\"}", put ? "," : "", m->id, m->thread);
        put++;
    }
    yh_text_add(&b, "]");
    if (more) {
        yh_text_add(&b, ",\"nextPageToken\":\"%zu\"", skip + put);
    }
    yh_text_add(&b, ",\"resultSizeEstimate\":%zu}", put);
    if (put == 0) { /* the real API leaves "messages" out when there is none */
        b.n = 0;
        yh_text_add(&b, "{\"resultSizeEstimate\":0}");
    }
    return s_answer(f, reply, 200, &b);
}

static void
s_headers(yh_text_t *b, const s_msg_t *m, const char *query, bool all)
{
    const char *names[] = {"From", "To", "Subject", "Date", "Message-ID"};
    char msgid[80];
    snprintf(msgid, sizeof msgid, "<%s@mail.example.com>", m->id);
    const char *values[] = {m->from, "me@example.com", m->subject,
                            "Fri, 04 Dec 2026 10:00:00 +0000", msgid};
    yh_text_add(b, "\"headers\":[");
    int put = 0;
    for (int i = 0; i < 5; i++) {
        if (!all && !yh_http_query_has(query, "metadataHeaders", names[i])) {
            continue;
        }
        yh_text_add(b, "%s{\"name\":\"%s\",\"value\":", put++ ? "," : "", names[i]);
        yh_text_json_str(b, values[i]);
        yh_text_add(b, "}");
    }
    yh_text_add(b, "]");
}

static bool
s_get(gm_fake_t *f, const char *id, const yh_http_fake_req_t *req, yh_http_reply_t *reply)
{
    s_msg_t *m = s_msg(f, id);
    if (!m) {
        return s_error(f, reply, 404, "notFound", "Requested entity was not found.");
    }
    char format[16];
    if (!yh_http_query_param(req->query, "format", format, sizeof format)) {
        snprintf(format, sizeof format, "full");
    }
    bool full = strcmp(format, "full") == 0;
    f->full_gets += full;
    yh_text_t b = {0};
    yh_text_add(&b, "{\"id\":\"%s\",\"threadId\":\"%s\",\"labelIds\":", m->id, m->thread);
    s_labels_json(&b, m);
    yh_text_add(&b, ",\"snippet\":");
    yh_text_json_str(&b, m->subject);
    yh_text_add(&b,
                ",\"historyId\":\"%llu\",\"internalDate\":\"1796378400000\",\"sizeEstimate\":%zu,"
                "\"payload\":",
                (unsigned long long)m->history, strlen(m->body) + 300);
    if (full && m->payload) {
        yh_text_add(&b, "%s", m->payload);
    } else {
        yh_text_add(&b, "{\"partId\":\"\",\"mimeType\":\"text/plain\",\"filename\":\"\",");
        s_headers(&b, m, req->query, full);
        if (full) {
            yh_text_add(&b, ",\"body\":{\"size\":%zu,\"data\":\"", strlen(m->body));
            s_b64url(&b, m->body, strlen(m->body));
            yh_text_add(&b, "\"}");
        }
        yh_text_add(&b, "}");
    }
    yh_text_add(&b, "}");
    return s_answer(f, reply, 200, &b);
}

static bool
s_modify(gm_fake_t *f, const char *id, const yh_http_fake_req_t *req, yh_http_reply_t *reply)
{
    s_msg_t *m = s_msg(f, id);
    if (!m) {
        return s_error(f, reply, 404, "notFound", "Requested entity was not found.");
    }
    yh_http_json_t j;
    if (!yh_http_json_parse(req, &j)) {
        yh_http_json_free(&j);
        return s_error(f, reply, 400, "invalidArgument", "Invalid JSON payload received.");
    }
    const char *const *add = NULL, *const *rem = NULL;
    size_t n_add = 0, n_rem = 0;
    yard_mp_get_strs(&j.obj, "addLabelIds", &j.zone, 100, &add, &n_add, NULL, 0);
    yard_mp_get_strs(&j.obj, "removeLabelIds", &j.zone, 100, &rem, &n_rem, NULL, 0);
    bool ok = true;
    for (size_t i = 0; ok && i < n_add; i++) {
        ok = s_label_exists(f, add[i]);
    }
    bool r;
    if (!ok) {
        r = s_error(f, reply, 400, "invalidArgument", "Invalid label");
    } else {
        for (size_t i = 0; i < n_rem; i++) {
            for (int k = 0; k < m->n_labels; k++) {
                if (strcmp(m->labels[k], rem[i]) == 0) {
                    memmove(m->labels[k], m->labels[m->n_labels - 1], 32);
                    m->n_labels--;
                    break;
                }
            }
        }
        for (size_t i = 0; i < n_add; i++) {
            if (!s_has(m, add[i]) && m->n_labels < S_MAX_LABELS) {
                snprintf(m->labels[m->n_labels++], 32, "%s", add[i]);
            }
        }
        yh_text_t b = {0};
        yh_text_add(&b, "{\"id\":\"%s\",\"threadId\":\"%s\",\"labelIds\":", m->id, m->thread);
        s_labels_json(&b, m);
        yh_text_add(&b, "}");
        r = s_answer(f, reply, 200, &b);
    }
    yh_http_json_free(&j);
    return r;
}

static bool
s_history(gm_fake_t *f, const yh_http_fake_req_t *req, yh_http_reply_t *reply)
{
    char v[32];
    if (!yh_http_query_param(req->query, "startHistoryId", v, sizeof v)) {
        return s_error(f, reply, 400, "invalidArgument", "Missing required field startHistoryId");
    }
    uint64_t start = strtoull(v, NULL, 10);
    if (start < f->min_history) {
        return s_error(f, reply, 404, "notFound", "Requested entity was not found.");
    }
    int size = s_page_size(f, req->query);
    size_t skip =
        yh_http_query_param(req->query, "pageToken", v, sizeof v) ? strtoul(v, NULL, 10) : 0;
    yh_text_t b = {0};
    yh_text_add(&b, "{\"history\":[");
    size_t seen = 0, put = 0;
    bool more = false;
    for (size_t k = 0; k < f->n_msgs; k++) {
        s_msg_t *m = &f->msgs[k];
        if (m->history <= start || seen++ < skip) {
            continue;
        }
        if ((int)put == size) {
            more = true;
            break;
        }
        yh_text_add(
            &b,
            "%s{\"id\":\"%llu\",\"messages\":[{\"id\":\"%s\",\"threadId\":\"%s\"}],"
            "\"messagesAdded\":[{\"message\":{\"id\":\"%s\",\"threadId\":\"%s\",\"labelIds\":",
            put ? "," : "", (unsigned long long)m->history, m->id, m->thread, m->id, m->thread);
        s_labels_json(&b, m);
        yh_text_add(&b, "}}]}");
        put++;
    }
    yh_text_add(&b, "]");
    if (more) {
        yh_text_add(&b, ",\"nextPageToken\":\"%zu\"", skip + put);
    }
    yh_text_add(&b, ",\"historyId\":\"%llu\"}", (unsigned long long)f->history);
    return s_answer(f, reply, 200, &b);
}

static bool
s_labels(gm_fake_t *f, yh_http_reply_t *reply)
{
    yh_text_t b = {0};
    yh_text_add(&b, "{\"labels\":[");
    int put = 0;
    for (int i = 0; s_system[i]; i++) {
        yh_text_add(&b, "%s{\"id\":\"%s\",\"name\":\"%s\",\"type\":\"system\"}", put++ ? "," : "",
                    s_system[i], s_system[i]);
    }
    for (int i = 0; i < f->n_ulabels; i++) {
        yh_text_add(&b, ",{\"id\":\"Label_%d\",\"name\":", i + 1);
        yh_text_json_str(&b, f->ulabels[i]);
        yh_text_add(&b, ",\"type\":\"user\"}");
    }
    yh_text_add(&b, "]}");
    return s_answer(f, reply, 200, &b);
}

static bool
s_label_create(gm_fake_t *f, const yh_http_fake_req_t *req, yh_http_reply_t *reply)
{
    char name[64] = "";
    yh_http_json_t j;
    bool ok = yh_http_json_parse(req, &j) &&
              yard_mp_get_strbuf(&j.obj, "name", name, sizeof name, NULL, 0) == 0 && name[0];
    yh_http_json_free(&j);
    if (!ok) {
        return s_error(f, reply, 400, "invalidArgument", "Invalid label name");
    }
    for (int i = 0; i < f->n_ulabels; i++) {
        if (strcmp(f->ulabels[i], name) == 0) {
            return s_error(f, reply, 409, "duplicate", "Label name exists or conflicts");
        }
    }
    for (int i = 0; s_system[i]; i++) {
        if (strcmp(s_system[i], name) == 0) {
            return s_error(f, reply, 409, "duplicate", "Label name exists or conflicts");
        }
    }
    if (f->n_ulabels == S_MAX_ULABELS) {
        return s_error(f, reply, 400, "invalidArgument", "Too many labels");
    }
    snprintf(f->ulabels[f->n_ulabels++], 64, "%s", name);
    yh_text_t b = {0};
    yh_text_add(&b, "{\"id\":\"Label_%d\",\"name\":", f->n_ulabels);
    yh_text_json_str(&b, name);
    yh_text_add(&b, ",\"messageListVisibility\":\"show\",\"labelListVisibility\":\"labelShow\","
                    "\"type\":\"user\"}");
    return s_answer(f, reply, 200, &b);
}

/* --- dispatch ------------------------------------------------------------------------------ */

/* Which method path and http method name; the message id (for get and modify) into id. */
static int
s_which(const yh_http_fake_req_t *req, char *id, size_t cap)
{
    const char *p = req->path;
    const char *pre = "/gmail/v1/users/me/";
    if (strncmp(p, pre, strlen(pre)) != 0) {
        return -1;
    }
    p += strlen(pre);
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    if (strcmp(p, "profile") == 0 && get) {
        return 0;
    }
    if (strcmp(p, "messages") == 0 && get) {
        return 1;
    }
    if (strcmp(p, "history") == 0 && get) {
        return 4;
    }
    if (strcmp(p, "labels") == 0) {
        return get ? 5 : post ? 6 : -1;
    }
    if (strncmp(p, "messages/", 9) == 0) {
        const char *s = p + 9, *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        snprintf(id, cap, "%.*s", (int)n, s);
        if (!slash && get) {
            return 2;
        }
        if (slash && strcmp(slash, "/modify") == 0 && post) {
            return 3;
        }
    }
    return -1;
}

static bool
s_handle(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg)
{
    gm_fake_t *f = arg;
    char id[64] = "", auth[512] = "";
    int k = s_which(req, id, sizeof id);
    pthread_mutex_lock(&f->srv.lock);
    bool r;
    if (k < 0) {
        r = s_error(f, reply, 404, "notFound", "Not Found");
        pthread_mutex_unlock(&f->srv.lock);
        return r;
    }
    f->calls[k]++;
    if (f->n_order < S_ORDER) {
        f->order[f->n_order++] = k;
    }
    reply->delay_ms = f->delay[k];
    const char *token = yh_http_fake_bearer(req, auth, sizeof auth);
    bool authed = token && (!f->auth || go_fake_valid(f->auth, token));
    if (!authed) {
        r = s_error(f, reply, 401, "authError",
                    "Request had invalid authentication credentials. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential.");
    } else if (f->fail_n[k] > 0) {
        f->fail_n[k]--;
        r = s_error(f, reply, f->fail_status[k], f->fail_reason[k], "Scripted failure");
    } else if (!s_spend(f, s_units[k])) {
        r = s_error(f, reply, 429, "rateLimitExceeded", "Too many requests for user");
    } else if (k == 0) {
        r = s_profile(f, reply);
    } else if (k == 1) {
        r = s_list(f, req, reply);
    } else if (k == 2) {
        r = s_get(f, id, req, reply);
    } else if (k == 3) {
        r = s_modify(f, id, req, reply);
    } else if (k == 4) {
        r = s_history(f, req, reply);
    } else if (k == 5) {
        r = s_labels(f, reply);
    } else {
        r = s_label_create(f, req, reply);
    }
    pthread_mutex_unlock(&f->srv.lock);
    return r;
}

/* --- API ----------------------------------------------------------------------------------- */

gm_fake_t *
gm_fake_start(go_fake_t *auth)
{
    gm_fake_t *f = yh_http_fake_xcalloc(sizeof *f);
    f->msgs = calloc(S_MAX_MSGS, sizeof *f->msgs);
    if (!f->msgs) {
        abort();
    }
    f->auth = auth;
    f->history = 1000;
    yh_fake_srv_start(&f->srv, "/gmail/v1", s_handle, f);
    return f;
}

void
gm_fake_stop(gm_fake_t **f_p)
{
    gm_fake_t *f = *f_p;
    if (!f) {
        return;
    }
    yh_fake_srv_stop(&f->srv);
    for (size_t i = 0; i < f->n_msgs; i++) {
        free(f->msgs[i].from);
        free(f->msgs[i].subject);
        free(f->msgs[i].body);
        free(f->msgs[i].payload);
    }
    free(f->msgs);
    free(f);
    *f_p = NULL;
}

const char *
gm_fake_api_base(gm_fake_t *f)
{
    return f->srv.url;
}

static char *
s_dup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        abort();
    }
    return d;
}

void
gm_fake_add(gm_fake_t *f, const char *from, const char *subject, const char *labels,
            const char *body, const char *payload_json, char *id_out)
{
    pthread_mutex_lock(&f->srv.lock);
    if (f->n_msgs == S_MAX_MSGS) {
        pthread_mutex_unlock(&f->srv.lock);
        abort(); /* a test that needs more is wrong */
    }
    s_msg_t *m = &f->msgs[f->n_msgs++];
    f->history += 3 + f->n_msgs % 5; /* increasing, with gaps, as the real ids */
    m->history = f->history;
    snprintf(m->id, sizeof m->id, "18c1f%011zx", f->n_msgs);
    snprintf(m->thread, sizeof m->thread, "%s", m->id);
    m->from = s_dup(from);
    m->subject = s_dup(subject);
    m->body = s_dup(body ? body : subject);
    m->payload = payload_json ? s_dup(payload_json) : NULL;
    for (const char *p = labels; p && *p && m->n_labels < S_MAX_LABELS;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        snprintf(m->labels[m->n_labels++], 32, "%.*s", (int)n, p);
        p = e ? e + 1 : p + n;
    }
    if (id_out) {
        snprintf(id_out, 32, "%s", m->id);
    }
    pthread_mutex_unlock(&f->srv.lock);
}

void
gm_fake_expire_history(gm_fake_t *f)
{
    pthread_mutex_lock(&f->srv.lock);
    f->min_history = f->history;
    pthread_mutex_unlock(&f->srv.lock);
}

void
gm_fake_page_size(gm_fake_t *f, int n)
{
    pthread_mutex_lock(&f->srv.lock);
    f->page = n;
    pthread_mutex_unlock(&f->srv.lock);
}

static int
s_method(const char *name)
{
    for (int i = 0; i < S_METHODS; i++) {
        if (strcmp(s_methods[i], name) == 0) {
            return i;
        }
    }
    abort(); /* a typo in a test */
}

void
gm_fake_fail(gm_fake_t *f, const char *method, int status, const char *reason, int n)
{
    int k = s_method(method);
    pthread_mutex_lock(&f->srv.lock);
    f->fail_n[k] = n;
    f->fail_status[k] = status;
    snprintf(f->fail_reason[k], sizeof f->fail_reason[k], "%s", reason);
    pthread_mutex_unlock(&f->srv.lock);
}

void
gm_fake_delay(gm_fake_t *f, const char *method, int delay_ms)
{
    int k = s_method(method);
    pthread_mutex_lock(&f->srv.lock);
    f->delay[k] = delay_ms;
    pthread_mutex_unlock(&f->srv.lock);
}

void
gm_fake_rate_limit(gm_fake_t *f, int units_per_s)
{
    pthread_mutex_lock(&f->srv.lock);
    f->rate = units_per_s;
    pthread_mutex_unlock(&f->srv.lock);
}

size_t
gm_fake_calls(gm_fake_t *f, const char *method)
{
    int k = s_method(method);
    pthread_mutex_lock(&f->srv.lock);
    size_t n = f->calls[k];
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

size_t
gm_fake_answers(gm_fake_t *f, int status)
{
    pthread_mutex_lock(&f->srv.lock);
    size_t n = status >= 100 && status < 600 ? f->answers[status] : 0;
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

size_t
gm_fake_units(gm_fake_t *f)
{
    pthread_mutex_lock(&f->srv.lock);
    size_t n = f->units;
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

size_t
gm_fake_full_gets(gm_fake_t *f)
{
    pthread_mutex_lock(&f->srv.lock);
    size_t n = f->full_gets;
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

bool
gm_fake_has_label(gm_fake_t *f, const char *id, const char *label)
{
    pthread_mutex_lock(&f->srv.lock);
    s_msg_t *m = s_msg(f, id);
    bool has = m && s_has(m, label);
    pthread_mutex_unlock(&f->srv.lock);
    return has;
}

const char *
gm_fake_label_id(gm_fake_t *f, const char *name, char *buf)
{
    const char *r = NULL;
    pthread_mutex_lock(&f->srv.lock);
    for (int i = 0; i < f->n_ulabels && !r; i++) {
        if (strcmp(f->ulabels[i], name) == 0) {
            snprintf(buf, 32, "Label_%d", i + 1);
            r = buf;
        }
    }
    pthread_mutex_unlock(&f->srv.lock);
    return r;
}

int
gm_fake_peak_units(gm_fake_t *f)
{
    pthread_mutex_lock(&f->srv.lock);
    int n = f->peak;
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

const char *
gm_fake_call_order(gm_fake_t *f, size_t i)
{
    pthread_mutex_lock(&f->srv.lock);
    const char *m = i < f->n_order ? s_methods[f->order[i]] : NULL;
    pthread_mutex_unlock(&f->srv.lock);
    return m;
}
