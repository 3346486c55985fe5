/* The Elasticsearch _bulk fake (elasticsearch_fake.h). Documents live in an open-addressing
 * hash table keyed by _id; each answer is built per request in a yh_text_t that the reply takes
 * (http_fake.h). */
#include "elasticsearch_fake.h"

#include "http_fake.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_SCRIPT   4096
#define S_MAX_BODY (4u * 1024 * 1024)

typedef struct {
    char *id;
    char *index;
    char *doc;
} s_doc_t;

struct es_fake {
    yh_http_fake_t *http;
    pthread_mutex_t lock;
    es_fake_mode_t mode;
    size_t max_body;
    int delay_ms;
    int script[S_SCRIPT];
    size_t script_n, script_pos;
    char *auth;
    s_doc_t *docs; /* hash table */
    size_t cap, ndocs;
    size_t items, conflicts, requests;
    long seq_no;
};

static char *
s_strndup(const char *s, size_t n)
{
    char *p = yh_http_fake_xcalloc(n + 1);
    memcpy(p, s, n);
    return p;
}

static uint64_t
s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return h;
}

static s_doc_t *
s_slot(es_fake_t *f, const char *id)
{
    size_t i = s_hash(id) & (f->cap - 1);
    while (f->docs[i].id && strcmp(f->docs[i].id, id) != 0) {
        i = (i + 1) & (f->cap - 1);
    }
    return &f->docs[i];
}

static void
s_grow(es_fake_t *f)
{
    s_doc_t *old = f->docs;
    size_t oldcap = f->cap;
    f->cap = f->cap ? f->cap * 2 : 1024;
    f->docs = yh_http_fake_xcalloc(f->cap * sizeof *f->docs);
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].id) {
            *s_slot(f, old[i].id) = old[i];
        }
    }
    free(old);
}

/* The string value of "key":"..." in a JSON action line (no escapes in ids or index names). */
static bool
s_field(const char *line, size_t n, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = memmem(line, n, pat, strlen(pat));
    if (!p) {
        return false;
    }
    p += strlen(pat);
    const char *e = memchr(p, '"', (size_t)(line + n - p));
    if (!e || (size_t)(e - p) >= cap) {
        return false;
    }
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

static void
s_item_error(yh_text_t *o, const char *action, const char *index, const char *id, int status,
             const char *type, const char *reason)
{
    yh_text_add(
        o,
        "{\"%s\":{\"_index\":\"%s\",\"_id\":\"%s\",\"status\":%d,\"error\":{\"type\":\"%s\","
        "\"reason\":\"%s\",\"index_uuid\":\"aAsFqTI0Tc2W0LCWgPNrOA\",\"shard\":\"0\","
        "\"index\":\"%s\"}}}",
        action, index, id, status, type, reason, index);
}

/* One action + source pair; the caller holds the lock. */
static bool
s_item(es_fake_t *f, yh_text_t *o, const char *act, size_t an, const char *doc, size_t dn,
       const char *path_index)
{
    char action[16] = "create", index[256] = "", id[256] = "";
    const char *q = memchr(act, '"', an);
    if (q) {
        const char *e = memchr(q + 1, '"', (size_t)(act + an - q - 1));
        if (e && (size_t)(e - q - 1) < sizeof action) {
            memcpy(action, q + 1, (size_t)(e - q - 1));
            action[e - q - 1] = '\0';
        }
    }
    if (!s_field(act, an, "_index", index, sizeof index)) {
        snprintf(index, sizeof index, "%s", path_index ? path_index : "");
    }
    bool has_id = s_field(act, an, "_id", id, sizeof id);
    if (!has_id) {
        snprintf(id, sizeof id, "auto-%ld", f->seq_no + 1);
    }
    f->items++;
    int status = f->script_pos < f->script_n ? f->script[f->script_pos++] : 201;
    if (status == 201 && (dn == 0 || doc[0] != '{')) {
        status = 400;
    }
    s_doc_t *slot = s_slot(f, id);
    if (status == 201 && slot->id && strcmp(action, "create") == 0) {
        status = 409;
        f->conflicts++;
    }
    if (status == 201) {
        if (!slot->id) {
            if ((f->ndocs + 1) * 2 > f->cap) {
                s_grow(f);
                slot = s_slot(f, id);
            }
            slot->id = strdup(id);
            f->ndocs++;
        } else {
            free(slot->index);
            free(slot->doc);
        }
        slot->index = strdup(index);
        slot->doc = s_strndup(doc, dn);
        yh_text_add(
            o,
            "{\"%s\":{\"_index\":\"%s\",\"_id\":\"%s\",\"_version\":1,\"result\":\"created\","
            "\"_shards\":{\"total\":2,\"successful\":1,\"failed\":0},\"_seq_no\":%ld,"
            "\"_primary_term\":1,\"status\":201}}",
            action, index, id, f->seq_no++);
        return false;
    }
    if (status == 409) {
        char reason[400];
        snprintf(reason, sizeof reason,
                 "[%s]: version conflict, document already exists (current version [1])", id);
        s_item_error(o, action, index, id, 409, "version_conflict_engine_exception", reason);
    } else if (status == 429) {
        s_item_error(o, action, index, id, 429, "es_rejected_execution_exception",
                     "rejected execution of coordinating operation [coordinating_and_primary_"
                     "bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, "
                     "max_coordinating_and_primary_bytes=1]");
    } else if (status >= 500) {
        s_item_error(o, action, index, id, status, "unavailable_shards_exception",
                     "[0] primary shard is not active Timeout: [1m]");
    } else {
        s_item_error(o, action, index, id, status, "mapper_parsing_exception",
                     "failed to parse field [message] of type [text] in document");
    }
    return true;
}

static bool
s_whole(yh_http_reply_t *reply, int status, const char *type, const char *reason)
{
    yh_text_t body = {0};
    yh_text_add(&body,
                "{\"error\":{\"root_cause\":[{\"type\":\"%s\",\"reason\":\"%s\"}],\"type\":\"%s\","
                "\"reason\":\"%s\"},\"status\":%d}",
                type, reason, type, reason, status);
    return yh_http_reply_take(reply, status, body.s, "Content-Type: application/json");
}

static bool
s_handle(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg)
{
    es_fake_t *f = arg;
    const char *path = req->path;
    size_t pl = strlen(path);
    if (pl < 6 || strcmp(path + pl - 6, "/_bulk") != 0) {
        return false;
    }
    char path_index[256] = "";
    if (pl > 7 && pl - 7 < sizeof path_index) {
        memcpy(path_index, path + 1, pl - 7);
    }
    if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0) {
        return s_whole(reply, 405, "method_not_allowed", "Incorrect HTTP method for uri");
    }
    char ct[128] = "", auth[1024] = "";
    yh_http_fake_header(req, "Content-Type", ct, sizeof ct);
    yh_http_fake_header(req, "Authorization", auth, sizeof auth);
    pthread_mutex_lock(&f->lock);
    f->requests++;
    es_fake_mode_t mode = f->mode;
    size_t max_body = f->max_body;
    bool auth_ok = !f->auth || strcmp(f->auth, auth) == 0;
    pthread_mutex_unlock(&f->lock);
    if (!auth_ok) {
        return s_whole(reply, 401, "security_exception",
                       "missing authentication credentials for REST request [/_bulk]");
    }
    if (mode == ES_FAKE_UNAVAILABLE) {
        return s_whole(reply, 503, "cluster_block_exception",
                       "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];");
    }
    if (mode == ES_FAKE_REJECTING) {
        return s_whole(reply, 429, "es_rejected_execution_exception",
                       "rejected execution of coordinating operation");
    }
    if (req->body_len > max_body) {
        return s_whole(reply, 413, "content_too_long_exception", "request body is too large");
    }
    if (strncmp(ct, "application/json", 16) != 0 && strncmp(ct, "application/x-ndjson", 20) != 0) {
        return s_whole(reply, 406, "media_type_header_exception",
                       "Content-Type header is not supported");
    }
    if (req->body_len == 0 || req->body[req->body_len - 1] != '\n') {
        return s_whole(reply, 400, "illegal_argument_exception",
                       "The bulk request must be terminated by a newline [\\\\n]");
    }
    yh_text_t out = {0}, *o = &out;
    pthread_mutex_lock(&f->lock);
    yh_text_add(o, "{\"took\":3,\"errors\":false,\"items\":[");
    bool errors = false;
    size_t i = 0, n = 0;
    while (i < req->body_len) {
        const char *a = req->body + i;
        const char *nl = memchr(a, '\n', req->body_len - i);
        size_t an = (size_t)(nl - a);
        const char *d = nl + 1;
        const char *nl2 = d < req->body + req->body_len
                              ? memchr(d, '\n', (size_t)(req->body + req->body_len - d))
                              : NULL;
        size_t dn = nl2 ? (size_t)(nl2 - d) : 0;
        if (n++ > 0) {
            yh_text_add(o, ",");
        }
        errors = s_item(f, o, a, an, d, dn, path_index[0] ? path_index : NULL) || errors;
        i = nl2 ? (size_t)(nl2 + 1 - req->body) : req->body_len;
    }
    yh_text_add(o, "]}");
    if (errors) {
        memcpy(o->s + 19, "true ", 5); /* "errors":false -> "errors":true (same length) */
    }
    yh_http_reply_take(reply, 200, o->s, "Content-Type: application/json");
    reply->body_len = o->n;
    reply->delay_ms = f->delay_ms;
    pthread_mutex_unlock(&f->lock);
    return true;
}

static es_fake_t *
s_start(bool tls)
{
    es_fake_t *f = yh_http_fake_xcalloc(sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    f->max_body = S_MAX_BODY;
    s_grow(f);
    f->http =
        tls ? yh_http_fake_start_tls(yh_test_cert_pem, yh_test_key_pem) : yh_http_fake_start();
    yh_http_fake_handler(f->http, s_handle, f);
    return f;
}

es_fake_t *
es_fake_start(void)
{
    return s_start(false);
}

es_fake_t *
es_fake_start_tls(void)
{
    return s_start(true);
}

void
es_fake_stop(es_fake_t **f_p)
{
    es_fake_t *f = *f_p;
    if (!f) {
        return;
    }
    yh_http_fake_stop(&f->http);
    for (size_t i = 0; i < f->cap; i++) {
        free(f->docs[i].id);
        free(f->docs[i].index);
        free(f->docs[i].doc);
    }
    free(f->docs);
    free(f->auth);
    pthread_mutex_destroy(&f->lock);
    free(f);
    *f_p = NULL;
}

const char *
es_fake_url(es_fake_t *f)
{
    static _Thread_local char buf[64];
    const char *url = yh_http_fake_url(f->http, "");
    snprintf(buf, sizeof buf, "%s", url);
    return buf;
}

const char *
es_fake_closed_url(void)
{
    static _Thread_local char buf[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        abort();
    }
    close(fd);
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    return buf;
}

void
es_fake_mode(es_fake_t *f, es_fake_mode_t mode)
{
    pthread_mutex_lock(&f->lock);
    f->mode = mode;
    pthread_mutex_unlock(&f->lock);
}

void
es_fake_max_body(es_fake_t *f, size_t bytes)
{
    pthread_mutex_lock(&f->lock);
    f->max_body = bytes < S_MAX_BODY ? bytes : S_MAX_BODY;
    pthread_mutex_unlock(&f->lock);
}

void
es_fake_item_statuses(es_fake_t *f, const int *statuses, size_t n)
{
    pthread_mutex_lock(&f->lock);
    f->script_n = n < S_SCRIPT ? n : S_SCRIPT;
    memcpy(f->script, statuses, f->script_n * sizeof *statuses);
    f->script_pos = 0;
    pthread_mutex_unlock(&f->lock);
}

void
es_fake_delay(es_fake_t *f, int ms)
{
    pthread_mutex_lock(&f->lock);
    f->delay_ms = ms;
    pthread_mutex_unlock(&f->lock);
}

void
es_fake_require_auth(es_fake_t *f, const char *authorization)
{
    pthread_mutex_lock(&f->lock);
    free(f->auth);
    f->auth = authorization ? strdup(authorization) : NULL;
    pthread_mutex_unlock(&f->lock);
}

#define S_GETTER(name, field)                                                                      \
    size_t name(es_fake_t *f)                                                                      \
    {                                                                                              \
        pthread_mutex_lock(&f->lock);                                                              \
        size_t v = f->field;                                                                       \
        pthread_mutex_unlock(&f->lock);                                                            \
        return v;                                                                                  \
    }
S_GETTER(es_fake_docs, ndocs)
S_GETTER(es_fake_items, items)
S_GETTER(es_fake_conflicts, conflicts)
S_GETTER(es_fake_requests, requests)

void
es_fake_each(es_fake_t *f, void (*fn)(const char *, const char *, const char *, void *), void *arg)
{
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->cap; i++) {
        if (f->docs[i].id) {
            fn(f->docs[i].id, f->docs[i].index, f->docs[i].doc, arg);
        }
    }
    pthread_mutex_unlock(&f->lock);
}
