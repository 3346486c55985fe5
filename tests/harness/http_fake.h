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
 * is thread-safe. */
#ifndef YARD_HARNESS_HTTP_FAKE_H
#define YARD_HARNESS_HTTP_FAKE_H

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

#endif
