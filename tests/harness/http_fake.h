/* A scripted HTTP/1.1 server on 127.0.0.1 for tests of code that calls outside APIs: the
 * outbound HTTP engine's tests, and the fakes of Telegram, Cloudflare and the others, which
 * build on it with a handler of their own.
 *
 * Each request is recorded (method, path, query, headers, body, and which connection it came
 * on), then answered by the handler if one is set and it takes the request, else by the script
 * for its path: a queue of replies, each used once except the last, which repeats; a path
 * without a script gets 404. A reply can wait before it is sent (delay_ms) or be held until the
 * test releases it (a long poll). The server counts the TCP connections it accepted, so a test
 * can prove that a client reused one.
 *
 * Runs its own threads (one per connection: a held reply blocks only its own). Every function
 * is thread-safe.
 *
 * The second half of this header is what the fakes of outside APIs (tests/fakes/) share, so
 * that each keeps only what is its API's own: starting with a handler, reading query and form
 * parameters and JSON bodies, checking basic and bearer credentials, and building a reply body
 * that the server frees once it has copied it. */
#ifndef YARD_HARNESS_HTTP_FAKE_H
#define YARD_HARNESS_HTTP_FAKE_H

#include <msgpack.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct yh_http_fake yh_http_fake_t;

typedef struct {
    int status;          /* 0: 200 */
    const char *body;    /* NULL: empty */
    size_t body_len;     /* 0: strlen(body) */
    const char *headers; /* "Name: value" lines separated by '\n'; NULL: none */
    int delay_ms;        /* wait this long before answering (with hold: the longest hold) */
    bool hold;           /* wait for yh_http_fake_release() before answering */
    bool chunked;        /* send the body chunked, with no Content-Length */
    bool take_body;      /* a handler's reply only: body was malloc'ed and is the server's now,
                            freed once copied (see yh_http_reply_take()) */
} yh_http_reply_t;

/* One recorded request. Borrowed from the server; valid until yh_http_fake_stop(). */
typedef struct {
    char method[16];
    char *path;    /* without the query */
    char *query;   /* "k=v&k2=v2" as decoded by the server, "" when none */
    char *headers; /* "Name: value\n" lines as received */
    char *body;    /* NUL-terminated past body_len */
    size_t body_len;
    unsigned connection; /* 1 for the first connection accepted, 2 for the next, ... */
} yh_http_fake_req_t;

/* A handler answers req by filling *reply (strings borrowed until it is sent; keep them
 * static or in arg) and returning true; false leaves the request to the script. Runs on the
 * server's connection threads. */
typedef bool(yh_http_fake_fn)(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg);

/* Starts the server on a free port. Aborts the test program when it cannot (a broken fixture
 * is not a result). Caller owns the result; free with yh_http_fake_stop(). */
yh_http_fake_t *yh_http_fake_start(void);

/* Releases held replies, stops the server (its threads joined), frees *f_p, sets it NULL. */
void yh_http_fake_stop(yh_http_fake_t **f_p);

/* Like yh_http_fake_start(), serving HTTPS with the given PEM certificate and private key
 * (copied); yh_http_fake_url() then gives https:// URLs. */
yh_http_fake_t *yh_http_fake_start_tls(const char *cert_pem, const char *key_pem);

/* A self-signed certificate for 127.0.0.1 (valid 2000..2099) and its key, for a TLS fake
 * that a test then trusts by writing the certificate as a client's CA bundle. */
extern const char yh_test_cert_pem[];
extern const char yh_test_key_pem[];

int yh_http_fake_port(const yh_http_fake_t *f);

/* "http://127.0.0.1:<port><path>" (https:// for a TLS server) in a per-thread buffer. Borrowed;
 * valid until the next call on this thread. */
const char *yh_http_fake_url(const yh_http_fake_t *f, const char *path);

/* Replaces path's script with n replies (copied). */
void yh_http_fake_script(yh_http_fake_t *f, const char *path, const yh_http_reply_t *replies,
                         size_t n);

/* Sets (or, with fn NULL, removes) the handler tried before the scripts. */
void yh_http_fake_handler(yh_http_fake_t *f, yh_http_fake_fn *fn, void *arg);

/* Answers every reply held now. */
void yh_http_fake_release(yh_http_fake_t *f);

/* Requests recorded so far, for path (NULL: all). */
size_t yh_http_fake_count(yh_http_fake_t *f, const char *path);

/* Replies being held or delayed right now. */
size_t yh_http_fake_waiting(yh_http_fake_t *f);

/* The i-th request recorded (from 0), or NULL. Borrowed; valid until yh_http_fake_stop(). */
const yh_http_fake_req_t *yh_http_fake_request(yh_http_fake_t *f, size_t i);

/* The value of header name (any case) in req, copied into buf; NULL when absent. */
const char *yh_http_fake_header(const yh_http_fake_req_t *req, const char *name, char *buf,
                                size_t len);

/* TCP connections accepted so far. */
unsigned yh_http_fake_connections(yh_http_fake_t *f);

/* --- for the fakes built on this server ----------------------------------------------------- */

/* yh_http_fake_start() with fn(arg) as its handler from the first request on. Caller owns the
 * result; free with yh_http_fake_stop() (before whatever arg points to). */
yh_http_fake_t *yh_http_fake_serve(yh_http_fake_fn *fn, void *arg);

/* What a fake keeps besides its API's own state: its server, its base URL (kept: the buffer of
 * yh_http_fake_url() is per call) and the mutex that guards the API state. Embed it in the
 * fake; the fake owns it. */
typedef struct {
    yh_http_fake_t *http;
    char url[128];
    pthread_mutex_t lock;
} yh_fake_srv_t;

/* Inits s's lock, starts s's server with fn(arg) as its handler and keeps the URL of path (""
 * for the root) in s->url. Aborts the test program when the server cannot start. */
void yh_fake_srv_start(yh_fake_srv_t *s, const char *path, yh_http_fake_fn *fn, void *arg);

/* Stops s's server (its threads joined: no handler runs after this) and destroys the lock. */
void yh_fake_srv_stop(yh_fake_srv_t *s);

/* calloc(1, size) that aborts the test program when memory runs out (a broken fixture is not a
 * result). Caller owns the result; free with free(). */
void *yh_http_fake_xcalloc(size_t size);

/* The value of the i-th occurrence (from 0) of key in query, "k=v&k2=v2" as recorded (the
 * server has decoded it), copied into out (cap bytes, NUL-terminated, truncated). Returns
 * true when there is one; otherwise out is "". */
bool yh_http_query_nth(const char *query, const char *key, size_t i, char *out, size_t cap);

/* yh_http_query_nth() for key's first occurrence. */
bool yh_http_query_param(const char *query, const char *key, char *out, size_t cap);

/* True when query holds key=value exactly (at any of key's occurrences). */
bool yh_http_query_has(const char *query, const char *key, const char *value);

/* The value of key in an application/x-www-form-urlencoded body (the first occurrence), with
 * %XX and '+' decoded, copied into out (cap bytes, NUL-terminated, truncated). Returns true
 * when key is there; otherwise out is "". */
bool yh_http_form_param(const char *body, const char *key, char *out, size_t cap);

/* Base64 of n bytes of in, into out (NUL-terminated; stops at the last whole group that fits
 * cap). url false: the standard alphabet with '=' padding (RFC 4648 section 4), as basic
 * authentication writes credentials; true: the URL-safe alphabet without padding (section 5),
 * as Google's APIs write message bodies. Returns out. */
char *yh_base64(const void *in, size_t n, bool url, char *out, size_t cap);

/* "Basic <base64(user:password)>", the Authorization value that basic authentication (RFC
 * 7617) sends, into out (cap bytes). Returns out. */
char *yh_http_basic_auth(const char *user, const char *password, char *out, size_t cap);

/* The token of req's "Authorization: Bearer <token>" header, copied into buf (len bytes);
 * NULL when the header is absent, names another scheme or carries no token. */
const char *yh_http_fake_bearer(const yh_http_fake_req_t *req, char *buf, size_t len);

/* A growing NUL-terminated text, for building a reply body. Start it zeroed ({0}); s stays
 * NULL until the first add. The caller owns s: free() it, or give it to yh_http_reply_take(). */
typedef struct {
    char *s;
    size_t n, cap;
} yh_text_t;

/* Appends printf-style text. Aborts the test program when memory runs out. */
void yh_text_add(yh_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s (NULL: empty) as a JSON string: quoted, with '"', '\\' and control characters
 * escaped. */
void yh_text_json_str(yh_text_t *t, const char *s);

/* Fills a handler's reply with status, body and headers, and returns true (for the handler's
 * return). body is malloc'ed and becomes the server's (freed once copied); headers are
 * borrowed (keep them static). */
bool yh_http_reply_take(yh_http_reply_t *reply, int status, char *body, const char *headers);

/* A request's JSON body decoded to msgpack (yard/json.h, yard/mp.h); obj and whatever it
 * points into live as long as the yh_http_json_t. */
typedef struct {
    msgpack_zone zone;
    msgpack_object obj;
    void *mp;
} yh_http_json_t;

/* Decodes req's body into *j. Returns true when the body is one JSON value (of any type: check
 * j->obj.type); false for an empty body or one that is not JSON. Free *j with
 * yh_http_json_free() either way. */
bool yh_http_json_parse(const yh_http_fake_req_t *req, yh_http_json_t *j);
void yh_http_json_free(yh_http_json_t *j);

#endif
