/* The OAuth 2.0 token endpoint fake (google_oauth_fake.h). */
#include "google_oauth_fake.h"

#include "http_fake.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_TOKENS 4096

struct go_fake {
    yh_fake_srv_t srv;
    char client_id[256], client_secret[256], refresh[512];
    int expires_in;
    int fail_n, fail_status;
    char *tokens[S_MAX_TOKENS];
    bool valid[S_MAX_TOKENS];
    size_t n_tokens, requests;
};

/* Answers with fmt's JSON, a1 and a2 in its %s (NULL: ""); the server frees the body. */
static bool
s_answer(yh_http_reply_t *reply, int status, const char *fmt, const char *a1, const char *a2)
{
    yh_text_t b = {0};
    yh_text_add(&b, fmt, a1 ? a1 : "", a2 ? a2 : "");
    return yh_http_reply_take(reply, status, b.s,
                              "Content-Type: application/json; charset=utf-8\nCache-Control: "
                              "no-store");
}

/* A new valid token into tok (64 bytes). Caller holds the lock. */
static void
s_issue_locked(go_fake_t *f, char *tok)
{
    snprintf(tok, 64, "ya29.fake-%zu-%04x", f->n_tokens + 1, (unsigned)rand() & 0xffff);
    if (f->n_tokens < S_MAX_TOKENS) {
        f->tokens[f->n_tokens] = strdup(tok);
        f->valid[f->n_tokens++] = true;
    }
}

static bool
s_handle(const yh_http_fake_req_t *req, yh_http_reply_t *reply, void *arg)
{
    go_fake_t *f = arg;
    if (strcmp(req->path, "/token") != 0) {
        return false;
    }
    char ctype[128] = "", grant[64] = "", cid[256] = "", secret[256] = "", refresh[512] = "";
    yh_http_fake_header(req, "Content-Type", ctype, sizeof ctype);
    pthread_mutex_lock(&f->srv.lock);
    f->requests++;
    bool r;
    if (strcmp(req->method, "POST") != 0) {
        r = s_answer(reply, 405,
                     "{\"error\":\"invalid_request\",\"error_description\":"
                     "\"Method not allowed\"}",
                     NULL, NULL);
    } else if (f->fail_n > 0) {
        f->fail_n--;
        r = s_answer(reply, f->fail_status, "{\"error\":\"internal_failure\"}", NULL, NULL);
    } else if (strncmp(ctype, "application/x-www-form-urlencoded", 33) != 0 ||
               !yh_http_form_param(req->body, "grant_type", grant, sizeof grant)) {
        r = s_answer(reply, 400,
                     "{\"error\":\"invalid_request\",\"error_description\":"
                     "\"Required parameter is missing: grant_type\"}",
                     NULL, NULL);
    } else if (strcmp(grant, "refresh_token") != 0) {
        r = s_answer(reply, 400,
                     "{\"error\":\"unsupported_grant_type\",\"error_description\":"
                     "\"Invalid grant_type: %s\"}",
                     grant, NULL);
    } else if (!yh_http_form_param(req->body, "client_id", cid, sizeof cid) ||
               !yh_http_form_param(req->body, "client_secret", secret, sizeof secret) ||
               strcmp(cid, f->client_id) != 0 || strcmp(secret, f->client_secret) != 0) {
        r = s_answer(reply, 401,
                     "{\"error\":\"invalid_client\",\"error_description\":"
                     "\"Unauthorized\"}",
                     NULL, NULL);
    } else if (!yh_http_form_param(req->body, "refresh_token", refresh, sizeof refresh) ||
               !f->refresh[0] || strcmp(refresh, f->refresh) != 0) {
        r = s_answer(reply, 400,
                     "{\"error\":\"invalid_grant\",\"error_description\":"
                     "\"Token has been expired or revoked.\"}",
                     NULL, NULL);
    } else if (f->n_tokens == S_MAX_TOKENS) {
        r = s_answer(reply, 500, "{\"error\":\"internal_failure\"}", NULL, NULL);
    } else {
        char tok[64], exp[16];
        s_issue_locked(f, tok);
        snprintf(exp, sizeof exp, "%d", f->expires_in);
        r = s_answer(reply, 200,
                     "{\"access_token\":\"%s\",\"expires_in\":%s,\"scope\":"
                     "\"https://www.googleapis.com/auth/gmail.modify\",\"token_type\":\"Bearer\"}",
                     tok, exp);
    }
    pthread_mutex_unlock(&f->srv.lock);
    return r;
}

go_fake_t *
go_fake_start(const char *client_id, const char *client_secret, const char *refresh_token)
{
    go_fake_t *f = yh_http_fake_xcalloc(sizeof *f);
    snprintf(f->client_id, sizeof f->client_id, "%s", client_id);
    snprintf(f->client_secret, sizeof f->client_secret, "%s", client_secret);
    snprintf(f->refresh, sizeof f->refresh, "%s", refresh_token);
    f->expires_in = 3599;
    yh_fake_srv_start(&f->srv, "/token", s_handle, f);
    return f;
}

void
go_fake_stop(go_fake_t **f_p)
{
    go_fake_t *f = *f_p;
    if (!f) {
        return;
    }
    yh_fake_srv_stop(&f->srv);
    for (size_t i = 0; i < f->n_tokens; i++) {
        free(f->tokens[i]);
    }
    free(f);
    *f_p = NULL;
}

const char *
go_fake_token_uri(go_fake_t *f)
{
    return f->srv.url;
}

void
go_fake_set_refresh_token(go_fake_t *f, const char *refresh_token)
{
    pthread_mutex_lock(&f->srv.lock);
    snprintf(f->refresh, sizeof f->refresh, "%s", refresh_token ? refresh_token : "");
    pthread_mutex_unlock(&f->srv.lock);
}

void
go_fake_expires_in(go_fake_t *f, int seconds)
{
    pthread_mutex_lock(&f->srv.lock);
    f->expires_in = seconds;
    pthread_mutex_unlock(&f->srv.lock);
}

void
go_fake_expire_all(go_fake_t *f)
{
    pthread_mutex_lock(&f->srv.lock);
    for (size_t i = 0; i < f->n_tokens; i++) {
        f->valid[i] = false;
    }
    pthread_mutex_unlock(&f->srv.lock);
}

void
go_fake_fail_next(go_fake_t *f, int n, int status)
{
    pthread_mutex_lock(&f->srv.lock);
    f->fail_n = n;
    f->fail_status = status;
    pthread_mutex_unlock(&f->srv.lock);
}

bool
go_fake_valid(go_fake_t *f, const char *token)
{
    bool ok = false;
    pthread_mutex_lock(&f->srv.lock);
    for (size_t i = 0; i < f->n_tokens && !ok; i++) {
        ok = f->valid[i] && strcmp(f->tokens[i], token) == 0;
    }
    pthread_mutex_unlock(&f->srv.lock);
    return ok;
}

size_t
go_fake_requests(go_fake_t *f)
{
    pthread_mutex_lock(&f->srv.lock);
    size_t n = f->requests;
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

size_t
go_fake_issued(go_fake_t *f)
{
    pthread_mutex_lock(&f->srv.lock);
    size_t n = f->n_tokens;
    pthread_mutex_unlock(&f->srv.lock);
    return n;
}

void
go_fake_issue(go_fake_t *f, char *buf)
{
    pthread_mutex_lock(&f->srv.lock);
    s_issue_locked(f, buf);
    pthread_mutex_unlock(&f->srv.lock);
}
