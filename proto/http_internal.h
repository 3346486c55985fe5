/* Private to libyard: what the outbound HTTP files share. http_req.c builds requests and
 * redacts their secrets, http_retry.c decides on retries and their waits, http.c runs the
 * engine (curl multi + loop source), http_resp.c reads responses.
 *
 * Invariant: no text that leaves these files (a log line, an error text, a redacted URL) is
 * written without going through yard__http_redact() with the request it is about. */
#ifndef YARD_HTTP_INTERNAL_H
#define YARD_HTTP_INTERNAL_H

#include "yard/http.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YARD__HTTP_MAX_ATTEMPTS 20
#define YARD__HTTP_ERR_MAX      512 /* bytes of an error text */

typedef struct {
    char *line; /* "Name: value", as curl takes it */
    bool secret;
} yard__http_header_t;

struct yard_http_req {
    char method[17];
    char *url; /* the template, placeholders unfilled */
    unsigned placeholders;
    char *secrets[YARD_HTTP_MAX_SECRETS];
    bool fills[YARD_HTTP_MAX_SECRETS]; /* fills a placeholder (in order) or occurs in url */
    unsigned n_secrets, n_fills;
    yard__http_header_t headers[YARD_HTTP_MAX_HEADERS];
    unsigned n_headers;
    char *body;
    size_t body_len;
    bool has_body;
    uint32_t timeout_ms;
    bool has_retry;
    yard_http_retry_t retry;
    char *retry_methods; /* owned copy of retry.methods (or NULL) */
};

/* The response a callback reads; lives in the transfer (http.c). */
struct yard_http_resp {
    int err;
    int status;
    uint32_t attempts;
    const char *method;
    const char *url_redacted;
    char *body;
    size_t body_len;
    char err_text[YARD__HTTP_ERR_MAX];
    CURL *easy; /* for curl_easy_header(); NULL when no response arrived */
};

/* Allocation that aborts on failure (never returns NULL). */
void *yard__http_alloc(size_t n);
char *yard__http_strdup(const char *s);
/* Zeroes s's bytes, then frees it (NULL is fine): for secrets and strings holding them. */
void yard__http_wipe_free(char *s);

/* The URL to send, placeholders filled. Returns 0 and *out (caller owns it; free with
 * yard__http_wipe_free()), or YARD_E_INVALID when a placeholder is left unfilled. */
int yard__http_req_url(const yard_http_req_t *req, char **out);

/* text with every secret of req (URL secrets, secret header values and their credentials
 * after the scheme) replaced by "<secret>", written into out (outlen bytes, NUL-terminated,
 * truncated). req may be NULL (text copied as is). */
void yard__http_redact(const yard_http_req_t *req, const char *text, char *out, size_t outlen);

/* The headers for curl, plus "Expect:" (no 100-continue round trip). Caller owns the list; it
 * holds secrets: free with yard__http_slist_wipe(). */
struct curl_slist *yard__http_req_slist(const yard_http_req_t *req);
void yard__http_slist_wipe(struct curl_slist *list);

/* True when req's policy allows another attempt after attempt number `attempts` ended with
 * status (0: no response; then err says why). */
bool yard__http_should_retry(const yard_http_req_t *req, uint32_t attempts, int status, int err);

/* Names the slot that points at h (a replica's YARD__SLOT_HTTP): destroy sets it to NULL. */
void yard__http_set_slot(yard_http_t *h, void **slot);

#endif
