/* The gmail actor through the runtime (yard/actor_test.h) against local fakes of Google's
 * token endpoint and the Gmail API (tests/fakes/google_oauth_fake.h, gmail_fake.h): first
 * sync, incremental sync over several pages, 404 -> resync, invalid_grant, 401 -> one
 * refresh, 429 / 403 / 5xx backoff and the end of the retries, the quota bucket, rules and
 * their actions (through a broker, to stub telegram and sink services), MIME decoding of a
 * fetched body, and the idle actor without accounts. The timers run on the harness's fake
 * clock; HTTP and leases in real time (s_pump turns both). */
#include "gmail_fake.h"
#include "google_oauth_fake.h"
#include "bus_json.h"
#include "capture.h"
#include "fixture.h"
#include "gm_internal.h"
#include "harness.h"
#include "yard/actor_test.h"
#include "yard/error.h"
#include "yard/json.h"
#include "yard/log.h"
#include "yard/mp.h"
#include "yard/registry.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_CID     "1234.apps.googleusercontent.com"
#define S_SECRET  "GOCSPX-client-secret"
#define S_REFRESH "1//refresh-token-me"

typedef struct {
    char *dir;
    go_fake_t *go;
    gm_fake_t *gm;
    yard_actor_test_t *t;
    gm_state_t *st;
    char yaml[8192];
} s_fix_t;

/* --- set-up -------------------------------------------------------------------------------- */

static void
s_files(s_fix_t *f)
{
    char path[512];
    snprintf(path, sizeof path, "%s/client", f->dir);
    yh_write_file(path, S_SECRET "\n");
    snprintf(path, sizeof path, "%s/refresh", f->dir);
    yh_write_file(path, S_REFRESH "\n");
}

/* Starts the fakes and the actor with `top` (top-level keys), `opts` (more gmail keys),
 * account extras and rules (YAML text, indented as list items under the keys). */
static void
s_start(s_fix_t *f, const char *top, const char *opts, const char *acct, const char *rules)
{
    memset(f, 0, sizeof *f);
    f->dir = yh_tmpdir();
    s_files(f);
    f->go = go_fake_start(S_CID, S_SECRET, S_REFRESH);
    f->gm = gm_fake_start(f->go);
    snprintf(f->yaml, sizeof f->yaml,
             "%s"
             "gmail:\n"
             "  token_uri: %s\n"
             "  api_base: %s\n"
             "  retry_base: 5ms\n"
             "  retry_cap: 40ms\n"
             "  lease: 5s\n"
             "%s"
             "  accounts:\n"
             "    - name: me\n"
             "      client_id: " S_CID "\n"
             "      client_secret_file: %s/client\n"
             "      refresh_token_file: %s/refresh\n"
             "      labels: [INBOX]\n"
             "%s"
             "%s%s",
             top ? top : "", go_fake_token_uri(f->go), gm_fake_api_base(f->gm), opts ? opts : "",
             f->dir, f->dir, acct ? acct : "", rules ? "  rules:\n" : "", rules ? rules : "");
    assert_int_equal(yard_actor_test_new(&yard_actor_gmail, f->yaml, &f->t), 0);
    f->st = yard_ctx_state(yard_actor_test_ctx(f->t));
}

static void
s_stop(s_fix_t *f)
{
    yard_actor_test_destroy(&f->t);
    gm_fake_stop(&f->gm);
    go_fake_stop(&f->go);
    yh_rmtree(f->dir);
    free(f->dir);
}

static gm_acct_t *
s_acct(s_fix_t *f, const char *name)
{
    for (size_t i = 0; i < f->st->n_accts; i++) {
        if (strcmp(f->st->accts[i].name, name) == 0) {
            return &f->st->accts[i];
        }
    }
    fail_msg("no account %s", name);
    return NULL;
}

/* --- turning the actor --------------------------------------------------------------------- */

static bool
s_held(void *arg)
{
    return ((gm_acct_t *)arg)->held;
}

static bool
s_idle(void *arg)
{
    return ((gm_acct_t *)arg)->phase == GM_IDLE;
}

/* Turns HTTP and leases in real time and the fake clock by 50 ms steps until cond. */
static void
s_pump(s_fix_t *f, bool (*cond)(void *), void *arg, int max_ms)
{
    long long end = yh_now_ms() + max_ms;
    while (!cond(arg)) {
        if (yh_now_ms() > end) {
            fail_msg("the condition did not come within %d ms", max_ms);
        }
        yard_actor_test_run(f->t, 20, cond, arg);
        if (!cond(arg)) {
            yard_actor_test_advance(f->t, 50);
        }
    }
}

typedef struct {
    int status;
    char app[64];
    char *json;
} s_res_t;

static s_res_t
s_call(s_fix_t *f, const char *op, const char *json)
{
    void *body = NULL;
    size_t size = 0;
    if (json) {
        assert_int_equal(yard_json_to_msgpack(json, strlen(json), &body, &size, NULL, 0), 0);
    }
    yard_request_t *req = yard_actor_test_call(f->t, op, body, size);
    free(body);
    const void *out = NULL;
    const char *app = NULL;
    size_t n = 0;
    s_res_t r = {0};
    r.status = yard_request_outcome_test(req, &out, &n, &app);
    if (r.status == 0 && n) {
        assert_int_equal(yard_json_from_msgpack(out, n, &r.json, NULL, NULL, 0), 0);
    }
    snprintf(r.app, sizeof r.app, "%s", app ? app : "");
    yard_request_destroy_test(&req);
    return r;
}

/* One sync cycle of account name, to its end: the sync op starts it (or one is running). */
static void
s_sync(s_fix_t *f, const char *name)
{
    gm_acct_t *a = s_acct(f, name);
    s_pump(f, s_held, a, 10000);
    if (a->phase == GM_IDLE) {
        char body[96];
        snprintf(body, sizeof body, "{\"account\":\"%s\"}", name);
        s_res_t r = s_call(f, "sync", body);
        assert_int_equal(r.status, 0);
        free(r.json);
    }
    s_pump(f, s_idle, a, 30000);
}

/* --- reading events ------------------------------------------------------------------------ */

/* Events on subject so far. */
static size_t
s_count(s_fix_t *f, const char *subject)
{
    size_t n = 0, total = yard_actor_test_published(f->t, 0, NULL, NULL, NULL);
    for (size_t i = 0; i < total; i++) {
        const char *s = NULL;
        yard_actor_test_published(f->t, i, &s, NULL, NULL);
        n += strcmp(s, subject) == 0;
    }
    return n;
}

/* Field key of the k-th event on subject, into buf ("" when absent). */
static const char *
s_field(s_fix_t *f, const char *subject, size_t k, const char *key, char *buf, size_t cap)
{
    size_t total = yard_actor_test_published(f->t, 0, NULL, NULL, NULL);
    buf[0] = '\0';
    for (size_t i = 0; i < total; i++) {
        const char *s = NULL;
        const void *body = NULL;
        size_t size = 0;
        yard_actor_test_published(f->t, i, &s, &body, &size);
        if (strcmp(s, subject) != 0 || k-- > 0) {
            continue;
        }
        msgpack_zone zone;
        msgpack_zone_init(&zone, 1024);
        msgpack_object obj;
        assert_int_equal(yard_mp_decode(body, size, &zone, &obj, NULL, 0), 0);
        yard_mp_get_strbuf(&obj, key, buf, cap, NULL, 0);
        msgpack_zone_destroy(&zone);
        return buf;
    }
    fail_msg("no event %zu on %s", k, subject);
    return buf;
}

static const char *
s_store_get(s_fix_t *f, const char *key, char *buf, size_t cap)
{
    char *v = NULL;
    size_t n = 0;
    buf[0] = '\0';
    if (yard_store_get(yard_ctx_store(yard_actor_test_ctx(f->t)), key, &v, &n) == 0) {
        snprintf(buf, cap, "%s", v);
        free(v);
    }
    return buf;
}

/* --- first and incremental sync ------------------------------------------------------------ */

static void
t_first_sync(void **state)
{
    (void)state;
    s_fix_t f;
    s_start(&f, NULL, NULL, NULL, NULL);
    char ids[7][32];
    gm_fake_page_size(f.gm, 3);
    for (int i = 0; i < 7; i++) {
        char subj[32];
        snprintf(subj, sizeof subj, "hello %d", i);
        gm_fake_add(f.gm, "Ann <ann@example.com>", subj, "INBOX,UNREAD", NULL, NULL, ids[i]);
    }
    gm_fake_add(f.gm, "me@example.com", "sent", "SENT", NULL, NULL, NULL); /* not in INBOX */
    s_sync(&f, "me");
    /* getProfile first, then messages.list page by page (7 in pages of 3) */
    assert_string_equal(gm_fake_call_order(f.gm, 0), "getProfile");
    assert_string_equal(gm_fake_call_order(f.gm, 1), "messages.list");
    assert_int_equal(gm_fake_calls(f.gm, "messages.list"), 3);
    assert_int_equal(gm_fake_calls(f.gm, "messages.get"), 7);
    assert_int_equal(gm_fake_full_gets(f.gm), 0); /* metadata only: no rule needs a body */
    assert_int_equal(s_count(&f, "gmail.message.me"), 7);
    char buf[256];
    for (int i = 0; i < 7; i++) { /* oldest first */
        assert_string_equal(s_field(&f, "gmail.message.me", (size_t)i, "id", buf, sizeof buf),
                            ids[i]);
    }
    assert_string_equal(s_field(&f, "gmail.message.me", 2, "subject", buf, sizeof buf), "hello 2");
    assert_string_equal(s_field(&f, "gmail.message.me", 0, "from", buf, sizeof buf),
                        "Ann <ann@example.com>");
    assert_string_equal(s_field(&f, "gmail.message.me", 0, "account", buf, sizeof buf), "me");
    assert_string_equal(s_field(&f, "gmail.message.me", 0, "to", buf, sizeof buf),
                        "me@example.com");
    assert_true(strstr(s_field(&f, "gmail.message.me", 0, "messageId", buf, sizeof buf), ids[0]));
    assert_true(s_field(&f, "gmail.message.me", 0, "date", buf, sizeof buf)[0]);
    /* the cursor is the historyId getProfile gave before listing */
    gm_acct_t *a = s_acct(&f, "me");
    assert_string_equal(s_store_get(&f, "gmail:me:cursor", buf, sizeof buf), a->cursor);
    assert_true(strtoull(a->cursor, NULL, 10) > 1000);
    assert_int_equal(go_fake_issued(f.go), 1);
    /* a second cycle: nothing new, no new token (cached), no duplicate */
    s_sync(&f, "me");
    assert_int_equal(s_count(&f, "gmail.message.me"), 7);
    assert_int_equal(go_fake_issued(f.go), 1);
    assert_int_equal(gm_fake_calls(f.gm, "history.list"), 1);
    s_res_t r = s_call(&f, "status", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"published\":7"));
    assert_non_null(strstr(r.json, "\"state\":\"idle\""));
    free(r.json);
    s_stop(&f);
}

/* Adds n messages from a@example.com with subject to the fake's INBOX. */
static void
s_add_inbox(s_fix_t *f, int n, const char *subject)
{
    for (int i = 0; i < n; i++) {
        gm_fake_add(f->gm, "a@example.com", subject, "INBOX", NULL, NULL, NULL);
    }
}

static void
t_max_initial(void **state)
{
    (void)state;
    s_fix_t f;
    s_start(&f, NULL, NULL, "      max_initial: 4\n      query: \"is:unread\"\n", NULL);
    gm_fake_page_size(f.gm, 3);
    char last[32];
    for (int i = 0; i < 9; i++) {
        gm_fake_add(f.gm, "a@example.com", "m", i == 8 ? "INBOX" : "INBOX,UNREAD", NULL, NULL,
                    last);
    }
    s_sync(&f, "me");
    /* the 4 newest unread: 9 listed newest first minus the read one, pages 3 + 1 */
    assert_int_equal(s_count(&f, "gmail.message.me"), 4);
    assert_int_equal(gm_fake_calls(f.gm, "messages.list"), 2);
    char buf[64];
    assert_string_not_equal(s_field(&f, "gmail.message.me", 3, "id", buf, sizeof buf), last);
    s_stop(&f);
}

static void
t_incremental_pages(void **state)
{
    (void)state;
    s_fix_t f;
    s_start(&f, NULL, NULL, NULL, NULL);
    s_add_inbox(&f, 3, "old");
    s_sync(&f, "me");
    assert_int_equal(s_count(&f, "gmail.message.me"), 3);
    gm_fake_page_size(f.gm, 3);
    char ids[8][32];
    for (int i = 0; i < 8; i++) {
        gm_fake_add(f.gm, "b@example.com", "new", "INBOX,UNREAD", NULL, NULL, ids[i]);
        if (i == 4) {
            gm_fake_add(f.gm, "me@example.com", "draft", "DRAFT", NULL, NULL, NULL);
        }
    }
    size_t lists = gm_fake_calls(f.gm, "messages.list");
    s_sync(&f, "me");
    assert_int_equal(gm_fake_calls(f.gm, "history.list"), 3); /* 9 records in pages of 3 */
    assert_int_equal(gm_fake_calls(f.gm, "messages.list"), lists);
    assert_int_equal(s_count(&f, "gmail.message.me"), 11);
    char buf[64];
    for (int i = 0; i < 8; i++) {
        assert_string_equal(s_field(&f, "gmail.message.me", 3 + (size_t)i, "id", buf, sizeof buf),
                            ids[i]);
    }
    s_res_t r = s_call(&f, "status", NULL);
    char want[96];
    snprintf(want, sizeof want, "\"cursor\":\"%s\"", s_acct(&f, "me")->cursor);
    assert_non_null(strstr(r.json, want));
    free(r.json);
    s_stop(&f);
}

static void
t_resync_after_404(void **state)
{
    (void)state;
    s_fix_t f;
    s_start(&f, NULL, NULL, NULL, NULL);
    s_add_inbox(&f, 3, "old");
    s_sync(&f, "me");
    gm_fake_add(f.gm, "a@example.com", "new 1", "INBOX", NULL, NULL, NULL);
    gm_fake_add(f.gm, "a@example.com", "new 2", "INBOX", NULL, NULL, NULL);
    gm_fake_expire_history(f.gm);
    s_sync(&f, "me");
    assert_int_equal(gm_fake_answers(f.gm, 404), 1);
    assert_int_equal(s_count(&f, "gmail.resync"), 1);
    assert_int_equal(gm_fake_calls(f.gm, "getProfile"), 2);
    /* the full sync lists all 5, publishes only the 2 not processed before */
    assert_int_equal(s_count(&f, "gmail.message.me"), 5);
    char buf[64];
    assert_string_equal(s_field(&f, "gmail.message.me", 4, "subject", buf, sizeof buf), "new 2");
    assert_int_equal(s_acct(&f, "me")->resyncs, 1);
    /* and history works again from the new cursor */
    gm_fake_add(f.gm, "a@example.com", "new 3", "INBOX", NULL, NULL, NULL);
    s_sync(&f, "me");
    assert_int_equal(s_count(&f, "gmail.message.me"), 6);
    assert_int_equal(s_count(&f, "gmail.resync"), 1);
    s_stop(&f);
}

/* --- tokens -------------------------------------------------------------------------------- */

static void
t_invalid_grant(void **state)
{
    (void)state;
    s_fix_t f;
    /* two accounts on the same fakes: me's refresh token is revoked, work's is good */
    memset(&f, 0, sizeof f);
    f.dir = yh_tmpdir();
    s_files(&f);
    f.go = go_fake_start(S_CID, S_SECRET, S_REFRESH);
    f.gm = gm_fake_start(f.go);
    char path[512];
    snprintf(path, sizeof path, "%s/refresh2", f.dir);
    yh_write_file(path, "1//revoked\n");
    snprintf(f.yaml, sizeof f.yaml,
             "gmail:\n  token_uri: %s\n  api_base: %s\n  retry_base: 5ms\n  retry_cap: 40ms\n"
             "  accounts:\n"
             "    - name: me\n      client_id: " S_CID "\n      client_secret_file: %s/client\n"
             "      refresh_token_file: %s/refresh2\n"
             "    - name: work\n      client_id: " S_CID "\n      client_secret_file: %s/client\n"
             "      refresh_token_file: %s/refresh\n",
             go_fake_token_uri(f.go), gm_fake_api_base(f.gm), f.dir, f.dir, f.dir, f.dir);
    assert_int_equal(yard_actor_test_new(&yard_actor_gmail, f.yaml, &f.t), 0);
    f.st = yard_ctx_state(yard_actor_test_ctx(f.t));
    gm_fake_add(f.gm, "a@example.com", "one", "INBOX", NULL, NULL, NULL);
    s_sync(&f, "me");
    assert_int_equal(s_count(&f, "gmail.account.needs_reauth"), 1);
    assert_int_equal(s_count(&f, "alert.gmail.me"), 1);
    char buf[256];
    assert_string_equal(s_field(&f, "gmail.account.needs_reauth", 0, "account", buf, sizeof buf),
                        "me");
    assert_null(strstr(s_field(&f, "alert.gmail.me", 0, "text", buf, sizeof buf), "revoked"));
    assert_int_equal(gm_fake_calls(f.gm, "getProfile"), 0);
    s_res_t r = s_call(&f, "status", NULL);
    assert_non_null(strstr(r.json, "\"state\":\"needs_reauth\""));
    assert_null(strstr(r.json, "1//")); /* no secret in the status */
    free(r.json);
    r = s_call(&f, "sync", "{\"account\":\"me\"}");
    assert_int_equal(r.status, YARD_E_SERVICE);
    assert_string_equal(r.app, "needs_reauth");
    /* the other account goes on */
    s_sync(&f, "work");
    assert_int_equal(s_count(&f, "gmail.message.work"), 1);
    /* ticks skip the stopped account: no more grant attempts for it */
    size_t grants = go_fake_requests(f.go);
    yard_actor_test_advance(f.t, 120000);
    s_pump(&f, s_idle, s_acct(&f, "work"), 10000);
    assert_int_equal(s_count(&f, "gmail.account.needs_reauth"), 1);
    assert_true(go_fake_requests(f.go) <= grants + 0);
    /* new credentials, then reauth: the account syncs again */
    yh_write_file(path, S_REFRESH "\n");
    r = s_call(&f, "reauth", "{\"account\":\"me\"}");
    assert_int_equal(r.status, 0);
    free(r.json);
    s_pump(&f, s_idle, s_acct(&f, "me"), 10000);
    s_sync(&f, "me");
    assert_int_equal(s_count(&f, "gmail.message.me"), 1);
    r = s_call(&f, "sync", "{\"account\":\"nobody\"}");
    assert_int_equal(r.status, YARD_E_NOT_FOUND);
    s_stop(&f);
}

static void
t_401_refreshes_once(void **state)
{
    (void)state;
    s_fix_t f;
    s_start(&f, NULL, NULL, NULL, NULL);
    gm_fake_add(f.gm, "a@example.com", "one", "INBOX", NULL, NULL, NULL);
    s_sync(&f, "me");
    assert_int_equal(go_fake_issued(f.go), 1);
    /* the token stops working early (revoked session): 401, one refresh, the call again */
    go_fake_expire_all(f.go);
    gm_fake_add(f.gm, "a@example.com", "two", "INBOX", NULL, NULL, NULL);
    s_sync(&f, "me");
    assert_int_equal(gm_fake_answers(f.gm, 401), 1);
    assert_int_equal(go_fake_issued(f.go), 2);
    assert_int_equal(s_count(&f, "gmail.message.me"), 2);
    /* a 401 again after the refresh is reported, not retried a third time */
    size_t hist = gm_fake_calls(f.gm, "history.list");
    gm_fake_fail(f.gm, "history.list", 401, "authError", 5);
    s_sync(&f, "me");
    assert_int_equal(gm_fake_calls(f.gm, "history.list"), hist + 2);
    assert_int_equal(go_fake_issued(f.go), 3);
    assert_non_null(strstr(s_acct(&f, "me")->last_error, "401"));
    s_stop(&f);
}

static void
t_token_cached_until_margin(void **state)
{
    (void)state;
    s_fix_t f;
    s_start(&f, NULL, NULL, NULL, NULL);
    go_fake_expires_in(f.go, 3599);
    s_sync(&f, "me");
    assert_int_equal(go_fake_issued(f.go), 1);
    char buf[256];
    assert_true(strncmp(s_store_get(&f, "gmail:me:token", buf, sizeof buf), "ya29.fake-1", 11) ==
                0);
    s_sync(&f, "me");
    assert_int_equal(go_fake_issued(f.go), 1);
    /* a token that would expire within the minute is cached for half its life only: one that
     * lives 2 s is gone from the store within 1.2 s, and the next call refreshes */
    yard_store_del(yard_ctx_store(yard_actor_test_ctx(f.t)), "gmail:me:token");
    go_fake_expires_in(f.go, 2);
    s_sync(&f, "me");
    assert_int_equal(go_fake_issued(f.go), 2);
    long long until = yh_now_ms() + 3000;
    while (s_store_get(&f, "gmail:me:token", buf, sizeof buf)[0] && yh_now_ms() < until) {
        yard_actor_test_run(f.t, 50, NULL, NULL);
    }
    assert_string_equal(buf, "");
    s_sync(&f, "me");
    assert_int_equal(go_fake_issued(f.go), 3);
    s_stop(&f);
}

/* Another replica (here: a hand-written lock in the store) is refreshing: this one does not
 * send a grant of its own; it waits for the token to appear in the store and uses it. */
static bool
s_profile_called(void *arg)
{
    return gm_fake_calls(((s_fix_t *)arg)->gm, "getProfile") > 0;
}

static void
t_one_refresh_across_replicas(void **state)
{
    (void)state;
    s_fix_t f;
    s_start(&f, NULL, NULL, NULL, NULL);
    yard_store_t *store = yard_ctx_store(yard_actor_test_ctx(f.t));
    assert_int_equal(yard_store_set_nx(store, "gmail:me:refreshing", "other/1/0", 9, 30000), 1);
    gm_acct_t *a = s_acct(&f, "me");
    s_pump(&f, s_held, a, 10000);
    s_res_t r = s_call(&f, "sync", "{\"account\":\"me\"}");
    assert_int_equal(r.status, 0);
    free(r.json);
    for (int i = 0; i < 20; i++) { /* 1 s of polling: no grant, no API call */
        yard_actor_test_run(f.t, 5, NULL, NULL);
        yard_actor_test_advance(f.t, 50);
    }
    assert_int_equal(go_fake_requests(f.go), 0);
    assert_int_equal(gm_fake_calls(f.gm, "getProfile"), 0);
    assert_int_equal(a->phase, GM_SYNCING);
    /* the other replica's grant lands in the store: this one goes on with it */
    char tok[64];
    go_fake_issue(f.go, tok);
    assert_int_equal(yard_store_set(store, "gmail:me:token", tok, strlen(tok), 60000), 0);
    s_pump(&f, s_profile_called, &f, 10000);
    s_pump(&f, s_idle, a, 10000);
    assert_int_equal(go_fake_requests(f.go), 0); /* never a grant of its own */
    assert_int_equal(go_fake_issued(f.go), 1);
    assert_string_equal(a->last_error, "");
    s_stop(&f);
}

/* Secrets (client secret, refresh token, access tokens) never reach a log line, even at debug
 * level, through a sync, a 401, a refresh and an invalid_grant. */
static void
t_secrets_not_logged(void **state)
{
    (void)state;
    yh_capture_t cap;
    yh_capture_start(&cap, STDERR_FILENO);
    yard_log_set_level(YARD_LOG_DEBUG);
    s_fix_t f;
    s_start(&f, "log_level: debug\n", NULL, NULL, NULL);
    gm_fake_add(f.gm, "a@example.com", "one", "INBOX", NULL, NULL, NULL);
    s_sync(&f, "me");
    char tok[256];
    s_store_get(&f, "gmail:me:token", tok, sizeof tok);
    go_fake_expire_all(f.go);
    s_sync(&f, "me");
    go_fake_set_refresh_token(f.go, "something-else");
    go_fake_expire_all(f.go);
    yard_store_del(yard_ctx_store(yard_actor_test_ctx(f.t)), "gmail:me:token");
    s_sync(&f, "me");
    assert_int_equal(s_count(&f, "gmail.account.needs_reauth"), 1);
    s_stop(&f);
    yard_log_set_level(YARD_LOG_ERROR);
    size_t n = 0;
    char *out = yh_capture_end(&cap, &n);
    assert_true(n > 0);
    assert_non_null(strstr(out, "gmail"));
    assert_null(strstr(out, S_SECRET));
    assert_null(strstr(out, S_REFRESH));
    assert_true(tok[0]);
    assert_null(strstr(out, tok));
    assert_null(strstr(out, "ya29."));
    free(out);
}

/* --- errors and quota ---------------------------------------------------------------------- */

static void
t_backoff_429_403_5xx(void **state)
{
    (void)state;
    s_fix_t f;
    s_start(&f, NULL, NULL, NULL, NULL);
    gm_fake_add(f.gm, "a@example.com", "one", "INBOX", NULL, NULL, NULL);
    gm_fake_fail(f.gm, "getProfile", 503, "backendError", 2);
    gm_fake_fail(f.gm, "messages.list", 429, "rateLimitExceeded", 3);
    gm_fake_fail(f.gm, "messages.get", 403, "userRateLimitExceeded", 2);
    go_fake_fail_next(f.go, 1, 500);
    s_sync(&f, "me");
    assert_int_equal(s_count(&f, "gmail.message.me"), 1);
    assert_int_equal(gm_fake_calls(f.gm, "getProfile"), 3);
    assert_int_equal(gm_fake_calls(f.gm, "messages.list"), 4);
    assert_int_equal(gm_fake_calls(f.gm, "messages.get"), 3);
    assert_int_equal(go_fake_requests(f.go), 2);
    assert_string_equal(s_acct(&f, "me")->last_error, "");
    /* retries end after 8 attempts: reported, the cursor stays */
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%s", s_acct(&f, "me")->cursor);
    gm_fake_add(f.gm, "a@example.com", "two", "INBOX", NULL, NULL, NULL);
    gm_fake_fail(f.gm, "history.list", 500, "backendError", 100);
    s_sync(&f, "me");
    assert_int_equal(gm_fake_calls(f.gm, "history.list"), 8);
    assert_non_null(strstr(s_acct(&f, "me")->last_error, "500"));
    char buf[64];
    assert_string_equal(s_store_get(&f, "gmail:me:cursor", buf, sizeof buf), cursor);
    /* 403 rate limit: 8 tries too */
    gm_fake_fail(f.gm, "history.list", 403, "rateLimitExceeded", 100);
    s_sync(&f, "me");
    assert_int_equal(gm_fake_calls(f.gm, "history.list"), 16);
    /* another 4xx is not retried */
    gm_fake_fail(f.gm, "history.list", 400, "invalidArgument", 1);
    s_sync(&f, "me");
    assert_int_equal(gm_fake_calls(f.gm, "history.list"), 17);
    assert_non_null(strstr(s_acct(&f, "me")->last_error, "400 invalidArgument"));
    /* and once the API is back the message arrives, once */
    gm_fake_fail(f.gm, "history.list", 200, "", 0);
    s_sync(&f, "me");
    assert_int_equal(s_count(&f, "gmail.message.me"), 2);
    s_stop(&f);
}

static void
t_quota_bucket(void **state)
{
    (void)state;
    /* Gmail allows 50 units/s here; the actor's bucket: 20/s, burst 25, so no window of a
     * second ever asks for more than 45 */
    s_fix_t f;
    s_start(&f, NULL, "  quota_rate: 20\n  quota_burst: 25\n", NULL, NULL);
    gm_fake_rate_limit(f.gm, 50);
    s_add_inbox(&f, 12, "q");
    long long t0 = yh_now_ms();
    s_sync(&f, "me");
    long long took = yh_now_ms() - t0;
    assert_int_equal(s_count(&f, "gmail.message.me"), 12);
    assert_int_equal(gm_fake_units(f.gm), 1 + 5 + 12 * 5);
    assert_int_equal(gm_fake_answers(f.gm, 429), 0);
    assert_true(gm_fake_peak_units(f.gm) <= 45);
    assert_true(took >= (66 - 25) * 1000 / 20 - 200); /* the bucket set the pace */
    print_message("quota: 66 units at 20/s (burst 25) took %lld ms, peak %d units/s\n", took,
                  gm_fake_peak_units(f.gm));
    s_stop(&f);
    /* without the bucket's pace the same fake answers 429s (the retries ride them out) */
    s_start(&f, NULL, "  quota_rate: 100000\n  quota_burst: 100000\n", NULL, NULL);
    gm_fake_rate_limit(f.gm, 50);
    s_add_inbox(&f, 12, "q");
    s_sync(&f, "me");
    assert_true(gm_fake_answers(f.gm, 429) > 0);
    s_stop(&f);
}

/* --- rules and actions --------------------------------------------------------------------- */

/* What a stand-in actor was sent: the first 16 values of one field, and how many. */
typedef struct {
    char v[16][512];
    int n;
} s_tally_t;

static struct {
    pthread_mutex_t lock;
    s_tally_t notify, sink; /* telegram notify's texts, sink mail's subjects */
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Counts req into tally with its string field key, and answers ok. */
static int
s_tally(yard_request_t *req, const char *key, s_tally_t *tally)
{
    const char *value = NULL;
    int rc = yard_req_str(req, key, &value);
    if (rc != 0) {
        return rc;
    }
    pthread_mutex_lock(&R.lock);
    if (tally->n < 16) {
        snprintf(tally->v[tally->n], sizeof tally->v[0], "%s", value);
    }
    tally->n++;
    pthread_mutex_unlock(&R.lock);
    return yard_request_reply(req, "\x81\xa2ok\xc3", 5);
}

static int
s_tg_notify(yard_request_t *req, void *state)
{
    (void)state;
    return s_tally(req, "text", &R.notify);
}

static int
s_sink_mail(yard_request_t *req, void *state)
{
    (void)state;
    return s_tally(req, "subject", &R.sink);
}

static const yard_handler_def_t s_tg_handlers[] = {{"notify", s_tg_notify, "records"},
                                                   {NULL, NULL, NULL}};
static const yard_actor_def_t s_tg_def = {.name = "telegram", .handlers = s_tg_handlers};
static const yard_handler_def_t s_sink_handlers[] = {{"mail", s_sink_mail, "records"},
                                                     {NULL, NULL, NULL}};
static const yard_actor_def_t s_sink_def = {.name = "sink", .handlers = s_sink_handlers};

static bool
s_bus_ready(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&R.lock);
    bool ok = R.notify.n >= 2 && R.sink.n >= 1;
    pthread_mutex_unlock(&R.lock);
    return ok;
}

/* A windows-1252 text part, still quoted-printable, in a multipart/alternative. */
static const char s_report_payload[] =
    "{\"mimeType\":\"multipart/alternative\",\"headers\":["
    "{\"name\":\"From\",\"value\":\"ops@example.com\"},"
    "{\"name\":\"Subject\",\"value\":\"report\"}],\"body\":{\"size\":0},\"parts\":["
    "{\"mimeType\":\"text/plain\",\"headers\":[{\"name\":\"Content-Type\",\"value\":"
    "\"text/plain; charset=windows-1252\"},{\"name\":\"Content-Transfer-Encoding\",\"value\":"
    "\"quoted-printable\"}],\"body\":{\"size\":30,"
    /* base64url of "URGENT: =80 5 =93due=94 =\r\ntoday" */
    "\"data\":\"VVJHRU5UOiA9ODAgNSA9OTNkdWU9OTQgPQ0KdG9kYXk\"}},"
    "{\"mimeType\":\"text/html\",\"headers\":[],\"body\":{\"size\":4,\"data\":\"PGI-PC9iPg\"}}]}";

/* Replicas register with the broker asynchronously: wait until service is served (an op it
 * does not have answers without touching the tallies), so that the first cycle's actions
 * find it. */
static void
s_wait_served(int port, const char *service)
{
    yard_client_t *c = NULL;
    assert_int_equal(yard_client_new(yh_endpoint(port), NULL, &c), 0);
    yh_result_t r = yh_call_json_ready(c, service, "probe", "{}", NULL, 10000);
    assert_int_not_equal(r.status, YARD_E_NO_SERVICE);
    yh_result_free(&r);
    yard_client_destroy(&c);
}

static void
t_rules_and_actions(void **state)
{
    (void)state;
    int port = 0;
    yard_broker_t *broker = yh_broker_start(&port);
    yard_actor_t *tg = yh_actor_start(&s_tg_def, NULL, port, NULL);
    yard_actor_t *sink = yh_actor_start(&s_sink_def, NULL, port, NULL);
    s_wait_served(port, "telegram");
    s_wait_served(port, "sink");
    char top[128];
    snprintf(top, sizeof top, "broker: %s\n", yh_endpoint(port));
    s_fix_t f;
    s_start(&f, top, NULL, NULL,
            "    - {name: alerts, from: \"alerts@.*\", subject: \"(?i)down\",\n"
            "       actions: [{notify: true}, {label: Alerts}, {mark_read: true}]}\n"
            "    - {subject: \"invoice\", actions: [{publish: mail.invoice},\n"
            "       {call: {service: sink, op: mail}}]}\n"
            "    - {subject: \"^report$\", body: \"(?i)urgent\", actions: [{archive: true}]}\n");
    char down1[32], down2[32], inv[32], rep[32], other[32], plain[32];
    gm_fake_add(f.gm, "alerts@mon.example.com", "Site DOWN", "INBOX,UNREAD", NULL, NULL, down1);
    gm_fake_add(f.gm, "friend@example.com", "is it down?", "INBOX,UNREAD", NULL, NULL, other);
    gm_fake_add(f.gm, "billing@example.com", "Your invoice 42", "INBOX,UNREAD", NULL, NULL, inv);
    gm_fake_add(f.gm, "=?ISO-8859-1?Q?Ren=E9?= <ops@example.com>", "report", "INBOX", NULL,
                s_report_payload, rep);
    gm_fake_add(f.gm, "x@example.com", "other", "INBOX", NULL, NULL, plain);
    /* the second alert's label action (its first modify) fails once with a 4xx, which HTTP
     * does not retry: the action is retried next cycle, and the rule's other actions ran */
    s_sync(&f, "me");
    gm_fake_fail(f.gm, "messages.modify", 400, "failedPrecondition", 1);
    gm_fake_add(f.gm, "alerts@mon.example.com", "db down", "INBOX,UNREAD", NULL, NULL, down2);
    s_sync(&f, "me");
    s_pump(&f, s_bus_ready, NULL, 10000);
    pthread_mutex_lock(&R.lock);
    assert_int_equal(R.notify.n, 2);
    assert_non_null(strstr(R.notify.v[0], "Site DOWN"));
    assert_non_null(strstr(R.notify.v[1], "db down"));
    assert_int_equal(R.sink.n, 1);
    assert_string_equal(R.sink.v[0], "Your invoice 42");
    pthread_mutex_unlock(&R.lock);
    /* label created once, on first use, and applied to both alerts */
    char lid[32];
    assert_non_null(gm_fake_label_id(f.gm, "Alerts", lid));
    assert_int_equal(gm_fake_calls(f.gm, "labels.create"), 1);
    assert_true(gm_fake_has_label(f.gm, down1, lid));
    assert_false(gm_fake_has_label(f.gm, down2, lid)); /* its label action failed */
    assert_false(gm_fake_has_label(f.gm, down1, "UNREAD"));
    assert_false(gm_fake_has_label(f.gm, down2, "UNREAD")); /* mark_read still ran */
    assert_true(gm_fake_has_label(f.gm, other, "UNREAD"));  /* from did not match */
    assert_int_equal(s_acct(&f, "me")->actions_failed, 1);
    /* publish action */
    assert_int_equal(s_count(&f, "mail.invoice"), 1);
    /* body rule: format=full only for the message whose subject matched, decoded */
    assert_int_equal(gm_fake_full_gets(f.gm), 1);
    assert_false(gm_fake_has_label(f.gm, rep, "INBOX"));
    assert_true(gm_fake_has_label(f.gm, plain, "INBOX"));
    char buf[512];
    assert_string_equal(s_field(&f, "gmail.message.me", 3, "body", buf, sizeof buf),
                        "URGENT: \xe2\x82\xac 5 \xe2\x80\x9c"
                        "due\xe2\x80\x9d today");
    assert_string_equal(s_field(&f, "gmail.message.me", 3, "from", buf, sizeof buf),
                        "Ren\xc3\xa9 <ops@example.com>");
    assert_string_equal(s_field(&f, "gmail.message.me", 4, "body", buf, sizeof buf), "");
    /* next cycle: the failed label action is retried and succeeds; nothing is published or
     * notified again */
    size_t events = s_count(&f, "gmail.message.me");
    s_sync(&f, "me");
    assert_true(gm_fake_has_label(f.gm, down2, lid));
    assert_int_equal(gm_fake_calls(f.gm, "labels.create"), 1);
    assert_int_equal(s_count(&f, "gmail.message.me"), events);
    assert_int_equal(R.notify.n, 2);
    char *members = NULL;
    size_t n = 0;
    char **m = NULL;
    assert_int_equal(
        yard_store_smembers(yard_ctx_store(yard_actor_test_ctx(f.t)), "gmail:me:pending", &m, &n),
        0);
    assert_int_equal(n, 0);
    yard_store_members_free(&m);
    free(members);
    s_stop(&f);
    yard_actor_destroy(&sink);
    yard_actor_destroy(&tg);
    yard_broker_destroy(&broker);
}

/* --- without accounts, and bad config ------------------------------------------------------- */

static void
t_idle_and_bad_config(void **state)
{
    (void)state;
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_gmail, "gmail: {interval: 30s}\n", &t), 0);
    yard_request_t *req = yard_actor_test_call(t, "status", NULL, 0);
    const void *out = NULL;
    size_t n = 0;
    assert_int_equal(yard_request_outcome_test(req, &out, &n, NULL), 0);
    char *json = NULL;
    assert_int_equal(yard_json_from_msgpack(out, n, &json, NULL, NULL, 0), 0);
    assert_non_null(strstr(json, "\"idle\":true"));
    assert_non_null(strstr(json, "no accounts configured"));
    free(json);
    yard_request_destroy_test(&req);
    /* the defaults of the backoff: 1 s base, 64 s cap, 8 attempts; processed ids 14 days */
    const gm_opts_t *o = yard_ctx_options(yard_actor_test_ctx(t));
    assert_int_equal(o->retry_base_ms, 1000);
    assert_int_equal(o->retry_cap_ms, 64000);
    assert_int_equal(o->retry_tries, 8);
    assert_int_equal(o->processed_ttl_ms, 14u * 86400000u);
    assert_int_equal(o->quota_rate, 250);
    yard_actor_test_advance(t, 120000);
    assert_int_equal(yard_actor_test_published(t, 0, NULL, NULL, NULL), 0);
    yard_actor_test_destroy(&t);
    const char *bad[] = {
        "gmail:\n  rules:\n    - {subject: \"(unclosed\", actions: [{archive: true}]}\n",
        "gmail:\n  rules:\n    - {subject: x, actions: [{explode: true}]}\n",
        "gmail:\n  accounts:\n    - {name: \"a b\", client_id: x, client_secret: y, "
        "refresh_token: z}\n",
        "gmail:\n  accounts:\n    - {name: a, client_id: x, client_secret: y}\n",
        "gmail:\n  accounts:\n    - {name: a, client_id: x, client_secret: y, refresh_token: z, "
        "colour: red}\n",
        "gmail:\n  accounts:\n    - {name: a, client_id: x, client_secret: y, "
        "refresh_token_file: /nonexistent/x}\n",
        "gmail:\n  processed_ttl: 1d\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = NULL;
        int rc = yard_actor_test_new(&yard_actor_gmail, bad[i], &t);
        if (rc != YARD_E_CONFIG) {
            fail_msg("config %zu: %s, want CONFIG", i, yard_err_name(rc));
        }
        assert_null(t);
    }
}

int
main(void)
{
    yard_log_set_level(YARD_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_first_sync),
        cmocka_unit_test(t_max_initial),
        cmocka_unit_test(t_incremental_pages),
        cmocka_unit_test(t_resync_after_404),
        cmocka_unit_test(t_invalid_grant),
        cmocka_unit_test(t_401_refreshes_once),
        cmocka_unit_test(t_token_cached_until_margin),
        cmocka_unit_test(t_one_refresh_across_replicas),
        cmocka_unit_test(t_secrets_not_logged),
        cmocka_unit_test(t_backoff_429_403_5xx),
        cmocka_unit_test(t_quota_bucket),
        cmocka_unit_test(t_rules_and_actions),
        cmocka_unit_test(t_idle_and_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
