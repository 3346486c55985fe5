/* The dns actor against local fakes of its providers and of an IP-echo service, through the
 * runtime's own code (yard/actor_test.h): timers on a fake clock (so "10 cycles" or "20
 * minutes of Retry-After" take milliseconds), HTTP for real to 127.0.0.1. Each test shows
 * one demand of issue 12; the replicas and restart tests on a real redis-server are in
 * test_dns_replicas.c. */
#include "dns_internal.h"

#include "capture.h"
#include "cloudflare_fake.h"
#include "duckdns_fake.h"
#include "dyndns2_fake.h"
#include "ipecho_fake.h"

#include "yard/actor_test.h"
#include "yard/error.h"
#include "yard/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

extern const yard_actor_def_t yard_actor_dns;

#define S_INTERVAL 300000 /* the tests' interval: 5 minutes of fake time */
#define S_RUN_MS   15000  /* real time a cycle may take at most (HTTP to 127.0.0.1) */

/* The common top of every test's config: 5 min cycles, 1 min min_interval. */
#define S_HEAD                                                                                     \
    "dns:\n"                                                                                       \
    "  interval: 5m\n"                                                                             \
    "  min_interval: 1m\n"                                                                         \
    "  min_error_interval: 5m\n"                                                                   \
    "  http_timeout: 3s\n"                                                                         \
    "  http_attempts: 3\n"

typedef struct {
    yard_actor_test_t *t;
    uint64_t want;
} s_wait_t;

static bool
s_cycles_reached(void *arg)
{
    s_wait_t *w = arg;
    dns_t *s = yard_ctx_state(yard_actor_test_ctx(w->t));
    return s->cycles >= w->want && !s->cycle;
}

static dns_t *
s_state(yard_actor_test_t *t)
{
    return yard_ctx_state(yard_actor_test_ctx(t));
}

/* The first cycle, which the actor starts at once. */
static void
s_first_cycle(yard_actor_test_t *t)
{
    s_wait_t w = {t, 1};
    assert_int_equal(yard_actor_test_run(t, S_RUN_MS, s_cycles_reached, &w), 0);
}

/* Moves the fake clock one interval (+20 %, the jitter's most) and waits for the cycle. */
static void
s_next_cycle(yard_actor_test_t *t)
{
    s_wait_t w = {t, s_state(t)->cycles + 1};
    yard_actor_test_advance(t, S_INTERVAL * 6 / 5);
    assert_int_equal(yard_actor_test_run(t, S_RUN_MS, s_cycles_reached, &w), 0);
}

static yard_actor_test_t *
s_start(const char *yaml)
{
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(&yard_actor_dns, yaml, &t), 0);
    return t;
}

/* Events published with subject, and event i's body as JSON (caller frees). */
static size_t
s_events(yard_actor_test_t *t, const char *subject)
{
    size_t n = 0, all = yard_actor_test_published(t, 0, NULL, NULL, NULL);
    for (size_t i = 0; i < all; i++) {
        const char *sub;
        yard_actor_test_published(t, i, &sub, NULL, NULL);
        n += strcmp(sub, subject) == 0;
    }
    return n;
}

static char *
s_event(yard_actor_test_t *t, const char *subject, size_t k)
{
    size_t all = yard_actor_test_published(t, 0, NULL, NULL, NULL);
    for (size_t i = 0; i < all; i++) {
        const char *sub;
        const void *body;
        size_t size;
        yard_actor_test_published(t, i, &sub, &body, &size);
        if (strcmp(sub, subject) == 0 && k-- == 0) {
            char *json = NULL;
            assert_int_equal(yard_json_from_msgpack(body, size, &json, NULL, NULL, 0), 0);
            return json;
        }
    }
    fail_msg("no event %s number %zu", subject, k);
    return NULL;
}

/* Every event as one JSON text (caller frees), for "no secret anywhere" checks. */
static char *
s_all_events(yard_actor_test_t *t)
{
    size_t all = yard_actor_test_published(t, 0, NULL, NULL, NULL), cap = 1, len = 0;
    char *out = calloc(1, 1);
    for (size_t i = 0; i < all; i++) {
        const void *body;
        size_t size;
        char *json = NULL;
        yard_actor_test_published(t, i, NULL, &body, &size);
        assert_int_equal(yard_json_from_msgpack(body, size, &json, NULL, NULL, 0), 0);
        cap += strlen(json) + 1;
        out = realloc(out, cap);
        len += (size_t)sprintf(out + len, "%s\n", json);
        free(json);
    }
    return out;
}

/* Calls op with a JSON body (NULL: none), running the loop until it is answered; returns the
 * reply as JSON (caller frees) or NULL with *err set to the failure. */
static char *
s_call(yard_actor_test_t *t, const char *op, const char *json, int *err)
{
    void *mp = NULL;
    size_t size = 0;
    if (json) {
        assert_int_equal(yard_json_to_msgpack(json, strlen(json), &mp, &size, NULL, 0), 0);
    }
    yard_request_t *req = yard_actor_test_call(t, op, mp, size);
    free(mp);
    const void *out;
    size_t out_size;
    int rc;
    int64_t deadline = yard_loop_now_ms() + S_RUN_MS;
    while ((rc = yard_request_outcome_test(req, &out, &out_size, NULL)) == 1 &&
           yard_loop_now_ms() < deadline) {
        yard_actor_test_run(t, 20, NULL, NULL);
    }
    char *reply = NULL;
    if (rc == 0) {
        assert_int_equal(yard_json_from_msgpack(out, out_size, &reply, NULL, NULL, 0), 0);
    }
    if (err) {
        *err = rc;
    }
    yard_request_destroy_test(&req);
    return reply;
}

/* One test's fakes, its config and its actor: s_env_close stops whichever are set. */
typedef struct {
    yh_ipecho_t *echo;
    yh_dyndns2_t *dyn;
    yh_cloudflare_t *cf;
    char *yaml;
    yard_actor_test_t *t;
} s_env_t;

/* The actor on yaml (taken: freed by s_env_stop), its first cycle not yet run. */
static yard_actor_test_t *
s_env_start(s_env_t *e, char *yaml)
{
    e->yaml = yaml;
    e->t = s_start(yaml);
    return e->t;
}

/* Stops the actor and frees its config; the fakes stay. */
static void
s_env_stop(s_env_t *e)
{
    yard_actor_test_destroy(&e->t);
    free(e->yaml);
    e->yaml = NULL;
}

static void
s_env_close(s_env_t *e)
{
    s_env_stop(e);
    yh_cf_stop(&e->cf);
    yh_dyndns2_stop(&e->dyn);
    yh_ipecho_stop(&e->echo);
}

/* The config of one dyndns2 record, home.example.com as user me with password pw: head is the
 * top of the dns: section, v4 the value of ip.v4, server the provider's URL. */
static void
s_dyn_yaml(char *yaml, size_t cap, const char *head, const char *v4, const char *server)
{
    snprintf(yaml, cap,
             "%s"
             "  ip:\n"
             "    v4: %s\n"
             "  records:\n"
             "    - {name: home.example.com, provider: dyndns2, server: '%s',\n"
             "       username: me, password: pw}\n",
             head, v4, server);
}

/* --- dyndns2 ------------------------------------------------------------------------------ */

static char *
s_dyn_config(yh_ipecho_t *echo, yh_dyndns2_t *dyn, const char *password)
{
    char *yaml = malloc(4096);
    snprintf(yaml, 4096,
             S_HEAD "  ip:\n"
                    "    v4: {web: ['%s']}\n"
                    "  records:\n"
                    "    - {name: home.example.com, type: A, provider: dyndns2, server: '%s',\n"
                    "       username: me, password: '%s'}\n",
             yh_ipecho_url(echo), yh_dyndns2_url(dyn), password);
    return yaml;
}

/* An IP echo and a dyndns2 server that knows home.example.com for user me with password. */
static void
s_dyn_open(s_env_t *e, const char *password)
{
    *e = (s_env_t){.echo = yh_ipecho_start(), .dyn = yh_dyndns2_start("me", password)};
    yh_dyndns2_add_host(e->dyn, "home.example.com");
}

static yard_actor_test_t *
s_dyn_actor(s_env_t *e, const char *password)
{
    return s_env_start(e, s_dyn_config(e->echo, e->dyn, password));
}

/* First run updates; then 10 cycles with a stable address make no provider call; a change
 * makes exactly one. */
static void
t_dyndns2_update_only_on_change(void **state)
{
    (void)state;
    s_env_t e;
    s_dyn_open(&e, "s3cret-pw");
    yh_ipecho_set(e.echo, 200, "1.2.3.4\n");
    yard_actor_test_t *t = s_dyn_actor(&e, "s3cret-pw");
    s_first_cycle(t);
    char buf[64], host[256], myip[64], auth[256];
    assert_int_equal(yh_dyndns2_calls(e.dyn), 1);
    assert_string_equal(yh_dyndns2_addr(e.dyn, "home.example.com", buf, sizeof buf), "1.2.3.4");
    assert_int_equal(yh_dyndns2_request(e.dyn, 0, host, myip, auth, sizeof host), 0);
    assert_string_equal(host, "home.example.com");
    assert_string_equal(myip, "1.2.3.4");
    assert_string_equal(auth, "Basic bWU6czNjcmV0LXB3"); /* me:s3cret-pw */
    assert_int_equal(s_events(t, "dns.updated"), 1);
    char *ev = s_event(t, "dns.updated", 0);
    assert_string_equal(ev, "{\"record\":\"home.example.com\",\"type\":\"A\",\"provider\":"
                            "\"dyndns2\",\"old\":null,\"new\":\"1.2.3.4\"}");
    free(ev);

    size_t echo_before = yh_ipecho_count(e.echo);
    for (int i = 0; i < 10; i++) {
        s_next_cycle(t);
    }
    assert_int_equal(yh_ipecho_count(e.echo) - echo_before, 10); /* it did look, 10 times */
    assert_int_equal(yh_dyndns2_calls(e.dyn), 1);                /* and called nobody */
    assert_int_equal(s_state(t)->provider_calls, 1);

    yh_ipecho_set(e.echo, 200, "5.6.7.8\n");
    int err = 0;
    char *r = s_call(t, "check", NULL, &err); /* says what would change, calls nobody */
    assert_int_equal(err, 0);
    assert_non_null(strstr(r, "\"current\":\"1.2.3.4\",\"discovered\":\"5.6.7.8\","
                              "\"would\":\"update\""));
    free(r);
    assert_int_equal(yh_dyndns2_calls(e.dyn), 1);
    s_next_cycle(t);
    s_next_cycle(t);
    s_next_cycle(t);
    assert_int_equal(yh_dyndns2_calls(e.dyn), 2);
    assert_string_equal(yh_dyndns2_addr(e.dyn, "home.example.com", buf, sizeof buf), "5.6.7.8");
    ev = s_event(t, "dns.updated", 1);
    assert_non_null(strstr(ev, "\"old\":\"1.2.3.4\",\"new\":\"5.6.7.8\""));
    free(ev);

    char *all = s_all_events(t);
    assert_null(strstr(all, "s3cret-pw"));
    assert_null(strstr(all, "bWU6czNjcmV0LXB3"));
    free(all);
    s_env_close(&e);
}

/* badauth, nohost, notfqdn, abuse, !donator (and numhost, badagent, !yours): one call, then
 * the record is held until its configuration changes: no call in later cycles, not even for
 * a new address or a force. */
static void
t_dyndns2_fatal_codes_hold(void **state)
{
    (void)state;
    const char *codes[] = {"badauth",  "nohost",  "notfqdn",  "abuse",
                           "!donator", "numhost", "badagent", "!yours"};
    for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++) {
        s_env_t e;
        s_dyn_open(&e, "pw");
        yh_dyndns2_script(e.dyn, &codes[c], 1);
        yard_actor_test_t *t = s_dyn_actor(&e, "pw");
        s_first_cycle(t);
        assert_int_equal(yh_dyndns2_calls(e.dyn), 1);
        assert_int_equal(s_events(t, "dns.error"), 1);
        char *ev = s_event(t, "dns.error", 0);
        char want[64];
        snprintf(want, sizeof want, "\"code\":\"%s\"", codes[c]);
        assert_non_null(strstr(ev, want));
        free(ev);
        assert_int_equal(s_events(t, "dns.held"), 1);
        ev = s_event(t, "dns.held", 0);
        assert_non_null(strstr(ev, "\"until\":null"));
        assert_non_null(strstr(ev, "configuration"));
        free(ev);
        yh_ipecho_set(e.echo, 200, "5.6.7.8\n");
        for (int i = 0; i < 4; i++) {
            s_next_cycle(t);
        }
        int err = 0;
        char *r = s_call(t, "force", NULL, &err);
        assert_int_equal(err, 0);
        assert_non_null(strstr(r, "\"outcome\":\"held\""));
        free(r);
        assert_int_equal(yh_dyndns2_calls(e.dyn), 1); /* held: never again */
        assert_int_equal(s_events(t, "dns.held"), 1); /* told once */
        r = s_call(t, "status", NULL, &err);
        assert_non_null(strstr(r, want));
        assert_non_null(strstr(r, "\"held\":{\"reason\":\"held until its configuration"));
        free(r);
        s_env_close(&e);
    }
}

/* 911 and dnserr: no retry sooner than 10 minutes (cycles at 5 min make no call), then the
 * update goes through. */
static void
t_dyndns2_911_dnserr_wait_10_minutes(void **state)
{
    (void)state;
    const char *codes[] = {"911", "dnserr"};
    for (size_t c = 0; c < 2; c++) {
        s_env_t e;
        s_dyn_open(&e, "pw");
        yh_dyndns2_script(e.dyn, &codes[c], 1);
        yard_actor_test_t *t = s_dyn_actor(&e, "pw");
        int64_t t0 = yard_ctx_wall_ms(yard_actor_test_ctx(t));
        s_first_cycle(t);
        assert_int_equal(yh_dyndns2_calls(e.dyn), 1);
        char *ev = s_event(t, "dns.held", 0);
        assert_non_null(strstr(ev, codes[c]));
        free(ev);
        while (yard_ctx_wall_ms(yard_actor_test_ctx(t)) - t0 < 600000) {
            assert_int_equal(yh_dyndns2_calls(e.dyn), 1);
            s_next_cycle(t);
        }
        s_next_cycle(t);
        assert_int_equal(yh_dyndns2_calls(e.dyn), 2);
        char buf[64];
        assert_string_equal(yh_dyndns2_addr(e.dyn, "home.example.com", buf, sizeof buf), "1.2.3.4");
        assert_int_equal(s_events(t, "dns.updated"), 1);
        s_env_close(&e);
    }
}

/* good and nochg are success: after nochg the address counts as set (no call again); a run
 * of nochg is a warning (the update was not needed), and the fake, like the real service,
 * blocks the host after repeated nochg: abuse then holds it. */
static void
t_dyndns2_nochg(void **state)
{
    (void)state;
    s_env_t e;
    s_dyn_open(&e, "pw");
    const char *nochg[] = {"nochg 1.2.3.4", "nochg 1.2.3.4"};
    yh_dyndns2_script(e.dyn, nochg, 2);
    yard_actor_test_t *t = s_dyn_actor(&e, "pw");
    s_first_cycle(t);
    assert_int_equal(yh_dyndns2_calls(e.dyn), 1);
    assert_int_equal(s_events(t, "dns.updated"), 1);
    for (int i = 0; i < 3; i++) {
        s_next_cycle(t);
    }
    assert_int_equal(yh_dyndns2_calls(e.dyn), 1);
    /* A second nochg in a row (a forced update of the same address) is logged as a warning. */
    yh_capture_t cap;
    yh_capture_start(&cap, 2);
    yard_actor_test_advance(t, 25LL * 86400000); /* past max_interval: a refresh is due */
    s_next_cycle(t);
    char *log = yh_capture_end(&cap, NULL);
    assert_int_equal(yh_dyndns2_calls(e.dyn), 2);
    assert_non_null(strstr(log, "nochg again"));
    assert_null(strstr(log, "\"pw\""));
    free(log);
    s_env_close(&e);
}

/* --- Cloudflare --------------------------------------------------------------------------- */

#define S_ZONE_ID "023e105f4ecef8ad9ca31a8372d0c353"
#define S_REC_ID  "372e67954025e0ba6aaa6d586b9e0b59"

static char *
s_cf_config(yh_ipecho_t *echo, yh_cloudflare_t *cf, const char *token, const char *extra)
{
    char *yaml = malloc(4096);
    snprintf(yaml, 4096,
             S_HEAD "  ip:\n"
                    "    v4: {web: ['%s']}\n"
                    "  records:\n"
                    "    - {name: home.example.com, type: A, provider: cloudflare, zone: "
                    "example.com,\n"
                    "       token: '%s', api_base: '%s'%s}\n",
             yh_ipecho_url(echo), token, yh_cf_url(cf), extra ? extra : "");
    return yaml;
}

static yh_cloudflare_t *
s_cf_start(bool with_record)
{
    yh_cloudflare_t *cf = yh_cf_start("cf-token-123");
    yh_cf_add_zone(cf, "example.com", S_ZONE_ID);
    yh_cf_add_zone(cf, "other.org", "99999999999999999999999999999999");
    if (with_record) {
        yh_cf_add_record(cf, S_ZONE_ID, S_REC_ID, "A", "home.example.com", "9.9.9.9", 300, true);
    }
    return cf;
}

/* An IP echo and the Cloudflare fake (s_cf_start). */
static void
s_cf_open(s_env_t *e, bool with_record)
{
    *e = (s_env_t){.echo = yh_ipecho_start(), .cf = s_cf_start(with_record)};
}

static yard_actor_test_t *
s_cf_actor(s_env_t *e, const char *token, const char *extra)
{
    return s_env_start(e, s_cf_config(e->echo, e->cf, token, extra));
}

/* A missing record is created (POST with type, name, content); then only content is
 * PATCHed, the zone and record ids coming from the state (no lookup again). */
static void
t_cloudflare_create_then_patch(void **state)
{
    (void)state;
    s_env_t e;
    s_cf_open(&e, false);
    yard_actor_test_t *t = s_cf_actor(&e, "cf-token-123", NULL);
    s_first_cycle(t);
    assert_int_equal(yh_cf_calls(e.cf, "GET"), 2); /* zone, record */
    assert_int_equal(yh_cf_calls(e.cf, "POST"), 1);
    char content[64], method[16], path[256], body[1024];
    int64_t ttl = 0;
    assert_int_equal(
        yh_cf_record(e.cf, "A", "home.example.com", content, sizeof content, &ttl, NULL), 0);
    assert_string_equal(content, "1.2.3.4");
    assert_int_equal(ttl, 1);
    assert_int_equal(yh_cf_request(e.cf, 2, method, path, body, sizeof body), 0);
    assert_string_equal(method, "POST");
    assert_string_equal(path, "/client/v4/zones/" S_ZONE_ID "/dns_records");
    assert_non_null(strstr(body, "\"content\":\"1.2.3.4\""));
    assert_non_null(strstr(body, "\"type\":\"A\""));
    for (int i = 0; i < 10; i++) {
        s_next_cycle(t);
    }
    assert_int_equal(yh_cf_calls(e.cf, NULL), 3); /* stable: nothing */
    yh_ipecho_set(e.echo, 200, "5.6.7.8");
    s_next_cycle(t);
    assert_int_equal(yh_cf_calls(e.cf, NULL), 4);
    assert_int_equal(yh_cf_request(e.cf, 3, method, path, body, sizeof body), 0);
    assert_string_equal(method, "PATCH");
    assert_string_equal(body, "{\"content\":\"5.6.7.8\"}");
    assert_int_equal(
        yh_cf_record(e.cf, "A", "home.example.com", content, sizeof content, NULL, NULL), 0);
    assert_string_equal(content, "5.6.7.8");
    s_env_close(&e);
}

/* An existing record: PATCH keeps its ttl and proxied; create: false with a missing record is
 * a hold, not a create. */
static void
t_cloudflare_patch_keeps_ttl_proxied(void **state)
{
    (void)state;
    s_env_t e;
    s_cf_open(&e, true);
    yard_actor_test_t *t = s_cf_actor(&e, "cf-token-123", NULL);
    s_first_cycle(t);
    char content[64];
    int64_t ttl = 0;
    bool proxied = false;
    assert_int_equal(
        yh_cf_record(e.cf, "A", "home.example.com", content, sizeof content, &ttl, &proxied), 0);
    assert_string_equal(content, "1.2.3.4");
    assert_int_equal(ttl, 300);
    assert_true(proxied);
    assert_int_equal(yh_cf_calls(e.cf, "PATCH"), 1);
    assert_int_equal(yh_cf_calls(e.cf, "POST"), 0);
    char *ev = s_event(t, "dns.updated", 0);
    assert_non_null(strstr(ev, "\"provider\":\"cloudflare\""));
    free(ev);
    s_env_stop(&e);
    yh_cf_stop(&e.cf);

    e.cf = s_cf_start(false);
    t = s_cf_actor(&e, "cf-token-123", ", create: false");
    s_first_cycle(t);
    assert_int_equal(yh_cf_calls(e.cf, "POST"), 0);
    ev = s_event(t, "dns.error", 0);
    assert_non_null(strstr(ev, "create is false"));
    free(ev);
    s_env_close(&e);
}

/* AAAA records from a v6 source; a record that already has the address is not PATCHed; a
 * cached record id that went stale (the record was deleted and made again) is looked up
 * again once. */
static void
t_cloudflare_aaaa_same_and_stale_id(void **state)
{
    (void)state;
    yh_ipecho_t *echo = yh_ipecho_start(), *echo6 = yh_ipecho_start();
    yh_ipecho_set(echo6, 200, "2606:4700:0::1111\n");
    yh_cloudflare_t *cf = s_cf_start(true);
    yh_cf_add_record(cf, S_ZONE_ID, "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a", "A", "same.example.com",
                     "1.2.3.4", 1, false);
    char yaml[4096], u6[128];
    snprintf(u6, sizeof u6, "%s", yh_ipecho_url(echo6));
    snprintf(yaml, sizeof yaml,
             S_HEAD "  ip:\n"
                    "    v4: {web: ['%s']}\n"
                    "    v6: {web: ['%s']}\n"
                    "  records:\n"
                    "    - {name: home.example.com, provider: cloudflare, zone: example.com,\n"
                    "       token: cf-token-123, api_base: '%s'}\n"
                    "    - {name: home.example.com, type: AAAA, provider: cloudflare,\n"
                    "       zone: example.com, token: cf-token-123, api_base: '%s'}\n"
                    "    - {name: same.example.com, provider: cloudflare, zone: example.com,\n"
                    "       token: cf-token-123, api_base: '%s'}\n",
             yh_ipecho_url(echo), u6, yh_cf_url(cf), yh_cf_url(cf), yh_cf_url(cf));
    yard_actor_test_t *t = s_start(yaml);
    s_first_cycle(t);
    char content[64];
    assert_int_equal(
        yh_cf_record(cf, "AAAA", "home.example.com", content, sizeof content, NULL, NULL), 0);
    assert_string_equal(content, "2606:4700::1111");
    assert_int_equal(yh_cf_calls(cf, "POST"), 1);  /* the AAAA */
    assert_int_equal(yh_cf_calls(cf, "PATCH"), 1); /* the A; same.example.com already right */
    assert_int_equal(s_events(t, "dns.updated"), 3);

    /* Someone deletes and re-creates home's A record: its cached id is stale. */
    assert_int_equal(yh_cf_delete_record(cf, S_REC_ID), 0);
    yh_cf_add_record(cf, S_ZONE_ID, "0123456789abcdef0123456789abcdef", "A", "home.example.com",
                     "1.2.3.4", 1, false);
    yh_ipecho_set(echo, 200, "5.6.7.8");
    s_next_cycle(t);
    assert_int_equal(yh_cf_record(cf, "A", "home.example.com", content, sizeof content, NULL, NULL),
                     0);
    assert_string_equal(content, "5.6.7.8");
    assert_int_equal(yh_cf_record(cf, "A", "same.example.com", content, sizeof content, NULL, NULL),
                     0);
    assert_string_equal(content, "5.6.7.8");
    assert_int_equal(s_events(t, "dns.error"), 0);
    yard_actor_test_destroy(&t);
    yh_cf_stop(&cf);
    yh_ipecho_stop(&echo);
    yh_ipecho_stop(&echo6);
}

/* A wrong token (403, error 9109) and a read-only token (403, error 10000 on the PATCH):
 * reported with Cloudflare's code and message, then held until the configuration changes. */
static void
t_cloudflare_wrong_token(void **state)
{
    (void)state;
    struct {
        const char *token, *code, *msg;
    } cases[] = {{"not-the-token", "9109", "Invalid access token"},
                 {"read-only-token", "10000", "Authentication error"}};
    for (size_t c = 0; c < 2; c++) {
        s_env_t e;
        s_cf_open(&e, true);
        yh_cf_add_readonly_token(e.cf, "read-only-token");
        yard_actor_test_t *t = s_cf_actor(&e, cases[c].token, NULL);
        s_first_cycle(t);
        size_t calls = yh_cf_calls(e.cf, NULL);
        assert_true(calls >= 1);
        char *ev = s_event(t, "dns.error", 0);
        char want[64];
        snprintf(want, sizeof want, "\"code\":\"%s\"", cases[c].code);
        assert_non_null(strstr(ev, want));
        assert_non_null(strstr(ev, cases[c].msg));
        assert_null(strstr(ev, cases[c].token));
        free(ev);
        for (int i = 0; i < 5; i++) {
            s_next_cycle(t);
        }
        assert_int_equal(yh_cf_calls(e.cf, NULL), calls);
        assert_int_equal(s_events(t, "dns.held"), 1);
        char *all = s_all_events(t);
        assert_null(strstr(all, cases[c].token));
        free(all);
        int err;
        char *st = s_call(t, "status", NULL, &err);
        assert_null(strstr(st, cases[c].token));
        free(st);
        s_env_close(&e);
    }
}

/* 429 with Retry-After: 1200 s: no call until the 20 minutes passed (cycles every 5), then
 * the update goes through. */
static void
t_cloudflare_429_retry_after(void **state)
{
    (void)state;
    s_env_t e;
    s_cf_open(&e, true);
    yh_cf_inject(e.cf, 429, 1200, 1);
    yard_actor_test_t *t = s_cf_actor(&e, "cf-token-123", NULL);
    int64_t t0 = yard_ctx_wall_ms(yard_actor_test_ctx(t));
    s_first_cycle(t);
    assert_int_equal(yh_cf_calls(e.cf, NULL), 1);
    char *ev = s_event(t, "dns.error", 0);
    assert_non_null(strstr(ev, "\"code\":\"http 429\""));
    free(ev);
    ev = s_event(t, "dns.held", 0);
    assert_non_null(strstr(ev, "\"until\":\"2026-01-01T00:20:00Z\""));
    free(ev);
    while (yard_ctx_wall_ms(yard_actor_test_ctx(t)) - t0 < 1200000) {
        assert_int_equal(yh_cf_calls(e.cf, NULL), 1);
        s_next_cycle(t);
    }
    s_next_cycle(t);
    assert_int_equal(yh_cf_calls(e.cf, "PATCH"), 1);
    char content[64];
    yh_cf_record(e.cf, "A", "home.example.com", content, sizeof content, NULL, NULL);
    assert_string_equal(content, "1.2.3.4");
    s_env_close(&e);
}

/* The fake's own limit (the documented 1200 per 5 minutes, here 2 per minute) answers 429
 * with the Retry-After it computes; the actor waits that long. */
static void
t_cloudflare_rate_limit(void **state)
{
    (void)state;
    s_env_t e;
    s_cf_open(&e, true);
    yh_cf_rate_limit(e.cf, 2, 60);
    yard_actor_test_t *t = s_cf_actor(&e, "cf-token-123", NULL);
    s_first_cycle(t); /* zone, record lookup, then the PATCH is the third: 429 */
    assert_int_equal(yh_cf_calls(e.cf, NULL), 3);
    char *ev = s_event(t, "dns.error", 0);
    assert_non_null(strstr(ev, "http 429"));
    free(ev);
    assert_int_equal(s_events(t, "dns.held") + s_events(t, "dns.updated"), 1);
    s_env_close(&e);
}

/* 5xx then success: retried with backoff in the same cycle; nothing is marked set while the
 * provider fails, and a provider that keeps failing is an error retried after
 * min_error_interval. */
static void
t_cloudflare_5xx_then_success(void **state)
{
    (void)state;
    s_env_t e;
    s_cf_open(&e, true);
    yh_cf_inject(e.cf, 503, 0, 2);
    yard_actor_test_t *t = s_cf_actor(&e, "cf-token-123", NULL);
    s_first_cycle(t);
    assert_int_equal(yh_cf_calls(e.cf, NULL), 5); /* zone x3 (two 503), record, PATCH */
    assert_int_equal(s_events(t, "dns.error"), 0);
    assert_int_equal(s_events(t, "dns.updated"), 1);
    s_env_stop(&e);
    yh_cf_stop(&e.cf);

    e.cf = s_cf_start(true);
    yh_cf_inject(e.cf, 502, 0, 100);
    t = s_cf_actor(&e, "cf-token-123", NULL);
    s_first_cycle(t);
    assert_int_equal(yh_cf_calls(e.cf, NULL), 3); /* http_attempts: 3 */
    char *ev = s_event(t, "dns.error", 0);
    assert_non_null(strstr(ev, "\"code\":\"http 502\""));
    free(ev);
    int err;
    char *st = s_call(t, "status", NULL, &err);
    assert_non_null(strstr(st, "\"address\":null"));
    free(st);
    s_next_cycle(t); /* within min_error_interval (5 min) plus jitter: maybe held */
    yh_cf_inject(e.cf, 502, 0, 0);
    s_next_cycle(t);
    s_next_cycle(t);
    assert_int_equal(s_events(t, "dns.updated"), 1);
    s_env_close(&e);
}

/* A provider that refuses the connection, or never answers (a held reply, past
 * http_timeout): retried http_attempts times with backoff, then an error; nothing is marked
 * set, and the record waits min_error_interval. */
static void
t_transport_failures(void **state)
{
    (void)state;
    yh_ipecho_t *echo = yh_ipecho_start();
    yh_dyndns2_t *dyn = yh_dyndns2_start("me", "pw");
    yh_dyndns2_add_host(dyn, "home.example.com");
    struct {
        const char *server, *code;
    } cases[] = {{"http://127.0.0.1:1", "UNREACHABLE"}, {yh_dyndns2_url(dyn), "TIMEOUT"}};
    yh_dyndns2_hold(dyn, true);
    for (size_t c = 0; c < 2; c++) {
        char yaml[4096], v4[256];
        snprintf(v4, sizeof v4, "{web: ['%s']}", yh_ipecho_url(echo));
        s_dyn_yaml(yaml, sizeof yaml,
                   "dns:\n"
                   "  interval: 5m\n"
                   "  http_timeout: 300ms\n"
                   "  http_attempts: 3\n",
                   v4, cases[c].server);
        yard_actor_test_t *t = s_start(yaml);
        s_first_cycle(t);
        char *ev = s_event(t, "dns.error", 0);
        char want[64];
        snprintf(want, sizeof want, "\"code\":\"%s\"", cases[c].code);
        if (!strstr(ev, want)) {
            fail_msg("%s", ev);
        }
        free(ev);
        assert_int_equal(s_events(t, "dns.updated"), 0);
        if (c == 1) {
            assert_int_equal(yh_dyndns2_calls(dyn), 3); /* http_attempts */
        }
        int err;
        char *st = s_call(t, "status", NULL, &err);
        assert_non_null(strstr(st, "\"address\":null"));
        assert_non_null(strstr(st, "\"reason\":\"min_error_interval\""));
        free(st);
        yard_actor_test_destroy(&t);
    }
    yh_dyndns2_hold(dyn, false);
    yh_dyndns2_release(dyn);
    yh_dyndns2_stop(&dyn);
    yh_ipecho_stop(&echo);
}

/* --- DuckDNS ------------------------------------------------------------------------------ */

static void
t_duckdns(void **state)
{
    (void)state;
    yh_ipecho_t *echo = yh_ipecho_start();
    yh_duckdns_t *duck = yh_duckdns_start("duck-tok-42");
    yh_duckdns_add_domain(duck, "myhost");
    char yaml[4096], tokfile[] = "/tmp/dns-test-token-XXXXXX";
    int fd = mkstemp(tokfile);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "duck-tok-42\n", 12), 12); /* one trailing newline dropped */
    close(fd);
    snprintf(yaml, sizeof yaml,
             S_HEAD "  ip:\n"
                    "    v4: {web: ['%s']}\n"
                    "  records:\n"
                    "    - {name: myhost, provider: duckdns, token_file: '%s', api_base: '%s'}\n"
                    "    - {name: other, provider: duckdns, token: duck-tok-42, api_base: '%s'}\n",
             yh_ipecho_url(echo), tokfile, yh_duckdns_url(duck), yh_duckdns_url(duck));
    yh_capture_t cap;
    yh_capture_start(&cap, 2);
    yard_actor_test_t *t = s_start(yaml);
    s_first_cycle(t);
    for (int i = 0; i < 3; i++) {
        s_next_cycle(t);
    }
    char *log = yh_capture_end(&cap, NULL);
    assert_null(strstr(log, "duck-tok-42"));
    free(log);
    assert_int_equal(yh_duckdns_calls(duck), 2); /* myhost OK once, other KO once (held) */
    char buf[64], q[512];
    assert_string_equal(yh_duckdns_addr(duck, "myhost", 0, buf, sizeof buf), "1.2.3.4");
    assert_int_equal(yh_duckdns_query(duck, 0, q, sizeof q), 0);
    assert_non_null(strstr(q, "token=duck-tok-42"));
    char *ev = s_event(t, "dns.error", 0);
    assert_non_null(strstr(ev, "\"record\":\"other\""));
    assert_non_null(strstr(ev, "\"code\":\"KO\""));
    free(ev);
    char *all = s_all_events(t);
    assert_null(strstr(all, "duck-tok-42"));
    free(all);
    yard_actor_test_destroy(&t);
    unlink(tokfile);
    yh_duckdns_stop(&duck);
    yh_ipecho_stop(&echo);
}

/* --- address sources ---------------------------------------------------------------------- */

/* verify: 2 with a source that disagrees: no update, and the error names both sources; two
 * that agree: the update. */
static void
t_verify_disagreeing_source(void **state)
{
    (void)state;
    yh_ipecho_t *a = yh_ipecho_start(), *b = yh_ipecho_start();
    yh_dyndns2_t *dyn = yh_dyndns2_start("me", "pw");
    yh_dyndns2_add_host(dyn, "home.example.com");
    yh_ipecho_set(a, 200, "1.2.3.4");
    yh_ipecho_set(b, 200, "6.6.6.6");
    char yaml[4096], url_a[128], v4[512];
    snprintf(url_a, sizeof url_a, "%s", yh_ipecho_url(a));
    snprintf(v4, sizeof v4, "{web: ['%s', '%s'], verify: 2}", url_a, yh_ipecho_url(b));
    s_dyn_yaml(yaml, sizeof yaml, S_HEAD, v4, yh_dyndns2_url(dyn));
    yard_actor_test_t *t = s_start(yaml);
    s_first_cycle(t);
    s_next_cycle(t);
    assert_int_equal(yh_dyndns2_calls(dyn), 0);
    char *ev = s_event(t, "dns.error", 0);
    assert_non_null(strstr(ev, "\"record\":\"ip.v4\""));
    assert_non_null(strstr(ev, "6.6.6.6"));
    assert_non_null(strstr(ev, "1.2.3.4"));
    assert_non_null(strstr(ev, url_a));
    free(ev);
    assert_int_equal(s_events(t, "dns.error"), 1); /* the same failure is told once */
    yh_ipecho_set(b, 200, "1.2.3.4\n");
    s_next_cycle(t);
    assert_int_equal(yh_dyndns2_calls(dyn), 1);
    yard_actor_test_destroy(&t);
    yh_dyndns2_stop(&dyn);
    yh_ipecho_stop(&a);
    yh_ipecho_stop(&b);
}

/* A source that answers garbage (HTML, two addresses, the other family, a private address,
 * a 500) is an error naming it, never an update; sources are tried in order, so the next one
 * answers instead. */
static void
t_garbage_sources(void **state)
{
    (void)state;
    struct {
        int status;
        const char *body, *why;
    } cases[] = {
        {200, "<html><body><h1>Service Unavailable</h1></body></html>", "words"},
        {200, "1.2.3.4 5.6.7.8", "2 words"},
        {200, "2001:4860::8888", "IPv6 address where IPv4"},
        {200, "192.168.1.20", "allow_private"},
        {500, "1.2.3.4", "HTTP 500"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        yh_ipecho_t *bad = yh_ipecho_start(), *good = yh_ipecho_start();
        yh_dyndns2_t *dyn = yh_dyndns2_start("me", "pw");
        yh_dyndns2_add_host(dyn, "home.example.com");
        yh_ipecho_set(bad, cases[c].status, cases[c].body);
        char yaml[4096], url_bad[128], v4[512];
        snprintf(url_bad, sizeof url_bad, "%s", yh_ipecho_url(bad));
        snprintf(v4, sizeof v4, "{web: ['%s']}", url_bad);
        s_dyn_yaml(yaml, sizeof yaml, S_HEAD, v4, yh_dyndns2_url(dyn));
        yard_actor_test_t *t = s_start(yaml);
        s_first_cycle(t);
        assert_int_equal(yh_dyndns2_calls(dyn), 0);
        char *ev = s_event(t, "dns.error", 0);
        assert_non_null(strstr(ev, url_bad));
        assert_non_null(strstr(ev, cases[c].why));
        free(ev);
        yard_actor_test_destroy(&t);
        /* The same bad source first, a good one second: the good one is used. */
        snprintf(v4, sizeof v4, "{web: ['%s', '%s']}", url_bad, yh_ipecho_url(good));
        s_dyn_yaml(yaml, sizeof yaml, S_HEAD, v4, yh_dyndns2_url(dyn));
        t = s_start(yaml);
        s_first_cycle(t);
        assert_int_equal(yh_dyndns2_calls(dyn), 1);
        yard_actor_test_destroy(&t);
        yh_dyndns2_stop(&dyn);
        yh_ipecho_stop(&bad);
        yh_ipecho_stop(&good);
    }
}

/* interface (lo, with allow_private), command (bounded by its timeout and output size) and
 * static sources, seen through the check op: it discovers and says what would change, and
 * calls no provider. */
static void
t_sources_and_check(void **state)
{
    (void)state;
    yh_dyndns2_t *dyn = yh_dyndns2_start("me", "pw");
    yh_dyndns2_add_host(dyn, "home.example.com");
    struct {
        const char *src, *extra, *want;
    } cases[] = {
        {"{interface: lo}", "  allow_private: true\n", "\"address\":\"127.0.0.1\""},
        {"{interface: lo}", "", "loopback"},
        {"{command: 'echo 8.8.4.4'}", "", "\"address\":\"8.8.4.4\""},
        {"{command: 'sleep 5; echo 8.8.4.4'}", "  command_timeout: 200ms\n", "killed"},
        {"{command: 'yes 1.2.3.4'}", "", "more than"},
        {"{command: 'exit 3'}", "", "exit status 3"},
        {"{static: 9.9.9.9}", "", "\"address\":\"9.9.9.9\""},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char yaml[4096], head[512];
        snprintf(head, sizeof head, S_HEAD "%s", cases[c].extra);
        s_dyn_yaml(yaml, sizeof yaml, head, cases[c].src, yh_dyndns2_url(dyn));
        yard_actor_test_t *t = s_start(yaml);
        size_t before = yh_dyndns2_calls(dyn);
        s_first_cycle(t);
        bool works = strstr(cases[c].want, "address") != NULL;
        assert_int_equal(yh_dyndns2_calls(dyn), before + works); /* an update, or an error */
        int err = 0;
        char *r = s_call(t, "check", NULL, &err);
        assert_int_equal(err, 0);
        if (!strstr(r, cases[c].want)) {
            fail_msg("%s: %s", cases[c].src, r);
        }
        if (!strstr(r, works ? "\"would\":\"nothing\"" : "no address")) {
            fail_msg("%s: %s", cases[c].src, r);
        }
        assert_int_equal(yh_dyndns2_calls(dyn), before + works); /* check called nobody */
        free(r);
        yard_actor_test_destroy(&t);
    }
    yh_dyndns2_stop(&dyn);
}

/* Three providers at once: the first run updates (or creates) each; a change updates each
 * exactly once; force updates now, past min_interval; status lists every record. */
static void
t_three_providers_force_status(void **state)
{
    (void)state;
    yh_ipecho_t *echo = yh_ipecho_start();
    yh_dyndns2_t *dyn = yh_dyndns2_start("me", "pw");
    yh_dyndns2_add_host(dyn, "home.example.com");
    yh_cloudflare_t *cf = s_cf_start(false);
    yh_duckdns_t *duck = yh_duckdns_start("tok");
    yh_duckdns_add_domain(duck, "myhost");
    char yaml[4096], u1[128], u2[128];
    snprintf(u1, sizeof u1, "%s", yh_dyndns2_url(dyn));
    snprintf(u2, sizeof u2, "%s", yh_cf_url(cf));
    snprintf(yaml, sizeof yaml,
             "dns:\n"
             "  interval: 5m\n"
             "  min_interval: 1h\n"
             "  ip:\n"
             "    v4: {web: ['%s']}\n"
             "  records:\n"
             "    - {name: home.example.com, provider: dyndns2, server: '%s',\n"
             "       username: me, password: pw}\n"
             "    - {name: home.example.com, provider: cloudflare, zone: example.com,\n"
             "       token: cf-token-123, api_base: '%s'}\n"
             "    - {name: myhost.duckdns.org, provider: duckdns, token: tok,\n"
             "       api_base: '%s'}\n",
             yh_ipecho_url(echo), u1, u2, yh_duckdns_url(duck));
    yard_actor_test_t *t = s_start(yaml);
    s_first_cycle(t);
    assert_int_equal(yh_dyndns2_calls(dyn), 1);
    assert_int_equal(yh_cf_calls(cf, "POST"), 1);
    assert_int_equal(yh_duckdns_calls(duck), 1);
    assert_int_equal(s_events(t, "dns.updated"), 3);
    /* A change inside min_interval (1h): held, told once. */
    yh_ipecho_set(echo, 200, "5.6.7.8");
    s_next_cycle(t);
    s_next_cycle(t);
    assert_int_equal(yh_dyndns2_calls(dyn), 1);
    assert_int_equal(s_events(t, "dns.held"), 3);
    char *ev = s_event(t, "dns.held", 0);
    assert_non_null(strstr(ev, "\"reason\":\"min_interval\""));
    free(ev);
    int err = 0;
    char *r = s_call(t, "check", NULL, &err);
    assert_non_null(strstr(r, "\"would\":\"held\""));
    free(r);
    r = s_call(t, "force", "{\"name\":\"myhost.duckdns.org\"}", &err);
    assert_int_equal(err, 0);
    assert_non_null(strstr(r, "\"outcome\":\"updated\""));
    assert_null(strstr(r, "dyndns2"));
    free(r);
    assert_int_equal(yh_duckdns_calls(duck), 2);
    r = s_call(t, "force", NULL, &err);
    free(r);
    assert_int_equal(yh_dyndns2_calls(dyn), 2);
    assert_int_equal(yh_cf_calls(cf, "PATCH"), 1);
    assert_int_equal(yh_duckdns_calls(duck), 2); /* already set: nothing to do */
    for (int i = 0; i < 5; i++) {
        s_next_cycle(t);
    }
    assert_int_equal(yh_dyndns2_calls(dyn) + yh_cf_calls(cf, NULL) + yh_duckdns_calls(duck),
                     2 + 4 + 2);
    r = s_call(t, "status", NULL, &err);
    assert_int_equal(err, 0);
    assert_non_null(strstr(r, "\"provider\":\"cloudflare\""));
    assert_non_null(strstr(r, "\"address\":\"5.6.7.8\""));
    assert_non_null(strstr(r, "\"last_check\":\"2026-01-01T"));
    assert_non_null(strstr(r, "\"next_check\":\"2026-01-01T"));
    assert_null(strstr(r, "cf-token-123"));
    free(r);
    r = s_call(t, "force", "{\"name\":\"nope.example\"}", &err);
    assert_int_equal(err, YARD_E_BAD_REQUEST);
    /* A force that arrives while a cycle runs waits for it, then gets a cycle of its own;
     * resend sends even an unchanged address (DuckDNS answers NOCHANGE). */
    uint64_t cycles = s_state(t)->cycles;
    yard_actor_test_advance(t, S_INTERVAL * 6 / 5);
    assert_non_null(s_state(t)->cycle); /* the timer's cycle is running */
    r = s_call(t, "force", "{\"name\":\"myhost.duckdns.org\",\"resend\":true}", &err);
    assert_int_equal(err, 0);
    assert_non_null(strstr(r, "\"outcome\":\"updated\",\"message\":\"OK\""));
    free(r);
    assert_int_equal(s_state(t)->cycles, cycles + 2);
    assert_int_equal(yh_duckdns_calls(duck), 3);
    assert_int_equal(yh_dyndns2_calls(dyn), 2);
    yard_actor_test_destroy(&t);
    yh_duckdns_stop(&duck);
    yh_cf_stop(&cf);
    yh_dyndns2_stop(&dyn);
    yh_ipecho_stop(&echo);
}

/* Nothing configured: starts, idles, and says so; bad configs name the file line and key. */
static void
t_config(void **state)
{
    (void)state;
    yard_actor_test_t *t = s_start("dns: {interval: 5m}\n");
    int err;
    char *r = s_call(t, "status", NULL, &err);
    assert_non_null(strstr(r, "no records configured"));
    free(r);
    yard_actor_test_destroy(&t);
    const char *bad[] = {
        "dns:\n  records:\n    - {name: a.example, provider: nope}\n",
        "dns:\n  records:\n    - {name: a.example, provider: dyndns2, username: u}\n",
        "dns:\n  records:\n    - {name: a.example, provider: cloudflare, token: t}\n",
        "dns:\n  records:\n    - {name: a.example, provider: duckdns, token: t, tokn: x}\n",
        "dns:\n  ip:\n    v4: {web: [http://x], static: 1.2.3.4}\n",
        "dns:\n  ip:\n    v4: {web: [http://x], verify: 2}\n",
        "dns:\n  ip:\n    v5: {static: 1.2.3.4}\n",
        "dns:\n  records:\n    - {name: a.example, provider: duckdns, token: t, password_file: "
        "/nonexistent}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = NULL;
        assert_int_equal(yard_actor_test_new(&yard_actor_dns, bad[i], &t), YARD_E_CONFIG);
        assert_null(t);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_dyndns2_update_only_on_change),
        cmocka_unit_test(t_dyndns2_fatal_codes_hold),
        cmocka_unit_test(t_dyndns2_911_dnserr_wait_10_minutes),
        cmocka_unit_test(t_dyndns2_nochg),
        cmocka_unit_test(t_cloudflare_create_then_patch),
        cmocka_unit_test(t_cloudflare_patch_keeps_ttl_proxied),
        cmocka_unit_test(t_cloudflare_aaaa_same_and_stale_id),
        cmocka_unit_test(t_cloudflare_wrong_token),
        cmocka_unit_test(t_cloudflare_429_retry_after),
        cmocka_unit_test(t_cloudflare_rate_limit),
        cmocka_unit_test(t_cloudflare_5xx_then_success),
        cmocka_unit_test(t_transport_failures),
        cmocka_unit_test(t_duckdns),
        cmocka_unit_test(t_verify_disagreeing_source),
        cmocka_unit_test(t_garbage_sources),
        cmocka_unit_test(t_sources_and_check),
        cmocka_unit_test(t_three_providers_force_status),
        cmocka_unit_test(t_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
