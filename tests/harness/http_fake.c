/* The scripted HTTP server (see http_fake.h), on libmicrohttpd with a thread per connection,
 * so that a reply held for a long poll blocks only its own connection. One mutex guards the
 * scripts, the records and the counters; one condition variable wakes held replies on release
 * and on stop. */
#include "http_fake.h"

#include <arpa/inet.h>
#include "yard/json.h"
#include "yard/mp.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_MAX_SCRIPTS 64
#define S_MAX_BODY    (4u * 1024 * 1024) /* request bytes kept; more is an error reply */

typedef struct {
    char *path;
    yh_http_reply_t *replies;
    size_t n, next;
} s_script_t;

struct yh_http_fake {
    struct MHD_Daemon *mhd;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    s_script_t scripts[S_MAX_SCRIPTS];
    size_t n_scripts;
    yh_http_fake_req_t **reqs;
    size_t n_reqs, cap_reqs;
    unsigned connections;
    size_t waiting;
    unsigned long release_gen;
    bool stopping;
    yh_http_fake_fn *fn;
    void *fn_arg;
    char *cert, *key; /* PEM, for TLS; NULL: plain HTTP */
};

/* What one request accumulates while its body arrives. */
typedef struct {
    char *body;
    size_t len, cap;
    bool too_big;
} s_upload_t;

static void *
s_xalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        abort();
    }
    return p;
}

static char *
s_xstrdup(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *p = s_xalloc(n + 1);
    memcpy(p, s ? s : "", n);
    return p;
}

/* --- replies ----------------------------------------------------------------------------- */

static void
s_reply_copy(yh_http_reply_t *dst, const yh_http_reply_t *src)
{
    *dst = *src;
    dst->body_len = src->body ? (src->body_len ? src->body_len : strlen(src->body)) : 0;
    char *body = s_xalloc(dst->body_len + 1);
    if (dst->body_len) {
        memcpy(body, src->body, dst->body_len);
    }
    dst->body = body;
    dst->headers = src->headers ? s_xstrdup(src->headers) : NULL;
}

static void
s_reply_free(yh_http_reply_t *r)
{
    free((char *)r->body);
    free((char *)r->headers);
}

static void
s_script_free(s_script_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        s_reply_free(&s->replies[i]);
    }
    free(s->replies);
    free(s->path);
    memset(s, 0, sizeof *s);
}

void
yh_http_fake_script(yh_http_fake_t *f, const char *path, const yh_http_reply_t *replies, size_t n)
{
    pthread_mutex_lock(&f->lock);
    s_script_t *s = NULL;
    for (size_t i = 0; i < f->n_scripts && !s; i++) {
        s = strcmp(f->scripts[i].path, path) == 0 ? &f->scripts[i] : NULL;
    }
    if (!s) {
        if (f->n_scripts == S_MAX_SCRIPTS) {
            fprintf(stderr, "http_fake: more than %d scripted paths\n", S_MAX_SCRIPTS);
            abort();
        }
        s = &f->scripts[f->n_scripts++];
    } else {
        s_script_free(s);
    }
    s->path = s_xstrdup(path);
    s->replies = s_xalloc(n * sizeof *s->replies);
    for (size_t i = 0; i < n; i++) {
        s_reply_copy(&s->replies[i], &replies[i]);
    }
    s->n = n;
    pthread_mutex_unlock(&f->lock);
}

/* The scripted reply for path, copied into *out; false when path has none. Under the lock. */
static bool
s_script_next(yh_http_fake_t *f, const char *path, yh_http_reply_t *out)
{
    for (size_t i = 0; i < f->n_scripts; i++) {
        s_script_t *s = &f->scripts[i];
        if (strcmp(s->path, path) == 0 && s->n > 0) {
            s_reply_copy(out, &s->replies[s->next]);
            if (s->next + 1 < s->n) {
                s->next++;
            }
            return true;
        }
    }
    return false;
}

/* --- recording ----------------------------------------------------------------------------- */

static enum MHD_Result
s_header_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    yh_text_add(cls, "%s: %s\n", key, value ? value : "");
    return MHD_YES;
}

static enum MHD_Result
s_arg_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    yh_text_t *t = cls;
    yh_text_add(t, "%s%s%s%s", t->n ? "&" : "", key, value ? "=" : "", value ? value : "");
    return MHD_YES;
}

static yh_http_fake_req_t *
s_record(yh_http_fake_t *f, struct MHD_Connection *c, const char *method, const char *url,
         s_upload_t *up)
{
    yh_http_fake_req_t *r = s_xalloc(sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", method);
    r->path = s_xstrdup(url);
    yh_text_t h = {0}, q = {0};
    yh_text_add(&h, "%s", "");
    yh_text_add(&q, "%s", "");
    MHD_get_connection_values(c, MHD_HEADER_KIND, s_header_iter, &h);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, s_arg_iter, &q);
    r->headers = h.s;
    r->query = q.s;
    r->body = up->body ? up->body : s_xstrdup("");
    r->body_len = up->len;
    up->body = NULL;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->connection = ci ? (unsigned)(uintptr_t)ci->socket_context : 0;
    pthread_mutex_lock(&f->lock);
    if (f->n_reqs == f->cap_reqs) {
        f->cap_reqs = f->cap_reqs ? f->cap_reqs * 2 : 64;
        f->reqs = realloc(f->reqs, f->cap_reqs * sizeof *f->reqs);
        if (!f->reqs) {
            abort();
        }
    }
    f->reqs[f->n_reqs++] = r;
    pthread_mutex_unlock(&f->lock);
    return r;
}

static void
s_record_free(yh_http_fake_req_t *r)
{
    free(r->path);
    free(r->query);
    free(r->headers);
    free(r->body);
    free(r);
}

/* --- answering ----------------------------------------------------------------------------- */

/* Blocks this connection's thread for the reply's delay or hold; returns early on stop. */
static void
s_wait(yh_http_fake_t *f, const yh_http_reply_t *r)
{
    if (r->delay_ms <= 0 && !r->hold) {
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = until.tv_nsec + (long long)(r->delay_ms > 0 ? r->delay_ms : 0) * 1000000;
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&f->lock);
    f->waiting++;
    unsigned long gen = f->release_gen;
    while (!f->stopping && !(r->hold && f->release_gen != gen)) {
        int rc = r->delay_ms > 0 ? pthread_cond_timedwait(&f->cond, &f->lock, &until)
                                 : pthread_cond_wait(&f->cond, &f->lock);
        if (rc == ETIMEDOUT) {
            break;
        }
    }
    f->waiting--;
    pthread_mutex_unlock(&f->lock);
}

typedef struct {
    char *body;
    size_t len, pos;
} s_chunks_t;

/* Sends the body in pieces of at most 1000 bytes, chunked. */
static ssize_t
s_chunk_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    s_chunks_t *ch = cls;
    (void)pos;
    if (ch->pos == ch->len) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = ch->len - ch->pos < max ? ch->len - ch->pos : max;
    n = n < 1000 ? n : 1000;
    memcpy(buf, ch->body + ch->pos, n);
    ch->pos += n;
    return (ssize_t)n;
}

static void
s_chunks_free(void *cls)
{
    s_chunks_t *ch = cls;
    free(ch->body);
    free(ch);
}

static void
s_add_headers(struct MHD_Response *resp, const char *lines)
{
    for (const char *p = lines; p && *p;) {
        size_t n = strcspn(p, "\n");
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            MHD_add_response_header(resp, line, colon + 1 + strspn(colon + 1, " "));
        }
        p += n + (p[n] == '\n');
    }
}

static enum MHD_Result
s_send(struct MHD_Connection *c, const yh_http_reply_t *r)
{
    struct MHD_Response *resp;
    if (r->chunked) {
        s_chunks_t *ch = s_xalloc(sizeof *ch);
        ch->body = s_xalloc(r->body_len + 1);
        memcpy(ch->body, r->body, r->body_len);
        ch->len = r->body_len;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, s_chunk_reader, ch,
                                                 s_chunks_free);
    } else {
        resp = MHD_create_response_from_buffer(r->body_len, (void *)r->body, MHD_RESPMEM_MUST_COPY);
    }
    if (!resp) {
        return MHD_NO;
    }
    s_add_headers(resp, r->headers);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)(r->status ? r->status : 200), resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    yh_http_fake_t *f = cls;
    s_upload_t *up = *con_cls;
    if (!up) {
        *con_cls = s_xalloc(sizeof(s_upload_t));
        return MHD_YES;
    }
    if (*upload_size) {
        if (up->len + *upload_size > S_MAX_BODY) {
            up->too_big = true;
        } else {
            if (up->len + *upload_size + 1 > up->cap) {
                up->cap = (up->len + *upload_size + 1) * 2;
                up->body = realloc(up->body, up->cap);
                if (!up->body) {
                    abort();
                }
            }
            memcpy(up->body + up->len, upload_data, *upload_size);
            up->len += *upload_size;
            up->body[up->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    yh_http_fake_req_t *req = s_record(f, c, method, url, up);
    yh_http_reply_t reply = {.status = 404, .body = "no script for this path\n"}, copy;
    pthread_mutex_lock(&f->lock);
    yh_http_fake_fn *fn = f->fn;
    void *arg = f->fn_arg;
    pthread_mutex_unlock(&f->lock);
    if (up->too_big) {
        reply = (yh_http_reply_t){.status = 413, .body = "request body too large\n"};
        s_reply_copy(&copy, &reply);
    } else if (fn && fn(req, &reply, arg)) {
        s_reply_copy(&copy, &reply);
        if (reply.take_body) {
            free((char *)reply.body);
        }
    } else {
        pthread_mutex_lock(&f->lock);
        bool scripted = s_script_next(f, req->path, &copy);
        pthread_mutex_unlock(&f->lock);
        if (!scripted) {
            s_reply_copy(&copy, &reply);
        }
    }
    s_wait(f, &copy);
    enum MHD_Result rc = s_send(c, &copy);
    s_reply_free(&copy);
    return rc;
}

static void
s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    s_upload_t *up = *con_cls;
    if (up) {
        free(up->body);
        free(up);
        *con_cls = NULL;
    }
}

static void
s_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                    enum MHD_ConnectionNotificationCode toe)
{
    (void)c;
    yh_http_fake_t *f = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&f->lock);
        *socket_context = (void *)(uintptr_t)++f->connections;
        pthread_mutex_unlock(&f->lock);
    }
}

/* --- the server ---------------------------------------------------------------------------- */

/* Starts the daemon on 127.0.0.1:<free port>, with TLS when cert is not NULL. */
static yh_http_fake_t *
s_start(const char *cert, const char *key)
{
    yh_http_fake_t *f = s_xalloc(sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    if (cert) {
        f->cert = s_xstrdup(cert); /* libmicrohttpd keeps pointers to both */
        f->key = s_xstrdup(key);
        flags |= MHD_USE_TLS;
    }
    /* MHD_OPTION_ARRAY lets the TLS options be there or not with one call */
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, f->cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, f->key},
        {MHD_OPTION_END, 0, NULL},
    };
    f->mhd = MHD_start_daemon(flags, 0, NULL, NULL, s_access, f, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, s_completed, f,
                              MHD_OPTION_NOTIFY_CONNECTION, s_notify_connection, f,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_ARRAY,
                              cert ? tls : &tls[2], MHD_OPTION_END);
    const union MHD_DaemonInfo *di =
        f->mhd ? MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!di || di->port == 0) {
        fprintf(stderr, "http_fake: could not start libmicrohttpd on 127.0.0.1%s\n",
                cert ? " with TLS" : "");
        abort();
    }
    f->port = di->port;
    return f;
}

yh_http_fake_t *
yh_http_fake_start(void)
{
    return s_start(NULL, NULL);
}

yh_http_fake_t *
yh_http_fake_start_tls(const char *cert_pem, const char *key_pem)
{
    return s_start(cert_pem, key_pem);
}

void
yh_http_fake_stop(yh_http_fake_t **f_p)
{
    yh_http_fake_t *f = *f_p;
    if (!f) {
        return;
    }
    pthread_mutex_lock(&f->lock);
    f->stopping = true;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    MHD_stop_daemon(f->mhd);
    for (size_t i = 0; i < f->n_scripts; i++) {
        s_script_free(&f->scripts[i]);
    }
    for (size_t i = 0; i < f->n_reqs; i++) {
        s_record_free(f->reqs[i]);
    }
    free(f->reqs);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f->cert);
    free(f->key);
    free(f);
    *f_p = NULL;
}

int
yh_http_fake_port(const yh_http_fake_t *f)
{
    return f->port;
}

const char *
yh_http_fake_url(const yh_http_fake_t *f, const char *path)
{
    static _Thread_local char buf[2048];
    snprintf(buf, sizeof buf, "%s://127.0.0.1:%d%s", f->cert ? "https" : "http", f->port, path);
    return buf;
}

void
yh_http_fake_handler(yh_http_fake_t *f, yh_http_fake_fn *fn, void *arg)
{
    pthread_mutex_lock(&f->lock);
    f->fn = fn;
    f->fn_arg = arg;
    pthread_mutex_unlock(&f->lock);
}

void
yh_http_fake_release(yh_http_fake_t *f)
{
    pthread_mutex_lock(&f->lock);
    f->release_gen++;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

size_t
yh_http_fake_count(yh_http_fake_t *f, const char *path)
{
    size_t n = 0;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->n_reqs; i++) {
        n += !path || strcmp(f->reqs[i]->path, path) == 0;
    }
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t
yh_http_fake_waiting(yh_http_fake_t *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->waiting;
    pthread_mutex_unlock(&f->lock);
    return n;
}

const yh_http_fake_req_t *
yh_http_fake_request(yh_http_fake_t *f, size_t i)
{
    pthread_mutex_lock(&f->lock);
    const yh_http_fake_req_t *r = i < f->n_reqs ? f->reqs[i] : NULL;
    pthread_mutex_unlock(&f->lock);
    return r;
}

const char *
yh_http_fake_header(const yh_http_fake_req_t *req, const char *name, char *buf, size_t len)
{
    size_t nlen = strlen(name);
    for (const char *p = req->headers; *p;) {
        size_t n = strcspn(p, "\n");
        if (n > nlen + 1 && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1 + strspn(p + nlen + 1, " ");
            snprintf(buf, len, "%.*s", (int)(n - (size_t)(v - p)), v);
            return buf;
        }
        p += n + (p[n] == '\n');
    }
    return NULL;
}

unsigned
yh_http_fake_connections(yh_http_fake_t *f)
{
    pthread_mutex_lock(&f->lock);
    unsigned n = f->connections;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* --- for the fakes built on this server ----------------------------------------------------- */

yh_http_fake_t *
yh_http_fake_serve(yh_http_fake_fn *fn, void *arg)
{
    yh_http_fake_t *f = yh_http_fake_start();
    yh_http_fake_handler(f, fn, arg);
    return f;
}

void
yh_fake_srv_start(yh_fake_srv_t *s, const char *path, yh_http_fake_fn *fn, void *arg)
{
    pthread_mutex_init(&s->lock, NULL);
    s->http = yh_http_fake_serve(fn, arg);
    const char *url = yh_http_fake_url(s->http, path);
    size_t n = strlen(url);
    if (n >= sizeof s->url) {
        fprintf(stderr, "http_fake: a fake's URL longer than %zu bytes\n", sizeof s->url - 1);
        abort();
    }
    memcpy(s->url, url, n + 1);
}

void
yh_fake_srv_stop(yh_fake_srv_t *s)
{
    yh_http_fake_stop(&s->http);
    pthread_mutex_destroy(&s->lock);
}

void *
yh_http_fake_xcalloc(size_t size)
{
    return s_xalloc(size);
}

/* The value of the i-th "key=..." in "k=v&k2=v2" and its length (up to the next '&'); NULL
 * when there are not that many. */
static const char *
s_field(const char *s, const char *key, size_t i, size_t *len)
{
    size_t kl = strlen(key);
    for (const char *p = s; p && *p;) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=' && i-- == 0) {
            *len = n - kl - 1;
            return p + kl + 1;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

bool
yh_http_query_nth(const char *query, const char *key, size_t i, char *out, size_t cap)
{
    size_t n = 0;
    const char *v = s_field(query, key, i, &n);
    snprintf(out, cap, "%.*s", (int)n, v ? v : "");
    return v != NULL;
}

bool
yh_http_query_param(const char *query, const char *key, char *out, size_t cap)
{
    return yh_http_query_nth(query, key, 0, out, cap);
}

bool
yh_http_query_has(const char *query, const char *key, const char *value)
{
    size_t n = 0;
    const char *v;
    for (size_t i = 0; (v = s_field(query, key, i, &n)) != NULL; i++) {
        if (n == strlen(value) && strncmp(v, value, n) == 0) {
            return true;
        }
    }
    return false;
}

bool
yh_http_form_param(const char *body, const char *key, char *out, size_t cap)
{
    size_t len = 0, n = 0;
    const char *v = s_field(body, key, 0, &len);
    for (size_t k = 0; v && k < len && n + 1 < cap; n++) {
        if (v[k] == '%' && k + 2 < len) {
            char hex[3] = {v[k + 1], v[k + 2], 0};
            out[n] = (char)strtol(hex, NULL, 16);
            k += 3;
        } else {
            out[n] = v[k] == '+' ? ' ' : v[k];
            k++;
        }
    }
    out[n] = '\0';
    return v != NULL;
}

char *
yh_base64(const void *in, size_t n, bool url, char *out, size_t cap)
{
    const char *abc = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                          : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *b = in;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0) |
                     (i + 2 < n ? b[i + 2] : 0);
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        if (i + 1 < n || !url) {
            out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        }
        if (i + 2 < n || !url) {
            out[o++] = i + 2 < n ? abc[v & 63] : '=';
        }
    }
    if (cap) {
        out[o] = '\0';
    }
    return out;
}

char *
yh_http_basic_auth(const char *user, const char *password, char *out, size_t cap)
{
    char cred[512];
    int n = snprintf(cred, sizeof cred, "%s:%s", user, password);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof cred ? (size_t)n : sizeof cred - 1;
    int p = snprintf(out, cap, "Basic ");
    if (p > 0 && (size_t)p < cap) {
        yh_base64(cred, len, false, out + p, cap - (size_t)p);
    }
    return out;
}

const char *
yh_http_fake_bearer(const yh_http_fake_req_t *req, char *buf, size_t len)
{
    if (!yh_http_fake_header(req, "Authorization", buf, len) || strncmp(buf, "Bearer ", 7) != 0 ||
        !buf[7]) {
        return NULL;
    }
    memmove(buf, buf + 7, strlen(buf + 7) + 1);
    return buf;
}

void
yh_text_add(yh_text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        abort();
    }
    if (t->n + (size_t)need + 1 > t->cap) {
        t->cap = (t->n + (size_t)need + 1) * 2;
        t->s = realloc(t->s, t->cap);
        if (!t->s) {
            abort();
        }
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    t->n += (size_t)need;
}

void
yh_text_json_str(yh_text_t *t, const char *s)
{
    yh_text_add(t, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            yh_text_add(t, "\\%c", c);
        } else if (c < 0x20) {
            yh_text_add(t, "\\u%04x", c);
        } else {
            yh_text_add(t, "%c", c);
        }
    }
    yh_text_add(t, "\"");
}

bool
yh_http_reply_take(yh_http_reply_t *reply, int status, char *body, const char *headers)
{
    reply->status = status;
    reply->body = body;
    reply->take_body = true;
    reply->headers = headers;
    return true;
}

bool
yh_http_json_parse(const yh_http_fake_req_t *req, yh_http_json_t *j)
{
    size_t size = 0;
    msgpack_zone_init(&j->zone, 1024);
    j->mp = NULL;
    memset(&j->obj, 0, sizeof j->obj);
    return req->body_len > 0 &&
           yard_json_to_msgpack(req->body, req->body_len, &j->mp, &size, NULL, 0) == 0 &&
           yard_mp_decode(j->mp, size, &j->zone, &j->obj, NULL, 0) == 0;
}

void
yh_http_json_free(yh_http_json_t *j)
{
    msgpack_zone_destroy(&j->zone);
    free(j->mp);
    j->mp = NULL;
}

/* Made once for the tests, with openssl ca -selfsign; see http_fake.h. */
const char yh_test_cert_pem[] = "-----BEGIN CERTIFICATE-----\n"
                                "MIIBaTCCAQ+gAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAkxMjcuMC4w\n"
                                "LjEwIBcNMDAwMTAxMDAwMDAwWhgPMjA5OTEyMzEyMzU5NTlaMBQxEjAQBgNVBAMM\n"
                                "CTEyNy4wLjAuMTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABElTfX2YYMqOPKnE\n"
                                "/jyGAS4gx5gDz74PTk+F3lsosi9SlVUN5IBPhWXOtJP9dNLw/NNre7I4EqZUnzkF\n"
                                "dazCKK+jUDBOMA8GA1UdEQQIMAaHBH8AAAEwDwYDVR0TAQH/BAUwAwEB/zALBgNV\n"
                                "HQ8EBAMCAoQwHQYDVR0OBBYEFISQjJ/ydvv8XlZz4pb+uMgZY74kMAoGCCqGSM49\n"
                                "BAMCA0gAMEUCIHxcLolWohZ/UdmdIVSUq2RFz6446zwvqECOabI6hKB/AiEA0vcp\n"
                                "YrF3uFQRGI3uR2zc153yws4Lj+wyBIxw+U2ESXg=\n"
                                "-----END CERTIFICATE-----\n";
const char yh_test_key_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUyahoz0MeoCaUXtU\n"
                               "lwBO3Kl9LRRRBToiaLVPKagcVIqhRANCAARJU319mGDKjjypxP48hgEuIMeYA8++\n"
                               "D05Phd5bKLIvUpVVDeSAT4VlzrST/XTS8PzTa3uyOBKmVJ85BXWswiiv\n"
                               "-----END PRIVATE KEY-----\n";
