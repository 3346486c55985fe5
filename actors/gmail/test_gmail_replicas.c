/* Two `yard-actor gmail` processes on a real redis-server, polling one mailbox of the Gmail
 * fake (in this process) through a broker in this process; a subscriber here counts every
 * gmail.message.me event by message id. The replica that holds the account's lease is
 * SIGKILLed in the middle of the first (full) sync, a fresh process is started, and the new
 * holder is SIGKILLed again in the middle of an incremental sync: every message must still be
 * published exactly once, and the access token, cached in Redis, is granted once for all of
 * them. Skips without redis-server. */
#include "fixture.h"
#include "gmail_fake.h"
#include "google_oauth_fake.h"
#include "harness.h"
#include "replicas.h"
#include "yard/client.h"
#include "yard/error.h"
#include "yard/log.h"
#include "yard/mp.h"
#include "yard/msg.h"
#include "yard/store.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define S_MAX_MSGS 256
#define S_PROCS    3
#define S_WAIT_MS  60000

static struct {
    yh_replica_env_t env;
    yard_client_t *client;
    go_fake_t *go;
    gm_fake_t *gm;
    pid_t procs[S_PROCS];
    char config[512];
    /* what the subscriber saw */
    char ids[S_MAX_MSGS][32];
    int counts[S_MAX_MSGS];
    int n_ids, events, bad;
} F;

static void
s_on_event(const yard_msg_t *msg, void *arg)
{
    (void)arg;
    size_t size = 0;
    const void *body = yard_msg_body(msg, &size);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 512);
    msgpack_object obj;
    char id[32] = "";
    if (yard_mp_decode(body, size, &zone, &obj, NULL, 0) != 0 ||
        yard_mp_get_strbuf(&obj, "id", id, sizeof id, NULL, 0) != 0) {
        F.bad++;
        msgpack_zone_destroy(&zone);
        return;
    }
    msgpack_zone_destroy(&zone);
    F.events++;
    for (int i = 0; i < F.n_ids; i++) {
        if (strcmp(F.ids[i], id) == 0) {
            F.counts[i]++;
            return;
        }
    }
    if (F.n_ids < S_MAX_MSGS) {
        snprintf(F.ids[F.n_ids], sizeof F.ids[0], "%s", id);
        F.counts[F.n_ids++] = 1;
    }
}

/* Dispatches the subscriber until `want` distinct messages were seen or the deadline. */
static int
s_wait_distinct(int want, int timeout_ms)
{
    long long end = yh_now_ms() + timeout_ms;
    while (F.n_ids < want && yh_now_ms() < end) {
        yard_client_dispatch(F.client, 20);
    }
    return F.n_ids;
}

static pid_t
s_spawn(void)
{
    char *extra[] = {"--drain-ms", "1000", "--heartbeat-ms", "200", NULL};
    return yh_actor_spawn("gmail", F.env.endpoint, F.config, F.env.store_url, extra, F.env.dir);
}

/* The pid in the account's lease value ("<token>/<host>/<pid>"), or -1. */
static pid_t
s_holder(int timeout_ms)
{
    long long end = yh_now_ms() + timeout_ms;
    while (yh_now_ms() < end) {
        pid_t pid = yh_lease_pid(F.env.store, "gmail:me:lease");
        if (pid > 0) {
            return pid;
        }
        yard_client_dispatch(F.client, 20);
    }
    return -1;
}

static void
s_kill(pid_t pid)
{
    for (int i = 0; i < S_PROCS; i++) {
        if (F.procs[i] == pid) {
            yh_stop(pid, SIGKILL, 5000);
            F.procs[i] = 0;
            return;
        }
    }
    fail_msg("the lease holder %d is not one of the test's processes", (int)pid);
}

static void
s_start_proc(void)
{
    for (int i = 0; i < S_PROCS; i++) {
        if (F.procs[i] <= 0) {
            F.procs[i] = s_spawn();
            return;
        }
    }
    fail_msg("no free process slot");
}

static int
s_setup(void **state)
{
    (void)state;
    yard_log_set_level(YARD_LOG_ERROR);
    memset(&F, 0, sizeof F);
    if (!yh_replica_env_start(&F.env)) {
        return 0;
    }
    yard_client_opts_t co = {.default_timeout_ms = 3000};
    assert_int_equal(yard_client_new(F.env.endpoint, &co, &F.client), 0);
    assert_int_equal(yard_client_subscribe(F.client, "gmail.message.me", s_on_event, NULL), 0);
    F.go = go_fake_start("cid.apps", "client-secret", "1//refresh");
    F.gm = gm_fake_start(F.go);
    char path[600], text[2048];
    snprintf(path, sizeof path, "%s/client", F.env.dir);
    yh_write_file(path, "client-secret\n");
    snprintf(path, sizeof path, "%s/refresh", F.env.dir);
    yh_write_file(path, "1//refresh\n");
    snprintf(F.config, sizeof F.config, "%s/yard.yaml", F.env.dir);
    snprintf(text, sizeof text,
             "gmail:\n"
             "  token_uri: %s\n"
             "  api_base: %s\n"
             "  interval: 1s\n"
             "  lease: 2s\n"
             "  retry_base: 50ms\n"
             "  retry_cap: 500ms\n"
             "  accounts:\n"
             "    - name: me\n"
             "      client_id: cid.apps\n"
             "      client_secret_file: %s/client\n"
             "      refresh_token_file: %s/refresh\n"
             "      labels: [INBOX]\n",
             go_fake_token_uri(F.go), gm_fake_api_base(F.gm), F.env.dir, F.env.dir);
    yh_write_file(F.config, text);
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < S_PROCS; i++) {
        if (F.procs[i] > 0) {
            yh_stop(F.procs[i], SIGKILL, 5000);
        }
    }
    if (F.env.redis > 0) {
        yard_client_destroy(&F.client);
        gm_fake_stop(&F.gm);
        go_fake_stop(&F.go);
        yh_replica_env_stop(&F.env);
    }
    return 0;
}

static void
s_check_once(int want)
{
    int dups = 0;
    for (int i = 0; i < F.n_ids; i++) {
        if (F.counts[i] != 1) {
            print_message("message %s published %d times\n", F.ids[i], F.counts[i]);
            dups++;
        }
    }
    if (F.n_ids != want || dups || F.bad) {
        fail_msg("%d distinct of %d, %d duplicated, %d unreadable (logs in %s)", F.n_ids, want,
                 dups, F.bad, F.env.dir);
    }
}

static void
t_kill_mid_sync(void **state)
{
    (void)state;
    if (F.env.redis <= 0) {
        skip(); /* redis-server is not installed */
    }
    const int first = 60, second = 40;
    for (int i = 0; i < first; i++) {
        char subj[32];
        snprintf(subj, sizeof subj, "first %d", i);
        gm_fake_add(F.gm, "a@example.com", subj, "INBOX,UNREAD", NULL, NULL, NULL);
    }
    gm_fake_delay(F.gm, "messages.get", 25); /* a sync takes a while: room to kill in it */
    s_start_proc();
    s_start_proc();
    /* the full sync: kill the holder after some messages */
    assert_true(s_wait_distinct(12, S_WAIT_MS) >= 12);
    pid_t holder = s_holder(5000);
    assert_true(holder > 0);
    print_message("full sync: %d published, SIGKILL holder %d\n", F.n_ids, (int)holder);
    s_kill(holder);
    assert_true(F.n_ids < first); /* it was mid-sync */
    assert_int_equal(s_wait_distinct(first, S_WAIT_MS), first);
    /* an incremental sync: a fresh process, new mail, kill the holder in the middle */
    s_start_proc();
    for (int i = 0; i < second; i++) {
        char subj[32];
        snprintf(subj, sizeof subj, "second %d", i);
        gm_fake_add(F.gm, "b@example.com", subj, "INBOX,UNREAD", NULL, NULL, NULL);
    }
    assert_true(s_wait_distinct(first + 8, S_WAIT_MS) >= first + 8);
    holder = s_holder(5000);
    print_message("incremental sync: %d published, SIGKILL holder %d\n", F.n_ids, (int)holder);
    s_kill(holder);
    assert_true(F.n_ids < first + second);
    assert_int_equal(s_wait_distinct(first + second, S_WAIT_MS), first + second);
    /* a quiet moment for late duplicates to show; two replicas alive, one lease: one
     * history.list per interval (1 s), not one per replica */
    size_t h0 = gm_fake_calls(F.gm, "history.list");
    long long end = yh_now_ms() + 4000;
    while (yh_now_ms() < end) {
        yard_client_dispatch(F.client, 50);
    }
    size_t polls = gm_fake_calls(F.gm, "history.list") - h0;
    print_message("4 s with 2 replicas at interval 1 s: %zu history.list calls\n", polls);
    assert_true(polls >= 2 && polls <= 6);
    s_check_once(first + second);
    assert_true(gm_fake_calls(F.gm, "history.list") >= 1);
    /* the token lives in Redis: the takeovers did not need a new grant */
    assert_int_equal(go_fake_issued(F.go), 1);
    print_message("%d messages, %d events, %zu messages.get, %zu grants\n", F.n_ids, F.events,
                  gm_fake_calls(F.gm, "messages.get"), go_fake_issued(F.go));
    /* the survivors drain and exit cleanly on SIGTERM (under ASan: no leak, no error) */
    for (int i = 0; i < S_PROCS; i++) {
        if (F.procs[i] > 0) {
            int ws = yh_stop(F.procs[i], SIGTERM, 15000);
            F.procs[i] = 0;
            if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
                fail_msg("a replica did not exit cleanly (status %d; logs in %s)", ws, F.env.dir);
            }
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_kill_mid_sync, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
