/* Test helpers shared by the auth actor's tests (test_auth, test_mfa*, test_oidc*): the
 * actor-harness call in JSON, a flat-JSON string reader, a TOTP code for a step, HTTP through
 * the gateway with libcurl, and the wait for the service on the bus. Built into the static
 * library yard_auth_testutil (actors/auth/CMakeLists.txt); test code only.
 *
 * Every check is a cmocka assertion, so a failure fails the calling test. Nothing returned
 * is owned by the caller except where a function says so. */
#ifndef YARD_AUTH_TEST_UTIL_H
#define YARD_AUTH_TEST_UTIL_H

#include "yard/actor_test.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The string value of "key" in a flat JSON text (json may be NULL: then it fails), into out
 * (cap bytes, NUL-terminated); fails when the key is missing or the value does not fit. */
void ath_json_str(const char *json, const char *key, char *out, size_t cap);

/* json converted to msgpack into *mp (malloc'd: the caller frees it) and *size. */
void ath_pack(const char *json, void **mp, size_t *size);

/* Calls op of the actor under test with json as its arguments. The caller owns the request
 * (yard_request_destroy_test). */
yard_request_t *ath_request(yard_actor_test_t *t, const char *op, const char *json);

/* For yard_actor_test_run: true once req (a yard_request_t *) is answered. */
bool ath_answered(void *req);

/* The outcome of an answered req: returns 0 or the yard error; the app error ("" when none)
 * into app (app_cap bytes) and, on success, the reply as JSON into json (json_cap bytes;
 * fails when it does not fit). req stays the caller's. */
int ath_outcome(yard_request_t *req, char *app, size_t app_cap, char *json, size_t json_cap);

/* The 6-digit TOTP code of secret (base32) for time step "step", into out (cap bytes). */
void ath_totp_at(const char *secret, uint64_t step, char *out, size_t cap);

/* An HTTP answer: status, body (cut at 16 KiB), Location and X-MFA-Challenge ("" when none). */
typedef struct {
    long status;
    char body[16384];
    size_t len;
    char location[4096];
    char challenge[128];
} ath_http_t;

/* POSTs json (Content-Type: application/json) to base + path, with a bearer token when token
 * is not NULL, within timeout_ms; out is overwritten. Returns the status. */
long ath_http_post(const char *base, const char *path, const char *json, const char *token,
                   long timeout_ms, ath_http_t *out);

/* GETs url without following redirects, within timeout_ms; out is overwritten. Returns the
 * status. */
long ath_http_get(const char *url, long timeout_ms, ath_http_t *out);

/* Replicas register asynchronously: calls service "auth" op with json on the broker at bport
 * until the service is there (10 s at most), and asserts the answer's status is want. */
void ath_wait_service(int bport, const char *op, const char *json, int want);

#endif
