/* Retries for outbound HTTP: which failed attempts are tried again (the caller names the
 * statuses and the methods that are safe), how long to wait (exponential backoff with full
 * jitter, AWS's "Exponential Backoff And Jitter": a uniformly random wait in [0, ceiling], so
 * that many clients failing together do not retry together), and what a Retry-After says.
 * Pure functions: the engine (http.c) owns the clock, the randomness and the timers. */
#include "alloc_internal.h"
#include "http_internal.h"
#include "yard/error.h"
#include "yard/log.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_BASE_MS       200
#define S_CAP_MS        30000
#define S_DEFAULT_VERBS "GET,HEAD,PUT,DELETE,OPTIONS" /* idempotent, RFC 9110 §9.2.2 */

int
yard_http_req_retry(yard_http_req_t *req, const yard_http_retry_t *policy)
{
    if (policy->max_attempts > YARD__HTTP_MAX_ATTEMPTS) {
        yard_log(YARD_LOG_WARN, "http: retry max_attempts over the limit",
                 YF_UINT("max_attempts", policy->max_attempts),
                 YF_INT("limit", YARD__HTTP_MAX_ATTEMPTS));
        return YARD_E_INVALID;
    }
    for (int i = 0; i < YARD_HTTP_MAX_STATUSES && policy->statuses[i]; i++) {
        if (policy->statuses[i] < 100 || policy->statuses[i] > 599) {
            yard_log(YARD_LOG_WARN, "http: retry status outside 100..599",
                     YF_INT("status", policy->statuses[i]));
            return YARD_E_INVALID;
        }
    }
    free(req->retry_methods);
    req->retry = *policy;
    req->retry_methods = yard__xstrdup(policy->methods ? policy->methods : S_DEFAULT_VERBS);
    req->retry.methods = req->retry_methods;
    req->has_retry = true;
    return 0;
}

/* True when method is one of the comma-separated list's entries (spaces around allowed). */
static bool
s_method_listed(const char *list, const char *method)
{
    size_t mlen = strlen(method);
    for (const char *p = list; *p;) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, ", ");
        if (n == mlen && strncasecmp(p, method, n) == 0) {
            return true;
        }
        p += n;
    }
    return false;
}

bool
yard__http_should_retry(const yard_http_req_t *req, uint32_t attempts, int status, int err)
{
    const yard_http_retry_t *p = &req->retry;
    if (!req->has_retry || attempts >= p->max_attempts || err == YARD_E_SHUTDOWN ||
        err == YARD_E_TOO_LARGE || !s_method_listed(p->methods, req->method)) {
        return false;
    }
    if (status == 0) {
        /* no response: only failures that another attempt can cure (not a malformed URL) */
        return p->retry_transport &&
               (err == YARD_E_TIMEOUT || err == YARD_E_UNREACHABLE || err == YARD_E_IO);
    }
    for (int i = 0; i < YARD_HTTP_MAX_STATUSES && p->statuses[i]; i++) {
        if (p->statuses[i] == status) {
            return true;
        }
    }
    return false;
}

uint32_t
yard_http_backoff_ms(const yard_http_retry_t *p, uint32_t retry, uint64_t rnd,
                     int64_t retry_after_ms)
{
    uint64_t base = p->base_ms ? p->base_ms : S_BASE_MS;
    uint64_t cap = p->cap_ms ? p->cap_ms : S_CAP_MS;
    uint64_t ceiling = cap;
    if (retry >= 1 && retry - 1 < 40) {
        uint64_t grown = base << (retry - 1); /* base < 2^32, shift < 40: no overflow */
        ceiling = grown < cap ? grown : cap;
    }
    uint64_t wait = rnd % (ceiling + 1);
    if (retry_after_ms > 0 && (uint64_t)retry_after_ms > wait) {
        wait = (uint64_t)retry_after_ms < cap ? (uint64_t)retry_after_ms : cap;
    }
    return (uint32_t)wait;
}

int
yard_http_retry_after_ms(const char *value, time_t now, int64_t *ms)
{
    *ms = 0;
    if (!value) {
        return YARD_E_INVALID;
    }
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    if (isdigit((unsigned char)*value)) {
        /* delta-seconds: digits only (trailing white space allowed), bounded */
        char *end = NULL;
        unsigned long long secs = strtoull(value, &end, 10);
        end += strspn(end, " \t");
        if (*end || secs > 365ull * 24 * 3600) {
            return YARD_E_INVALID;
        }
        *ms = (int64_t)secs * 1000;
        return 0;
    }
    time_t at = curl_getdate(value, NULL);
    if (at == (time_t)-1) {
        return YARD_E_INVALID;
    }
    *ms = at > now ? (int64_t)(at - now) * 1000 : 0;
    return 0;
}
