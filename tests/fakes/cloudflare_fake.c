/* The Cloudflare API v4 fake (cloudflare_fake.h). */
#include "cloudflare_fake.h"

#include "http_fake.h"
#include "yard/json.h"
#include "yard/mp.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_ZONES   8
#define S_RECORDS 32
#define S_BODY    8192

typedef struct {
    char name[256], id[64];
} s_zone_t;

typedef struct {
    char zone[64], id[64], type[16], name[256], content[128];
    int64_t ttl;
    bool proxied;
} s_rec_t;

struct yh_cloudflare {
    yh_fake_srv_t srv;
    char token[256], ro_token[256];
    s_zone_t zones[S_ZONES];
    size_t n_zones;
    s_rec_t recs[S_RECORDS];
    size_t n_recs;
    unsigned next_id;
    int inject_status, inject_retry;
    size_t inject_n;
    unsigned limit, window_s, used;
    time_t window_start;
};

/* An error envelope. */
static void
s_error(yh_http_reply_t *reply, char *body, int status, int code, const char *msg,
        const char *chain)
{
    snprintf(body, S_BODY,
             "{\"success\":false,\"errors\":[{\"code\":%d,\"message\":\"%s\"%s%s%s}],"
             "\"messages\":[],\"result\":null}",
             code, msg, chain ? ",\"error_chain\":[" : "", chain ? chain : "", chain ? "]" : "");
    reply->status = status;
}

static int
s_rec_json(const s_rec_t *r, const char *zone_name, char *out, size_t cap)
{
    return snprintf(out, cap,
                    "{\"id\":\"%s\",\"zone_id\":\"%s\",\"zone_name\":\"%s\",\"name\":\"%s\","
                    "\"type\":\"%s\",\"content\":\"%s\",\"proxiable\":true,\"proxied\":%s,"
                    "\"ttl\":%lld,\"locked\":false,\"meta\":{},\"comment\":null,\"tags\":[]}",
                    r->id, r->zone, zone_name, r->name, r->type, r->content,
                    r->proxied ? "true" : "false", (long long)r->ttl);
}

/* The success envelope around one record. */
static void
s_rec_result(const s_rec_t *r, const s_zone_t *z, yh_http_reply_t *reply, char *body)
{
    int n = snprintf(body, S_BODY, "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":");
    n += s_rec_json(r, z->name, body + n, S_BODY - (size_t)n);
    snprintf(body + n, S_BODY - (size_t)n, "}");
    reply->status = 200;
}

static const s_zone_t *
s_zone_by_id(yh_cloudflare_t *f, const char *id)
{
    for (size_t i = 0; i < f->n_zones; i++) {
        if (strcmp(f->zones[i].id, id) == 0) {
            return &f->zones[i];
        }
    }
    return NULL;
}

static void
s_list_zones(yh_cloudflare_t *f, const yh_http_fake_req_t *req, char *body)
{
    char name[256];
    bool by_name = yh_http_query_param(req->query, "name", name, sizeof name);
    int n = snprintf(body, S_BODY, "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":[");
    size_t count = 0;
    for (size_t i = 0; i < f->n_zones; i++) {
        if (by_name && strcmp(f->zones[i].name, name) != 0) {
            continue;
        }
        n += snprintf(body + n, S_BODY - (size_t)n,
                      "%s{\"id\":\"%s\",\"name\":\"%s\",\"status\":\"active\",\"paused\":false}",
                      count++ ? "," : "", f->zones[i].id, f->zones[i].name);
    }
    snprintf(body + n, S_BODY - (size_t)n,
             "],\"result_info\":{\"page\":1,\"per_page\":20,\"count\":%zu,\"total_count\":%zu}}",
             count, count);
}

static void
s_list_records(yh_cloudflare_t *f, const s_zone_t *z, const yh_http_fake_req_t *req, char *body)
{
    char type[16], name[256];
    bool by_type = yh_http_query_param(req->query, "type", type, sizeof type);
    bool by_name = yh_http_query_param(req->query, "name", name, sizeof name);
    int n = snprintf(body, S_BODY, "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":[");
    size_t count = 0;
    for (size_t i = 0; i < f->n_recs; i++) {
        const s_rec_t *r = &f->recs[i];
        if (strcmp(r->zone, z->id) != 0 || (by_type && strcmp(r->type, type) != 0) ||
            (by_name && strcmp(r->name, name) != 0)) {
            continue;
        }
        n += snprintf(body + n, S_BODY - (size_t)n, "%s", count++ ? "," : "");
        n += s_rec_json(r, z->name, body + n, S_BODY - (size_t)n);
    }
    snprintf(body + n, S_BODY - (size_t)n,
             "],\"result_info\":{\"page\":1,\"per_page\":100,\"count\":%zu,\"total_count\":%zu}}",
             count, count);
}

/* Fields of a JSON request body; false when it is not a JSON object. */
typedef struct {
    char type[16], name[256], content[128];
    int64_t ttl;
    bool proxied, has_ttl, has_proxied;
} s_fields_t;

static bool
s_fields(const yh_http_fake_req_t *req, s_fields_t *out)
{
    memset(out, 0, sizeof *out);
    yh_http_json_t j;
    bool ok = yh_http_json_parse(req, &j) && j.obj.type == MSGPACK_OBJECT_MAP;
    if (ok) {
        const msgpack_object *m = &j.obj;
        yard_mp_get_strbuf(m, "type", out->type, sizeof out->type, NULL, 0);
        yard_mp_get_strbuf(m, "name", out->name, sizeof out->name, NULL, 0);
        yard_mp_get_strbuf(m, "content", out->content, sizeof out->content, NULL, 0);
        out->has_ttl = yard_mp_get_int(m, "ttl", &out->ttl, NULL, 0) == 0;
        out->has_proxied = yard_mp_get_bool(m, "proxied", &out->proxied, NULL, 0) == 0;
    }
    yh_http_json_free(&j);
    return ok;
}

static bool
s_content_ok(const char *type, const char *content)
{
    unsigned char bin[16];
    return inet_pton(strcmp(type, "AAAA") == 0 ? AF_INET6 : AF_INET, content, bin) == 1;
}

static void
s_create(yh_cloudflare_t *f, const s_zone_t *z, const yh_http_fake_req_t *req,
         yh_http_reply_t *reply, char *body)
{
    s_fields_t in;
    if (!s_fields(req, &in) || !in.type[0] || !in.name[0] || !in.content[0]) {
        s_error(reply, body, 400, 1004, "DNS Validation Error", NULL);
        return;
    }
    if ((strcmp(in.type, "A") == 0 || strcmp(in.type, "AAAA") == 0) &&
        !s_content_ok(in.type, in.content)) {
        s_error(reply, body, 400, 9005, "Content for the record is invalid", NULL);
        return;
    }
    for (size_t i = 0; i < f->n_recs; i++) {
        const s_rec_t *r = &f->recs[i];
        if (strcmp(r->zone, z->id) == 0 && strcmp(r->type, in.type) == 0 &&
            strcmp(r->name, in.name) == 0 && strcmp(r->content, in.content) == 0) {
            s_error(reply, body, 400, 81058, "An identical record already exists.", NULL);
            return;
        }
    }
    if (f->n_recs >= S_RECORDS) {
        s_error(reply, body, 400, 81045, "Record quota exceeded.", NULL);
        return;
    }
    s_rec_t *r = &f->recs[f->n_recs++];
    memset(r, 0, sizeof *r);
    snprintf(r->zone, sizeof r->zone, "%s", z->id);
    snprintf(r->id, sizeof r->id, "rec%08u0000000000000000000000", ++f->next_id);
    snprintf(r->type, sizeof r->type, "%s", in.type);
    snprintf(r->name, sizeof r->name, "%s", in.name);
    snprintf(r->content, sizeof r->content, "%s", in.content);
    r->ttl = in.has_ttl ? in.ttl : 1;
    r->proxied = in.has_proxied && in.proxied;
    s_rec_result(r, z, reply, body);
}

static void
s_patch(yh_cloudflare_t *f, const s_zone_t *z, const char *rid, const yh_http_fake_req_t *req,
        yh_http_reply_t *reply, char *body)
{
    s_rec_t *r = NULL;
    for (size_t i = 0; i < f->n_recs && !r; i++) {
        if (strcmp(f->recs[i].zone, z->id) == 0 && strcmp(f->recs[i].id, rid) == 0) {
            r = &f->recs[i];
        }
    }
    if (!r) {
        s_error(reply, body, 404, 81044, "Record does not exist.", NULL);
        return;
    }
    s_fields_t in;
    if (!s_fields(req, &in)) {
        s_error(reply, body, 400, 1004, "DNS Validation Error", NULL);
        return;
    }
    if (in.content[0] && !s_content_ok(r->type, in.content)) {
        s_error(reply, body, 400, 9005, "Content for the record is invalid", NULL);
        return;
    }
    if (in.content[0]) {
        snprintf(r->content, sizeof r->content, "%s", in.content);
    }
    if (in.has_ttl) {
        r->ttl = in.ttl;
    }
    if (in.has_proxied) {
        r->proxied = in.proxied;
    }
    s_rec_result(r, z, reply, body);
}

/* Authentication: 0 when the request may go on (write tells whether it may write). */
static int
s_auth(yh_cloudflare_t *f, const yh_http_fake_req_t *req, yh_http_reply_t *reply, char *body)
{
    char auth[512];
    const char *token = yh_http_fake_bearer(req, auth, sizeof auth);
    if (!token) {
        s_error(reply, body, 400, 6003, "Invalid request headers",
                "{\"code\":6111,\"message\":\"Invalid format for Authorization header\"}");
        return -1;
    }
    bool write = strcmp(req->method, "GET") != 0;
    if (strcmp(token, f->token) == 0) {
        return 0;
    }
    if (f->ro_token[0] && strcmp(token, f->ro_token) == 0) {
        if (!write) {
            return 0;
        }
        s_error(reply, body, 403, 10000, "Authentication error", NULL);
        return -1;
    }
    s_error(reply, body, 403, 9109, "Invalid access token", NULL);
    return -1;
}

/* Injected answers and the rate limit: true when the request was answered. */
static bool
s_limits(yh_cloudflare_t *f, yh_http_reply_t *reply, char *body, char *headers, size_t hcap)
{
    if (f->inject_n > 0) {
        f->inject_n--;
        if (f->inject_status == 429) {
            s_error(reply, body, 429, 971, "Please wait and consider throttling your request speed",
                    NULL);
            if (f->inject_retry > 0) {
                snprintf(headers, hcap, "Content-Type: application/json\nRetry-After: %d",
                         f->inject_retry);
            }
        } else {
            s_error(reply, body, f->inject_status, 1000, "Internal server error", NULL);
        }
        return true;
    }
    time_t now = time(NULL);
    if (f->limit && now - f->window_start >= (time_t)f->window_s) {
        f->window_start = now;
        f->used = 0;
    }
    if (f->limit && ++f->used > f->limit) {
        s_error(reply, body, 429, 971, "Please wait and consider throttling your request speed",
                NULL);
        snprintf(headers, hcap, "Content-Type: application/json\nRetry-After: %lld",
                 (long long)(f->window_start + f->window_s - now));
        return true;
    }
    return false;
}

static void
s_route(yh_cloudflare_t *f, const yh_http_fake_req_t *req, yh_http_reply_t *reply, char *body)
{
    const char *p = req->path + strlen("/client/v4");
    if (strcmp(p, "/zones") == 0 && strcmp(req->method, "GET") == 0) {
        s_list_zones(f, req, body);
        reply->status = 200;
        return;
    }
    char zid[64] = "", rid[64] = "";
    int consumed = 0;
    if (sscanf(p, "/zones/%63[^/]/dns_records%n", zid, &consumed) != 1 || consumed == 0) {
        s_error(reply, body, 404, 7000, "No route for that URI", NULL);
        return;
    }
    const s_zone_t *z = s_zone_by_id(f, zid);
    if (!z) {
        s_error(reply, body, 400, 7003,
                "Could not route to /zones, perhaps your object identifier is invalid?", NULL);
        return;
    }
    const char *rest = p + consumed;
    if (!*rest && strcmp(req->method, "GET") == 0) {
        s_list_records(f, z, req, body);
        reply->status = 200;
    } else if (!*rest && strcmp(req->method, "POST") == 0) {
        s_create(f, z, req, reply, body);
    } else if (sscanf(rest, "/%63[^/]", rid) == 1 && strcmp(req->method, "PATCH") == 0) {
        s_patch(f, z, rid, req, reply, body);
    } else {
        s_error(reply, body, 405, 10405, "Method not allowed for this route", NULL);
    }
}

static bool
s_handle(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg)
{
    yh_cloudflare_t *f = arg;
    static _Thread_local char body[S_BODY], headers[256];
    if (strncmp(req->path, "/client/v4/", 11) != 0) {
        return false;
    }
    snprintf(headers, sizeof headers, "Content-Type: application/json");
    pthread_mutex_lock(&f->srv.lock);
    if (!s_limits(f, reply, body, headers, sizeof headers) && s_auth(f, req, reply, body) == 0) {
        s_route(f, req, reply, body);
    }
    pthread_mutex_unlock(&f->srv.lock);
    reply->body = body;
    reply->headers = headers;
    return true;
}

yh_cloudflare_t *
yh_cf_start(const char *token)
{
    yh_cloudflare_t *f = yh_http_fake_xcalloc(sizeof *f);
    snprintf(f->token, sizeof f->token, "%s", token);
    f->limit = 1200;
    f->window_s = 300;
    f->window_start = time(NULL);
    yh_fake_srv_start(&f->srv, "/client/v4", s_handle, f);
    return f;
}

void
yh_cf_stop(yh_cloudflare_t **f_p)
{
    if (!f_p || !*f_p) {
        return;
    }
    yh_fake_srv_stop(&(*f_p)->srv);
    free(*f_p);
    *f_p = NULL;
}

void
yh_cf_add_readonly_token(yh_cloudflare_t *f, const char *token)
{
    pthread_mutex_lock(&f->srv.lock);
    snprintf(f->ro_token, sizeof f->ro_token, "%s", token);
    pthread_mutex_unlock(&f->srv.lock);
}

void
yh_cf_add_zone(yh_cloudflare_t *f, const char *name, const char *id)
{
    pthread_mutex_lock(&f->srv.lock);
    if (f->n_zones < S_ZONES) {
        s_zone_t *z = &f->zones[f->n_zones++];
        snprintf(z->name, sizeof z->name, "%s", name);
        snprintf(z->id, sizeof z->id, "%s", id);
    }
    pthread_mutex_unlock(&f->srv.lock);
}

void
yh_cf_add_record(yh_cloudflare_t *f, const char *zone_id, const char *id, const char *type,
                 const char *name, const char *content, int64_t ttl, bool proxied)
{
    pthread_mutex_lock(&f->srv.lock);
    if (f->n_recs < S_RECORDS) {
        s_rec_t *r = &f->recs[f->n_recs++];
        memset(r, 0, sizeof *r);
        snprintf(r->zone, sizeof r->zone, "%s", zone_id);
        snprintf(r->id, sizeof r->id, "%s", id);
        snprintf(r->type, sizeof r->type, "%s", type);
        snprintf(r->name, sizeof r->name, "%s", name);
        snprintf(r->content, sizeof r->content, "%s", content);
        r->ttl = ttl;
        r->proxied = proxied;
    }
    pthread_mutex_unlock(&f->srv.lock);
}

int
yh_cf_delete_record(yh_cloudflare_t *f, const char *id)
{
    int rc = -1;
    pthread_mutex_lock(&f->srv.lock);
    for (size_t i = 0; i < f->n_recs; i++) {
        if (strcmp(f->recs[i].id, id) == 0) {
            memmove(&f->recs[i], &f->recs[i + 1], sizeof f->recs[0] * (f->n_recs - i - 1));
            f->n_recs--;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&f->srv.lock);
    return rc;
}

void
yh_cf_inject(yh_cloudflare_t *f, int status, int retry_after_s, size_t n)
{
    pthread_mutex_lock(&f->srv.lock);
    f->inject_status = status;
    f->inject_retry = retry_after_s;
    f->inject_n = n;
    pthread_mutex_unlock(&f->srv.lock);
}

void
yh_cf_rate_limit(yh_cloudflare_t *f, unsigned limit, unsigned window_s)
{
    pthread_mutex_lock(&f->srv.lock);
    f->limit = limit;
    f->window_s = window_s ? window_s : 1;
    f->window_start = time(NULL);
    f->used = 0;
    pthread_mutex_unlock(&f->srv.lock);
}

const char *
yh_cf_url(yh_cloudflare_t *f)
{
    return f->srv.url;
}

size_t
yh_cf_calls(yh_cloudflare_t *f, const char *method)
{
    size_t n = 0;
    const yh_http_fake_req_t *r;
    for (size_t i = 0; (r = yh_http_fake_request(f->srv.http, i)) != NULL; i++) {
        n += !method || strcmp(r->method, method) == 0;
    }
    return n;
}

int
yh_cf_record(yh_cloudflare_t *f, const char *type, const char *name, char *content, size_t len,
             int64_t *ttl, bool *proxied)
{
    int rc = -1;
    pthread_mutex_lock(&f->srv.lock);
    for (size_t i = 0; i < f->n_recs && rc != 0; i++) {
        const s_rec_t *r = &f->recs[i];
        if (strcmp(r->type, type) == 0 && strcmp(r->name, name) == 0) {
            if (content) {
                snprintf(content, len, "%s", r->content);
            }
            if (ttl) {
                *ttl = r->ttl;
            }
            if (proxied) {
                *proxied = r->proxied;
            }
            rc = 0;
        }
    }
    pthread_mutex_unlock(&f->srv.lock);
    return rc;
}

int
yh_cf_request(yh_cloudflare_t *f, size_t i, char *method, char *path, char *body, size_t len)
{
    const yh_http_fake_req_t *r = yh_http_fake_request(f->srv.http, i);
    if (!r) {
        return -1;
    }
    if (method) {
        snprintf(method, 16, "%s", r->method);
    }
    if (path) {
        snprintf(path, len, "%s", r->path);
    }
    if (body) {
        snprintf(body, len, "%s", r->body ? r->body : "");
    }
    return 0;
}
