/* Split brain refused, with real processes (issue 10): `yard-actor auth` twice against one
 * broker. On memory stores the second is refused: it exits 1 printing why (both stores, what
 * to do), the broker publishes `replica_refused` and counts it, and the first keeps serving
 * alone. On one Redis both are accepted. Skips the Redis half without redis-server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_json.h"
#include "fixture.h"
#include "harness.h"
#include "run.h"
#include "yard/broker.h"
#include "yard/client.h"
#include "yard/error.h"

#define S_EVENTS_MAX 64

typedef struct {
    char event[32], service[64], replica[256], store[600], expected[600];
} s_event_t;

static struct {
    yard_broker_t *broker;
    int port;
    char endpoint[64];
    yard_client_t *client;
    s_event_t events[S_EVENTS_MAX];
    size_t n_events;
} F;

static void
s_str(const msgpack_object *map, const char *key, char *out, size_t cap)
{
    for (uint32_t i = 0; map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->val.type == MSGPACK_OBJECT_STR &&
            kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) == 0) {
            snprintf(out, cap, "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
        }
    }
}

static void
s_on_event(const yard_msg_t *msg, void *arg)
{
    (void)arg;
    size_t size = 0;
    const void *body = yard_msg_body(msg, &size);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    if (F.n_events < S_EVENTS_MAX &&
        msgpack_unpack_next(&up, body, size, NULL) == MSGPACK_UNPACK_SUCCESS) {
        s_event_t *e = &F.events[F.n_events++];
        memset(e, 0, sizeof *e);
        s_str(&up.data, "event", e->event, sizeof e->event);
        s_str(&up.data, "service", e->service, sizeof e->service);
        s_str(&up.data, "replica", e->replica, sizeof e->replica);
        s_str(&up.data, "store", e->store, sizeof e->store);
        s_str(&up.data, "expected", e->expected, sizeof e->expected);
    }
    msgpack_unpacked_destroy(&up);
}

static size_t
s_count(const char *event, const char *service)
{
    size_t n = 0;
    for (size_t i = 0; i < F.n_events; i++) {
        n += strcmp(F.events[i].event, event) == 0 && strcmp(F.events[i].service, service) == 0;
    }
    return n;
}

/* Dispatches the client until event for service was seen n times, within timeout_ms. */
static bool
s_wait_events(const char *event, const char *service, size_t n, int timeout_ms)
{
    long long deadline = yh_now_ms() + timeout_ms;
    while (s_count(event, service) < n) {
        if (yh_now_ms() >= deadline) {
            return false;
        }
        yard_client_dispatch(F.client, 50);
    }
    return true;
}

static int
setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    F.broker = yh_broker_start(&F.port);
    snprintf(F.endpoint, sizeof F.endpoint, "%s", yh_endpoint(F.port));
    assert_int_equal(yard_client_new(F.endpoint, NULL, &F.client), 0);
    assert_int_equal(yard_client_subscribe(F.client, "$sys.events", s_on_event, NULL), 0);
    /* a round trip: the subscription is in place once the broker answered after it */
    yh_result_t r = yh_call_json(F.client, "$sys", "ping", NULL, NULL, 5000);
    assert_int_equal(r.status, 0);
    yh_result_free(&r);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    yard_client_destroy(&F.client);
    yard_broker_destroy(&F.broker);
    return 0;
}

static yh_run_t *
s_auth(const char *store)
{
    return yh_run_startl("yard-actor", NULL, "auth", "--broker", F.endpoint, "--heartbeat-ms",
                         "200", "--store", store, NULL);
}

/* The broker's counter name, from $sys stats as JSON ("name":N). */
static long long
s_counter(const char *name)
{
    yh_result_t r = yh_call_json(F.client, "$sys", "stats", NULL, NULL, 5000);
    assert_int_equal(r.status, 0);
    char key[80];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *at = strstr(r.json, key);
    long long v = at ? strtoll(at + strlen(key), NULL, 10) : -1;
    yh_result_free(&r);
    return v;
}

static void
test_memory_stores_refused(void **state)
{
    (void)state;
    yh_run_t *first = s_auth("memory");
    assert_true(s_wait_events("replica_ready", "auth", 1, 15000));

    long long t0 = yh_now_ms();
    yh_run_t *second = s_auth("memory");
    pid_t second_pid = second->pid; /* -1 once reaped */
    int status = yh_run_wait(second, 15000);
    long long took = yh_now_ms() - t0;
    fprintf(stderr, "second auth process exited %d after %lld ms; it printed:\n%s", status, took,
            second->err + (second->err_len > 2000 ? second->err_len - 2000 : 0));
    /* refused once, said why, stopped: exit 1 with the broker's reason as the last line */
    assert_int_equal(status, 1);
    assert_non_null(strstr(second->err, "auth: refused by the broker: service 'auth' keeps state"));
    assert_non_null(strstr(second->err, "shared store (store: redis://host:port/db)"));
    assert_non_null(strstr(second->err, "\"level\":\"error\""));
    const char *line = strstr(second->err, "the broker refused this replica");
    assert_non_null(line);
    assert_null(strstr(line + 1, "the broker refused this replica")); /* said once */

    /* the event names both stores, and the broker counted it */
    assert_true(s_wait_events("replica_refused", "auth", 1, 5000));
    const s_event_t *e = NULL;
    for (size_t i = 0; i < F.n_events; i++) {
        e = strcmp(F.events[i].event, "replica_refused") == 0 ? &F.events[i] : e;
    }
    fprintf(stderr, "event: replica_refused service=%s replica=%s store=%s expected=%s\n",
            e->service, e->replica, e->store, e->expected);
    assert_int_equal(strncmp(e->store, "memory:", 7), 0);
    assert_int_equal(strncmp(e->expected, "memory:", 7), 0);
    assert_string_not_equal(e->store, e->expected);
    char pid[32];
    snprintf(pid, sizeof pid, ":%d:", (int)second_pid);
    assert_non_null(strstr(e->store, pid)); /* the refused one is the second process */
    assert_non_null(strstr(second->err, e->store));
    assert_non_null(strstr(second->err, e->expected));
    assert_int_equal(s_counter("replicas_refused"), 1);
    assert_int_equal(s_count("replica_ready", "auth"), 1);

    /* the first is untouched: still registered alone, and stops cleanly */
    yh_result_t r =
        yh_call_json(F.client, "$sys", "replicas", "{\"service\":\"auth\"}", NULL, 5000);
    assert_int_equal(r.status, 0);
    assert_non_null(r.json);
    char first_name[32], second_name[32];
    snprintf(first_name, sizeof first_name, "/%d/", (int)first->pid);
    snprintf(second_name, sizeof second_name, "/%d/", (int)second_pid);
    assert_non_null(strstr(r.json, first_name));
    assert_null(strstr(r.json, second_name));
    yh_result_free(&r);
    assert_int_equal(kill(first->pid, SIGTERM), 0);
    assert_int_equal(yh_run_wait(first, 15000), 0);
    yh_run_destroy(&first);
    yh_run_destroy(&second);
}

static void
test_one_redis_accepted(void **state)
{
    (void)state;
    int port = 0;
    char *dir = NULL;
    pid_t redis = yh_redis_start(&port, &dir);
    if (redis < 0) {
        skip(); /* redis-server is not installed */
    }
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    yh_run_t *a = s_auth(url);
    yh_run_t *b = s_auth(url);
    bool both = s_wait_events("replica_ready", "auth", 2, 15000);
    if (!both) {
        fprintf(stderr, "a:\n%s\nb:\n%s\n", a->err, b->err);
    }
    assert_true(both);
    assert_int_equal(s_count("replica_refused", "auth"), 0);
    assert_int_equal(s_counter("replicas_refused"), 0);
    yh_result_t r = yh_call_json(F.client, "$sys", "services", NULL, NULL, 5000);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.json, "\"replicas\":2"));
    yh_result_free(&r);
    assert_int_equal(kill(a->pid, SIGTERM), 0);
    assert_int_equal(kill(b->pid, SIGTERM), 0);
    assert_int_equal(yh_run_wait(a, 15000), 0);
    assert_int_equal(yh_run_wait(b, 15000), 0);
    yh_run_destroy(&a);
    yh_run_destroy(&b);
    yh_redis_stop(redis, dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_memory_stores_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_redis_accepted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
