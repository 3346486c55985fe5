/* A fake of Google's OAuth 2.0 token endpoint (POST https://oauth2.googleapis.com/token) for
 * the gmail actor's tests, on tests/harness/http_fake.h. It serves the refresh-token grant
 * (RFC 6749 §6; developers.google.com/identity/protocols/oauth2/web-server#offline) as Google
 * documents it:
 *
 *   - the request is a form POST (application/x-www-form-urlencoded) with grant_type=
 *     refresh_token, client_id, client_secret and refresh_token;
 *   - success: 200 {"access_token","expires_in","scope","token_type":"Bearer"};
 *   - errors (RFC 6749 §5.2): 400 {"error":"unsupported_grant_type"|"invalid_request",
 *     "error_description"}, 401 {"error":"invalid_client"} for a wrong client id or secret,
 *     400 {"error":"invalid_grant","error_description":"Token has been expired or revoked."}
 *     for a refresh token that is unknown or revoked.
 *
 * The access tokens it issues are what gmail_fake.h accepts (go_fake_valid()).
 * Every function is thread-safe. */
#ifndef GOOGLE_OAUTH_FAKE_H
#define GOOGLE_OAUTH_FAKE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct go_fake go_fake_t;

/* Starts the fake for one OAuth client and its refresh token (copied). Caller owns the
 * result; free with go_fake_stop(). Aborts the test program when the server cannot start. */
go_fake_t *go_fake_start(const char *client_id, const char *client_secret,
                         const char *refresh_token);
void go_fake_stop(go_fake_t **f_p);

/* "http://127.0.0.1:<port>/token": the actor's token_uri. Borrowed; valid until stopped. */
const char *go_fake_token_uri(go_fake_t *f);

/* Revokes the refresh token (every later grant: invalid_grant), or, with a new one, replaces
 * it (the user consented again). */
void go_fake_set_refresh_token(go_fake_t *f, const char *refresh_token);
/* expires_in of the tokens issued from now on (default 3599). */
void go_fake_expires_in(go_fake_t *f, int seconds);
/* Every token issued so far stops being valid (Gmail then answers 401). */
void go_fake_expire_all(go_fake_t *f);
/* The next n grants answer status (500, 503) with a server error. */
void go_fake_fail_next(go_fake_t *f, int n, int status);

/* Issues an access token as a grant would, without a request (the one another replica got),
 * into buf (64 bytes). Counted by go_fake_issued(), not go_fake_requests(). */
void go_fake_issue(go_fake_t *f, char *buf);
/* True when token is an access token issued and not expired. */
bool go_fake_valid(go_fake_t *f, const char *token);
/* Grant requests received (any outcome), and access tokens issued. */
size_t go_fake_requests(go_fake_t *f);
size_t go_fake_issued(go_fake_t *f);

#endif
