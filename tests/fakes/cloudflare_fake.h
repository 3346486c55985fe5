/* A fake of the Cloudflare API v4 DNS endpoints, following developers.cloudflare.com:
 *   GET   /client/v4/zones?name=Z                              list zones by name
 *   GET   /client/v4/zones/ZID/dns_records?type=T&name=N       list records
 *   POST  /client/v4/zones/ZID/dns_records                     create
 * {type,name,content,ttl,proxied} PATCH /client/v4/zones/ZID/dns_records/RID                 change
 * the fields given Every answer is the v4 envelope {success, errors[{code,message}], messages,
 * result}. Auth is a bearer token: no or malformed Authorization -> 400 error 6003 "Invalid request
 * headers" (error_chain 6111); an unknown token -> 403 error 9109 "Invalid access token"; a
 * read-only token writing -> 403 error 10000 "Authentication error". A missing record -> 404 error
 * 81044; an unknown zone id -> 400 error 7003; an identical record -> 400 error 81058; bad content
 * -> 400 error 9005. Rate limit: over `limit` requests in `window` seconds (default the
 * documented 1200 per 5 minutes) -> 429 with Retry-After until the window ends. The test may
 * also inject the next answers (429 with Retry-After, 5xx). On tests/harness/http_fake.h;
 * thread-safe. */
#ifndef YARD_FAKES_CLOUDFLARE_H
#define YARD_FAKES_CLOUDFLARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct yh_cloudflare yh_cloudflare_t;

/* Starts the API with one token allowed to read and edit DNS. Caller owns it; free with
 * yh_cf_stop(). Aborts the test program when it cannot start. */
yh_cloudflare_t *yh_cf_start(const char *token);
void yh_cf_stop(yh_cloudflare_t **f_p);

/* A token that may read zones and records but not change them. */
void yh_cf_add_readonly_token(yh_cloudflare_t *f, const char *token);
/* A zone (at most 8). */
void yh_cf_add_zone(yh_cloudflare_t *f, const char *name, const char *id);
/* A record (at most 32) in zone zone_id. */
void yh_cf_add_record(yh_cloudflare_t *f, const char *zone_id, const char *id, const char *type,
                      const char *name, const char *content, int64_t ttl, bool proxied);

/* Deletes record id (as the dashboard would). Returns 0, or -1 when there is none. */
int yh_cf_delete_record(yh_cloudflare_t *f, const char *id);

/* The next n requests (any path) answer status: 429 with "Retry-After: retry_after_s" when
 * retry_after_s > 0 (error 971 "Please wait and consider throttling your request speed"), or
 * a 5xx with error 1000. */
void yh_cf_inject(yh_cloudflare_t *f, int status, int retry_after_s, size_t n);

/* At most limit requests per window_s seconds (real time); 0 limit: no limit. */
void yh_cf_rate_limit(yh_cloudflare_t *f, unsigned limit, unsigned window_s);

/* "http://127.0.0.1:<port>/client/v4" Borrowed; valid until stop. */
const char *yh_cf_url(yh_cloudflare_t *f);

/* Requests received with method (NULL: all). */
size_t yh_cf_calls(yh_cloudflare_t *f, const char *method);

/* Record (type, name)'s content copied into content, its ttl and proxied (each may be NULL).
 * Returns 0, or -1 when there is no such record. */
int yh_cf_record(yh_cloudflare_t *f, const char *type, const char *name, char *content, size_t len,
                 int64_t *ttl, bool *proxied);

/* Request i's method and body (copied; may be NULL). Returns 0 or -1 when none. */
int yh_cf_request(yh_cloudflare_t *f, size_t i, char *method, char *path, char *body, size_t len);

#endif
