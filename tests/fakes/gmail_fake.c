/* The Gmail API fake (gmail_fake.h). One mailbox under a lock; answers are built as JSON text
 * and kept until stop (http_fake copies a reply after the handler returns). */
#include "gmail_fake.h"

#include "http_fake.h"
#include "yard/json.h"
#include "yard/mp.h"

#include <pthread.h>
#include <stdarg.h>
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
    yh_http_fake_t *http;
    go_fake_t *auth;
    pthread_mutex_t lock;
    char base[128];
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
    char **bodies;
    size_t n_bodies, cap_bodies;
    int order[S_ORDER];
    size_t n_order;
};

/* --- a growing JSON text ------------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t n, cap;
} s_buf_t;

static void
s_put(s_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)need + 1 > b->cap) {
        b->cap = (b->n + (size_t)need + 1) * 2;
        b->s = realloc(b->s, b->cap);
        if (!b->s) {
            abort();
        }
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

static void
s_str(s_buf_t *b, const char *s)
{
    s_put(b, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            s_put(b, "\\%c", c);
        } else if (c < 0x20) {
            s_put(b, "\\u%04x", c);
        } else {
            s_put(b, "%c", c);
        }
    }
    s_put(b, "\"");
}

static void
s_b64url(s_buf_t *b, const char *in, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        v |= i + 1 < n ? (uint32_t)(unsigned char)in[i + 1] << 8 : 0;
        v |= i + 2 < n ? (unsigned char)in[i + 2] : 0;
        s_put(b, "%c%c", al[(v >> 18) & 63], al[(v >> 12) & 63]);
        if (i + 1 < n) {
            s_put(b, "%c", al[(v >> 6) & 63]);
        }
        if (i + 2 < n) {
            s_put(b, "%c", al[v & 63]);
        }
    }
}

/* --- answers ------------------------------------------------------------------------------- */

static bool
s_answer(gm_fake_t *f, yh_http_reply_t *reply, int status, s_buf_t *b)
{
    if (f->n_bodies == f->cap_bodies) {
        f->cap_bodies = f->cap_bodies ? f->cap_bodies * 2 : 256;
        f->bodies = realloc(f->bodies, f->cap_bodies * sizeof *f->bodies);
        if (!f->bodies) {
            abort();
        }
    }
    f->bodies[f->n_bodies++] = b->s;
    reply->status = status;
    reply->body = b->s;
    reply->headers = "Content-Type: application/json; charset=UTF-8";
    if (status >= 100 && status < 600) {
        f->answers[status]++;
    }
    return true;
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
    s_buf_t b = {0};
    const char *domain = code == 429 || strstr(reason, "RateLimit") || strstr(reason, "rateLimit")
                             ? "usageLimits"
                             : "global";
    s_put(&b, "{\"error\":{\"code\":%d,\"message\":", code);
    s_str(&b, message);
    s_put(&b, ",\"errors\":[{\"message\":");
    s_str(&b, message);
    s_put(&b, ",\"domain\":\"%s\",\"reason\":\"%s\"}],\"status\":\"%s\"}}", domain, reason,
          s_status_name(code));
    return s_answer(f, reply, code, &b);
}

static long long
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Counts units in the last second; true when they fit under the rate limit. */
static bool
s_spend(gm_fake_t *f, int units)
{
    long long now = s_now_ms();
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
s_labels_json(s_buf_t *b, const s_msg_t *m)
{
    s_put(b, "[");
    for (int i = 0; i < m->n_labels; i++) {
        s_put(b, "%s\"%s\"", i ? "," : "", m->labels[i]);
    }
    s_put(b, "]");
}

/* A query parameter's value (the first), into out; false when absent. */
static bool
s_param(const char *query, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            const char *v = p + kl + 1, *e = strchr(v, '&');
            size_t n = e ? (size_t)(e - v) : strlen(v);
            n = n < cap - 1 ? n : cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

/* True when query names key=value (any occurrence). */
static bool
s_param_has(const char *query, const char *key, const char *value)
{
    char want[256];
    snprintf(want, sizeof want, "%s=%s", key, value);
    size_t wl = strlen(want);
    for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, want, wl) == 0 && (p[wl] == '&' || p[wl] == '\0')) {
            return true;
        }
    }
    return false;
}

static int
s_page_size(gm_fake_t *f, const char *query)
{
    char v[32];
    int n = s_param(query, "maxResults", v, sizeof v) ? atoi(v) : 100;
    n = n < 1 ? 1 : n > 500 ? 500 : n;
    return f->page > 0 && f->page < n ? f->page : n;
}

/* --- methods ------------------------------------------------------------------------------- */

static bool
s_profile(gm_fake_t *f, yh_http_reply_t *reply)
{
    s_buf_t b = {0};
    s_put(&b,
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
    size_t skip = s_param(req->query, "pageToken", tok, sizeof tok) ? strtoul(tok, NULL, 10) : 0;
    bool unread = s_param_has(req->query, "q", "is:unread");
    s_buf_t b = {0};
    s_put(&b, "{\"messages\":[");
    size_t seen = 0, put = 0;
    bool more = false;
    for (size_t k = f->n_msgs; k-- > 0;) { /* newest first */
        s_msg_t *m = &f->msgs[k];
        bool ok = !unread || s_has(m, "UNREAD");
        for (const char *p = req->query; ok && p && *p;
             p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
            if (strncmp(p, "labelIds=", 9) == 0) {
                char lab[64];
                const char *e = strchr(p + 9, '&');
                size_t n = e ? (size_t)(e - p - 9) : strlen(p + 9);
                snprintf(lab, sizeof lab, "%.*s", (int)n, p + 9);
                ok = s_has(m, lab);
            }
        }
        if (!ok || seen++ < skip) {
            continue;
        }
        if ((int)put == size) {
            more = true;
            break;
        }
        s_put(&b, "%s{\"id\":\"%s\",\"threadId\":\"%s\"}", put ? "," : "", m->id, m->thread);
        put++;
    }
    s_put(&b, "]");
    if (more) {
        s_put(&b, ",\"nextPageToken\":\"%zu\"", skip + put);
    }
    s_put(&b, ",\"resultSizeEstimate\":%zu}", put);
    if (put == 0) { /* the real API leaves "messages" out when there is none */
        b.n = 0;
        s_put(&b, "{\"resultSizeEstimate\":0}");
    }
    return s_answer(f, reply, 200, &b);
}

static void
s_headers(s_buf_t *b, const s_msg_t *m, const char *query, bool all)
{
    const char *names[] = {"From", "To", "Subject", "Date", "Message-ID"};
    char msgid[80];
    snprintf(msgid, sizeof msgid, "<%s@mail.example.com>", m->id);
    const char *values[] = {m->from, "me@example.com", m->subject,
                            "Fri, 04 Dec 2026 10:00:00 +0000", msgid};
    s_put(b, "\"headers\":[");
    int put = 0;
    for (int i = 0; i < 5; i++) {
        if (!all && !s_param_has(query, "metadataHeaders", names[i])) {
            continue;
        }
        s_put(b, "%s{\"name\":\"%s\",\"value\":", put++ ? "," : "", names[i]);
        s_str(b, values[i]);
        s_put(b, "}");
    }
    s_put(b, "]");
}

static bool
s_get(gm_fake_t *f, const char *id, const yh_http_fake_req_t *req, yh_http_reply_t *reply)
{
    s_msg_t *m = s_msg(f, id);
    if (!m) {
        return s_error(f, reply, 404, "notFound", "Requested entity was not found.");
    }
    char format[16] = "full";
    s_param(req->query, "format", format, sizeof format);
    bool full = strcmp(format, "full") == 0;
    f->full_gets += full;
    s_buf_t b = {0};
    s_put(&b, "{\"id\":\"%s\",\"threadId\":\"%s\",\"labelIds\":", m->id, m->thread);
    s_labels_json(&b, m);
    s_put(&b, ",\"snippet\":");
    s_str(&b, m->subject);
    s_put(&b,
          ",\"historyId\":\"%llu\",\"internalDate\":\"1796378400000\",\"sizeEstimate\":%zu,"
          "\"payload\":",
          (unsigned long long)m->history, strlen(m->body) + 300);
    if (full && m->payload) {
        s_put(&b, "%s", m->payload);
    } else {
        s_put(&b, "{\"partId\":\"\",\"mimeType\":\"text/plain\",\"filename\":\"\",");
        s_headers(&b, m, req->query, full);
        if (full) {
            s_put(&b, ",\"body\":{\"size\":%zu,\"data\":\"", strlen(m->body));
            s_b64url(&b, m->body, strlen(m->body));
            s_put(&b, "\"}");
        }
        s_put(&b, "}");
    }
    s_put(&b, "}");
    return s_answer(f, reply, 200, &b);
}

static bool
s_modify(gm_fake_t *f, const char *id, const yh_http_fake_req_t *req, yh_http_reply_t *reply)
{
    s_msg_t *m = s_msg(f, id);
    if (!m) {
        return s_error(f, reply, 404, "notFound", "Requested entity was not found.");
    }
    void *mp = NULL;
    size_t size = 0;
    if (yard_json_to_msgpack(req->body, req->body_len, &mp, &size, NULL, 0) != 0) {
        return s_error(f, reply, 400, "invalidArgument", "Invalid JSON payload received.");
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    const char *const *add = NULL, *const *rem = NULL;
    size_t n_add = 0, n_rem = 0;
    bool ok = yard_mp_decode(mp, size, &zone, &obj, NULL, 0) == 0;
    if (ok) {
        yard_mp_get_strs(&obj, "addLabelIds", &zone, 100, &add, &n_add, NULL, 0);
        yard_mp_get_strs(&obj, "removeLabelIds", &zone, 100, &rem, &n_rem, NULL, 0);
    }
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
        s_buf_t b = {0};
        s_put(&b, "{\"id\":\"%s\",\"threadId\":\"%s\",\"labelIds\":", m->id, m->thread);
        s_labels_json(&b, m);
        s_put(&b, "}");
        r = s_answer(f, reply, 200, &b);
    }
    msgpack_zone_destroy(&zone);
    free(mp);
    return r;
}

static bool
s_history(gm_fake_t *f, const yh_http_fake_req_t *req, yh_http_reply_t *reply)
{
    char v[32];
    if (!s_param(req->query, "startHistoryId", v, sizeof v)) {
        return s_error(f, reply, 400, "invalidArgument", "Missing required field startHistoryId");
    }
    uint64_t start = strtoull(v, NULL, 10);
    if (start < f->min_history) {
        return s_error(f, reply, 404, "notFound", "Requested entity was not found.");
    }
    int size = s_page_size(f, req->query);
    size_t skip = s_param(req->query, "pageToken", v, sizeof v) ? strtoul(v, NULL, 10) : 0;
    s_buf_t b = {0};
    s_put(&b, "{\"history\":[");
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
        s_put(&b,
              "%s{\"id\":\"%llu\",\"messages\":[{\"id\":\"%s\",\"threadId\":\"%s\"}],"
              "\"messagesAdded\":[{\"message\":{\"id\":\"%s\",\"threadId\":\"%s\",\"labelIds\":",
              put ? "," : "", (unsigned long long)m->history, m->id, m->thread, m->id, m->thread);
        s_labels_json(&b, m);
        s_put(&b, "}}]}");
        put++;
    }
    s_put(&b, "]");
    if (more) {
        s_put(&b, ",\"nextPageToken\":\"%zu\"", skip + put);
    }
    s_put(&b, ",\"historyId\":\"%llu\"}", (unsigned long long)f->history);
    return s_answer(f, reply, 200, &b);
}

static bool
s_labels(gm_fake_t *f, yh_http_reply_t *reply)
{
    s_buf_t b = {0};
    s_put(&b, "{\"labels\":[");
    int put = 0;
    for (int i = 0; s_system[i]; i++) {
        s_put(&b, "%s{\"id\":\"%s\",\"name\":\"%s\",\"type\":\"system\"}", put++ ? "," : "",
              s_system[i], s_system[i]);
    }
    for (int i = 0; i < f->n_ulabels; i++) {
        s_put(&b, ",{\"id\":\"Label_%d\",\"name\":", i + 1);
        s_str(&b, f->ulabels[i]);
        s_put(&b, ",\"type\":\"user\"}");
    }
    s_put(&b, "]}");
    return s_answer(f, reply, 200, &b);
}

static bool
s_label_create(gm_fake_t *f, const yh_http_fake_req_t *req, yh_http_reply_t *reply)
{
    void *mp = NULL;
    size_t size = 0;
    char name[64] = "";
    msgpack_zone zone;
    msgpack_zone_init(&zone, 512);
    msgpack_object obj;
    bool ok = yard_json_to_msgpack(req->body, req->body_len, &mp, &size, NULL, 0) == 0 &&
              yard_mp_decode(mp, size, &zone, &obj, NULL, 0) == 0 &&
              yard_mp_get_strbuf(&obj, "name", name, sizeof name, NULL, 0) == 0 && name[0];
    msgpack_zone_destroy(&zone);
    free(mp);
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
    s_buf_t b = {0};
    s_put(&b, "{\"id\":\"Label_%d\",\"name\":", f->n_ulabels);
    s_str(&b, name);
    s_put(&b, ",\"messageListVisibility\":\"show\",\"labelListVisibility\":\"labelShow\","
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
    pthread_mutex_lock(&f->lock);
    bool r;
    if (k < 0) {
        r = s_error(f, reply, 404, "notFound", "Not Found");
        pthread_mutex_unlock(&f->lock);
        return r;
    }
    f->calls[k]++;
    if (f->n_order < S_ORDER) {
        f->order[f->n_order++] = k;
    }
    reply->delay_ms = f->delay[k];
    yh_http_fake_header(req, "Authorization", auth, sizeof auth);
    bool authed = strncmp(auth, "Bearer ", 7) == 0 && auth[7] &&
                  (!f->auth || go_fake_valid(f->auth, auth + 7));
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
    pthread_mutex_unlock(&f->lock);
    return r;
}

/* --- API ----------------------------------------------------------------------------------- */

gm_fake_t *
gm_fake_start(go_fake_t *auth)
{
    gm_fake_t *f = calloc(1, sizeof *f);
    if (!f) {
        abort();
    }
    f->msgs = calloc(S_MAX_MSGS, sizeof *f->msgs);
    if (!f->msgs) {
        abort();
    }
    pthread_mutex_init(&f->lock, NULL);
    f->auth = auth;
    f->history = 1000;
    f->http = yh_http_fake_start();
    snprintf(f->base, sizeof f->base, "%s", yh_http_fake_url(f->http, "/gmail/v1"));
    yh_http_fake_handler(f->http, s_handle, f);
    return f;
}

void
gm_fake_stop(gm_fake_t **f_p)
{
    gm_fake_t *f = *f_p;
    if (!f) {
        return;
    }
    yh_http_fake_stop(&f->http);
    for (size_t i = 0; i < f->n_msgs; i++) {
        free(f->msgs[i].from);
        free(f->msgs[i].subject);
        free(f->msgs[i].body);
        free(f->msgs[i].payload);
    }
    free(f->msgs);
    for (size_t i = 0; i < f->n_bodies; i++) {
        free(f->bodies[i]);
    }
    free(f->bodies);
    pthread_mutex_destroy(&f->lock);
    free(f);
    *f_p = NULL;
}

const char *
gm_fake_api_base(gm_fake_t *f)
{
    return f->base;
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
    pthread_mutex_lock(&f->lock);
    if (f->n_msgs == S_MAX_MSGS) {
        pthread_mutex_unlock(&f->lock);
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
    pthread_mutex_unlock(&f->lock);
}

void
gm_fake_expire_history(gm_fake_t *f)
{
    pthread_mutex_lock(&f->lock);
    f->min_history = f->history;
    pthread_mutex_unlock(&f->lock);
}

void
gm_fake_page_size(gm_fake_t *f, int n)
{
    pthread_mutex_lock(&f->lock);
    f->page = n;
    pthread_mutex_unlock(&f->lock);
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
    pthread_mutex_lock(&f->lock);
    f->fail_n[k] = n;
    f->fail_status[k] = status;
    snprintf(f->fail_reason[k], sizeof f->fail_reason[k], "%s", reason);
    pthread_mutex_unlock(&f->lock);
}

void
gm_fake_delay(gm_fake_t *f, const char *method, int delay_ms)
{
    int k = s_method(method);
    pthread_mutex_lock(&f->lock);
    f->delay[k] = delay_ms;
    pthread_mutex_unlock(&f->lock);
}

void
gm_fake_rate_limit(gm_fake_t *f, int units_per_s)
{
    pthread_mutex_lock(&f->lock);
    f->rate = units_per_s;
    pthread_mutex_unlock(&f->lock);
}

size_t
gm_fake_calls(gm_fake_t *f, const char *method)
{
    int k = s_method(method);
    pthread_mutex_lock(&f->lock);
    size_t n = f->calls[k];
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t
gm_fake_answers(gm_fake_t *f, int status)
{
    pthread_mutex_lock(&f->lock);
    size_t n = status >= 100 && status < 600 ? f->answers[status] : 0;
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t
gm_fake_units(gm_fake_t *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->units;
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t
gm_fake_full_gets(gm_fake_t *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->full_gets;
    pthread_mutex_unlock(&f->lock);
    return n;
}

bool
gm_fake_has_label(gm_fake_t *f, const char *id, const char *label)
{
    pthread_mutex_lock(&f->lock);
    s_msg_t *m = s_msg(f, id);
    bool has = m && s_has(m, label);
    pthread_mutex_unlock(&f->lock);
    return has;
}

const char *
gm_fake_label_id(gm_fake_t *f, const char *name, char *buf)
{
    const char *r = NULL;
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < f->n_ulabels && !r; i++) {
        if (strcmp(f->ulabels[i], name) == 0) {
            snprintf(buf, 32, "Label_%d", i + 1);
            r = buf;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return r;
}

int
gm_fake_peak_units(gm_fake_t *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->peak;
    pthread_mutex_unlock(&f->lock);
    return n;
}

const char *
gm_fake_call_order(gm_fake_t *f, size_t i)
{
    pthread_mutex_lock(&f->lock);
    const char *m = i < f->n_order ? s_methods[f->order[i]] : NULL;
    pthread_mutex_unlock(&f->lock);
    return m;
}
