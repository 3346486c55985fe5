/* Building an outbound HTTP request, and keeping its secrets out of every text.
 *
 * A request holds its URL as a template: "{secret}" placeholders are filled only when the URL
 * is handed to curl (yard__http_req_url()), so the filled URL exists only in the transfer.
 * Every secret (URL secrets and secret header values) is wiped from memory when the request is
 * freed, and yard__http_redact() replaces each with "<secret>" in any text about the request. */
#include "alloc_internal.h"
#include "http_internal.h"
#include "yard/error.h"
#include "yard/json.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_PLACEHOLDER "{secret}"
#define S_REDACTED    "<secret>"

void
yard__http_wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static unsigned
s_count(const char *hay, const char *needle)
{
    unsigned n = 0;
    size_t len = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle)) {
        n++;
    }
    return n;
}

static bool
s_is_token(const char *s, size_t max)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
            !strchr(extra, c)) {
            return false;
        }
    }
    return n > 0 && n <= max;
}

static bool
s_is_method(const char *m)
{
    size_t n = 0;
    for (; m[n]; n++) {
        if (m[n] < 'A' || m[n] > 'Z') {
            return false;
        }
    }
    return n > 0 && n <= 16;
}

/* A URL goes to curl only when its scheme is http or https and it has no bytes that would be
 * smuggled into the request line (control characters, spaces). */
static bool
s_url_ok(const char *url)
{
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            return false;
        }
    }
    return strlen(url) <= 8192;
}

int
yard_http_req_new(const char *method, const char *url, yard_http_req_t **out)
{
    *out = NULL;
    if (!method || !s_is_method(method)) {
        yard_log(YARD_LOG_WARN, "http: bad method: want 1..16 capital letters",
                 YF_STR("method", method));
        return YARD_E_INVALID;
    }
    if (!url || !s_url_ok(url)) {
        /* the URL may hold a secret: say what is wrong with it, never what it is */
        yard_log(YARD_LOG_WARN, "http: bad URL: want http:// or https://, no spaces or control "
                                "characters, at most 8192 bytes");
        return YARD_E_INVALID;
    }
    yard_http_req_t *req = yard__xcalloc(1, sizeof *req);
    memcpy(req->method, method, strlen(method) + 1);
    req->url = yard__xstrdup(url);
    req->placeholders = s_count(url, S_PLACEHOLDER);
    *out = req;
    return 0;
}

void
yard_http_req_destroy(yard_http_req_t **req_p)
{
    yard_http_req_t *req = *req_p;
    if (!req) {
        return;
    }
    yard__http_wipe_free(req->url);
    for (unsigned i = 0; i < req->n_secrets; i++) {
        yard__http_wipe_free(req->secrets[i]);
    }
    for (unsigned i = 0; i < req->n_headers; i++) {
        yard__http_wipe_free(req->headers[i].line);
    }
    if (req->body) {
        explicit_bzero(req->body, req->body_len);
        free(req->body);
    }
    free(req->retry_methods);
    free(req);
    *req_p = NULL;
}

int
yard_http_req_secret(yard_http_req_t *req, const char *secret)
{
    if (!secret || !*secret || req->n_secrets >= YARD_HTTP_MAX_SECRETS) {
        yard_log(YARD_LOG_WARN, "http: secret empty or past the limit",
                 YF_INT("max", YARD_HTTP_MAX_SECRETS));
        return YARD_E_INVALID;
    }
    for (const unsigned char *c = (const unsigned char *)secret; *c; c++) {
        if (*c <= ' ' || *c == 0x7f) {
            yard_log(YARD_LOG_WARN, "http: secret holds a space or control character (it would "
                                    "break the URL)");
            return YARD_E_INVALID;
        }
    }
    bool fills = req->n_fills < req->placeholders;
    if (!fills && !strstr(req->url, secret)) {
        yard_log(YARD_LOG_WARN, "http: secret marked is neither a {secret} placeholder's value "
                                "nor in the URL");
        return YARD_E_INVALID;
    }
    req->fills[req->n_secrets] = fills;
    req->secrets[req->n_secrets++] = yard__xstrdup(secret);
    req->n_fills += fills;
    return 0;
}

static bool
s_value_ok(const char *v)
{
    return !strpbrk(v, "\r\n") && strlen(v) <= 16384;
}

static bool
s_always_secret(const char *name)
{
    return strcasecmp(name, "Authorization") == 0 || strcasecmp(name, "Proxy-Authorization") == 0 ||
           strcasecmp(name, "Cookie") == 0;
}

static int
s_add_header(yard_http_req_t *req, const char *name, const char *value, bool secret)
{
    if (!name || !s_is_token(name, 256) || !value || !s_value_ok(value)) {
        yard_log(YARD_LOG_WARN,
                 "http: bad header: the name must be an HTTP token, the value "
                 "at most 16384 bytes without CR or LF",
                 YF_STR("name", name && s_is_token(name, 256) ? name : "(invalid)"));
        return YARD_E_INVALID;
    }
    if (req->n_headers >= YARD_HTTP_MAX_HEADERS) {
        yard_log(YARD_LOG_WARN, "http: too many headers", YF_INT("max", YARD_HTTP_MAX_HEADERS));
        return YARD_E_INVALID;
    }
    size_t n = strlen(name) + 2 + strlen(value) + 1;
    char *line = yard__xcalloc(1, n);
    /* "Name:" alone would make curl drop the header; "Name;" sends it empty */
    snprintf(line, n, *value ? "%s: %s" : "%s;", name, value);
    req->headers[req->n_headers].line = line;
    req->headers[req->n_headers++].secret = secret || s_always_secret(name);
    return 0;
}

int
yard_http_req_header(yard_http_req_t *req, const char *name, const char *value)
{
    return s_add_header(req, name, value, false);
}

int
yard_http_req_header_secret(yard_http_req_t *req, const char *name, const char *value)
{
    return s_add_header(req, name, value, true);
}

/* Sets the one Content-Type header, replacing an earlier one. */
static int
s_content_type(yard_http_req_t *req, const char *type)
{
    for (unsigned i = 0; i < req->n_headers; i++) {
        if (strncasecmp(req->headers[i].line, "Content-Type:", 13) == 0) {
            yard__http_wipe_free(req->headers[i].line);
            req->headers[i] = req->headers[--req->n_headers];
            break;
        }
    }
    return s_add_header(req, "Content-Type", type, false);
}

int
yard_http_req_body(yard_http_req_t *req, const void *data, size_t len, const char *content_type)
{
    if (len > YARD_HTTP_MAX_REQUEST_BODY) {
        yard_log(YARD_LOG_WARN, "http: request body over the limit", YF_UINT("size", len),
                 YF_UINT("limit", YARD_HTTP_MAX_REQUEST_BODY));
        return YARD_E_TOO_LARGE;
    }
    int rc = s_content_type(req, content_type ? content_type : "application/octet-stream");
    if (rc != 0) {
        return rc;
    }
    free(req->body);
    req->body = yard__xcalloc(1, len + 1);
    if (len) {
        memcpy(req->body, data, len);
    }
    req->body_len = len;
    req->has_body = true;
    return 0;
}

int
yard_http_req_json(yard_http_req_t *req, const char *json, size_t len)
{
    void *mp = NULL;
    size_t size = 0;
    char err[128];
    int rc = yard_json_to_msgpack(json, len, &mp, &size, err, sizeof err);
    free(mp);
    if (rc != 0) {
        yard_log(YARD_LOG_DEBUG, "http: request body is not JSON", YF_STR("error", err));
        return rc;
    }
    return yard_http_req_body(req, json, len, "application/json");
}

int
yard_http_req_json_msgpack(yard_http_req_t *req, const void *mp, size_t size)
{
    char *json = NULL;
    size_t len = 0;
    char err[128];
    int rc = yard_json_from_msgpack(mp, size, &json, &len, err, sizeof err);
    if (rc != 0) {
        yard_log(YARD_LOG_DEBUG, "http: request body is not convertible msgpack",
                 YF_STR("error", err));
        return rc;
    }
    rc = yard_http_req_body(req, json, len, "application/json");
    free(json);
    return rc;
}

void
yard_http_req_timeout(yard_http_req_t *req, uint32_t timeout_ms)
{
    req->timeout_ms = timeout_ms;
}

void
yard_http_req_certinfo(yard_http_req_t *req)
{
    req->certinfo = true;
}

int
yard__http_req_url(const yard_http_req_t *req, char **out)
{
    *out = NULL;
    if (req->n_fills < req->placeholders) {
        return YARD_E_INVALID;
    }
    size_t n = strlen(req->url) + 1;
    for (unsigned i = 0; i < req->n_secrets; i++) {
        n += req->fills[i] ? strlen(req->secrets[i]) : 0;
    }
    char *url = yard__xcalloc(1, n);
    const char *src = req->url;
    char *dst = url;
    unsigned k = 0;
    for (const char *p; (p = strstr(src, S_PLACEHOLDER)) != NULL;) {
        while (!req->fills[k]) {
            k++;
        }
        memcpy(dst, src, (size_t)(p - src));
        dst += p - src;
        size_t sl = strlen(req->secrets[k]);
        memcpy(dst, req->secrets[k++], sl);
        dst += sl;
        src = p + strlen(S_PLACEHOLDER);
    }
    memcpy(dst, src, strlen(src) + 1);
    *out = url;
    return 0;
}

/* n if text starts with the n bytes of secret s (at least min of them), else 0. */
static size_t
s_match(const char *text, const char *s, size_t min)
{
    size_t n = strlen(s);
    return n >= min && strncmp(text, s, n) == 0 ? n : 0;
}

/* The length of the longest secret that starts at text, or 0. */
static size_t
s_secret_at(const yard_http_req_t *req, const char *text)
{
    size_t best = 0, n;
    for (unsigned i = 0; i < req->n_secrets; i++) {
        if ((n = s_match(text, req->secrets[i], 1)) > best) {
            best = n;
        }
    }
    for (unsigned i = 0; i < req->n_headers; i++) {
        const char *v = strchr(req->headers[i].line, ':');
        if (!req->headers[i].secret || !v) {
            continue;
        }
        v += 1 + strspn(v + 1, " ");
        if ((n = s_match(text, v, 1)) > best) {
            best = n;
        }
        /* the credentials after a scheme: "Bearer <token>" */
        const char *cred = strchr(v, ' ');
        if (cred && (n = s_match(text, cred + strspn(cred, " "), 4)) > best) {
            best = n;
        }
    }
    return best;
}

void
yard__http_redact(const yard_http_req_t *req, const char *text, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = text; *p && o + 1 < outlen;) {
        size_t n = req ? s_secret_at(req, p) : 0;
        if (n > 0) {
            size_t r = strlen(S_REDACTED);
            if (o + r >= outlen) {
                break; /* never write part of the marker: that could hide truncation */
            }
            memcpy(out + o, S_REDACTED, r);
            o += r;
            p += n;
        } else {
            out[o++] = *p++;
        }
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

struct curl_slist *
yard__http_req_slist(const yard_http_req_t *req)
{
    struct curl_slist *list = curl_slist_append(NULL, "Expect:");
    for (unsigned i = 0; list && i < req->n_headers; i++) {
        struct curl_slist *next = curl_slist_append(list, req->headers[i].line);
        if (!next) {
            yard__http_slist_wipe(list);
            return NULL;
        }
        list = next;
    }
    return list;
}

void
yard__http_slist_wipe(struct curl_slist *list)
{
    for (struct curl_slist *l = list; l; l = l->next) {
        explicit_bzero(l->data, strlen(l->data));
    }
    curl_slist_free_all(list);
}
