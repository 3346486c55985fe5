/* Test helpers shared by the auth actor's tests: see auth_test_util.h. */
#include "auth_test_util.h"

#include "bus_json.h"
#include "harness.h"
#include "totp.h"
#include "yard/client.h"
#include "yard/json.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
ath_json_str(const char *json, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    assert_non_null(p);
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    assert_true(n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

void
ath_pack(const char *json, void **mp, size_t *size)
{
    char err[128];
    assert_int_equal(yard_json_to_msgpack(json, strlen(json), mp, size, err, sizeof err), 0);
}

yard_request_t *
ath_request(yard_actor_test_t *t, const char *op, const char *json)
{
    void *mp = NULL;
    size_t size = 0;
    ath_pack(json, &mp, &size);
    yard_request_t *req = yard_actor_test_call(t, op, mp, size);
    free(mp);
    return req;
}

bool
ath_answered(void *req)
{
    return yard_request_outcome_test(req, NULL, NULL, NULL) != 1;
}

int
ath_outcome(yard_request_t *req, char *app, size_t app_cap, char *json, size_t json_cap)
{
    const void *out = NULL;
    size_t n = 0;
    const char *a = NULL;
    int status = yard_request_outcome_test(req, &out, &n, &a);
    snprintf(app, app_cap, "%s", a ? a : "");
    if (status != 0) {
        return status;
    }
    char *text = NULL, err[128];
    size_t len = 0;
    assert_int_equal(yard_json_from_msgpack(out, n, &text, &len, err, sizeof err), 0);
    assert_true(len < json_cap);
    memcpy(json, text, len + 1);
    free(text);
    return status;
}

void
ath_totp_at(const char *secret, uint64_t step, char *out, size_t cap)
{
    uint8_t key[64];
    size_t n = 0;
    uint32_t c = 0;
    assert_int_equal(auth_base32_decode(secret, key, sizeof key, &n), 0);
    assert_int_equal(auth_hotp(key, n, step, 6, &c), 0);
    auth_totp_format(c, 6, out, cap);
}

static size_t
s_write(char *p, size_t size, size_t n, void *arg)
{
    ath_http_t *b = arg;
    size_t k = size * n;
    if (b->len + k < sizeof b->body) {
        memcpy(b->body + b->len, p, k);
        b->len += k;
        b->body[b->len] = '\0';
    }
    return k;
}

/* Keeps the X-MFA-Challenge header: login's challenge travels there, never in the body. */
static size_t
s_header(char *p, size_t size, size_t n, void *arg)
{
    ath_http_t *b = arg;
    size_t k = size * n;
    static const char name[] = "X-MFA-Challenge:";
    if (k > sizeof name && strncasecmp(p, name, sizeof name - 1) == 0) {
        const char *v = p + sizeof name - 1;
        while (*v == ' ') {
            v++;
        }
        size_t len = strcspn(v, "\r\n");
        if (len < sizeof b->challenge) {
            memcpy(b->challenge, v, len);
            b->challenge[len] = '\0';
        }
    }
    return k;
}

/* Performs c into out (overwritten): status, body, challenge header, redirect Location. */
static long
s_perform(CURL *c, long timeout_ms, ath_http_t *out)
{
    memset(out, 0, sizeof *out);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    char *loc = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
    snprintf(out->location, sizeof out->location, "%s", loc ? loc : "");
    return out->status;
}

long
ath_http_post(const char *base, const char *path, const char *json, const char *token,
              long timeout_ms, ath_http_t *out)
{
    char url[256], auth[4200];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    long status = s_perform(c, timeout_ms, out);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

long
ath_http_get(const char *url, long timeout_ms, ath_http_t *out)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    long status = s_perform(c, timeout_ms, out);
    curl_easy_cleanup(c);
    return status;
}

void
ath_wait_service(int bport, const char *op, const char *json, int want)
{
    yard_client_t *client = NULL;
    yard_client_opts_t co = {.default_timeout_ms = 5000};
    assert_int_equal(yard_client_new(yh_endpoint(bport), &co, &client), 0);
    yh_result_t r = yh_call_json_ready(client, "auth", op, json, NULL, 10000);
    assert_int_equal(r.status, want);
    yh_result_free(&r);
    yard_client_destroy(&client);
}
