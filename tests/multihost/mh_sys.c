/* $sys questions to one broker (mh_sys.h). */
#include "mh_sys.h"

#include "yard/client.h"
#include "yard/error.h"
#include "yard/mp.h"

#include <stdlib.h>
#include <time.h>

#define S_ASK_MS 1000 /* a question's deadline: a broker that is cut off answers TIMEOUT */

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One `$sys` op on the broker at endpoint; *reply is the caller's on success. */
static int
s_ask(const char *endpoint, const char *op, const void *body, size_t size, uint32_t hb_ms,
      yard_msg_t **reply)
{
    yard_client_t *c = NULL;
    yard_client_opts_t o = {.heartbeat_ms = hb_ms, .default_timeout_ms = S_ASK_MS};
    int rc = yard_client_new(endpoint, &o, &c);
    if (rc == 0) {
        yard_call_opts_t co = {.op = op};
        rc = yard_client_call(c, "$sys", body, size, &co, reply);
    }
    yard_client_destroy(&c);
    if (rc != 0) {
        yard_msg_destroy(reply);
    }
    return rc;
}

/* Decodes a reply body into zone. */
static int
s_decode(const yard_msg_t *reply, msgpack_zone *zone, msgpack_object *o)
{
    size_t size = 0;
    const void *body = yard_msg_body(reply, &size);
    return yard_mp_decode(body, size, zone, o, NULL, 0);
}

int
mh_sys_replicas(const char *endpoint, const char *service, uint32_t heartbeat_ms, int *count)
{
    *count = 0;
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "service", service);
    yard_mpw_end(w);
    const void *body;
    size_t size;
    int rc = yard_mpw_finish(w, &body, &size);
    yard_msg_t *reply = NULL;
    if (rc == 0) {
        rc = s_ask(endpoint, "replicas", body, size, heartbeat_ms, &reply);
    }
    yard_mpw_destroy(&w);
    if (rc == YARD_E_NOT_FOUND) {
        return 0; /* the broker knows no such service: no replica */
    }
    if (rc != 0) {
        return rc;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object o;
    const msgpack_object *reps = NULL;
    rc = s_decode(reply, &zone, &o);
    if (rc == 0) {
        rc = yard_mp_get_array(&o, "replicas", &reps, NULL, 0);
    }
    if (rc == 0) {
        *count = (int)reps->via.array.size;
    }
    msgpack_zone_destroy(&zone);
    yard_msg_destroy(&reply);
    return rc;
}

int
mh_sys_counter(const char *endpoint, const char *name, uint32_t heartbeat_ms, uint64_t *value)
{
    yard_msg_t *reply = NULL;
    int rc = s_ask(endpoint, "stats", NULL, 0, heartbeat_ms, &reply);
    if (rc != 0) {
        return rc;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_object o;
    const msgpack_object *counters = NULL;
    rc = s_decode(reply, &zone, &o);
    if (rc == 0) {
        rc = yard_mp_get_map(&o, "counters", &counters, NULL, 0);
    }
    if (rc == 0) {
        rc = yard_mp_get_uint(counters, name, value, NULL, 0);
    }
    msgpack_zone_destroy(&zone);
    yard_msg_destroy(&reply);
    return rc;
}

int64_t
mh_sys_wait_replicas(const char *endpoint, const char *service, int min, int64_t timeout_ms,
                     uint32_t heartbeat_ms, int *count)
{
    int64_t start = s_now_ms();
    for (;;) {
        int64_t asked = s_now_ms();
        if (mh_sys_replicas(endpoint, service, heartbeat_ms, count) == 0 && *count >= min) {
            return s_now_ms() - start; /* when the answer came: a bound, to one question */
        }
        int64_t now = s_now_ms();
        if (now - start >= timeout_ms) {
            return -1;
        }
        /* Ask again 100 ms after the last question began: a poll with a deadline. */
        int64_t wait = asked + 100 - now;
        if (wait > 0) {
            struct timespec ts = {0, (long)wait * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

/* One new client: a send (counted by the broker it lands on), then a call through the same
 * connection, which arrives after the send. */
static int
s_probe_one(const char *list, const char *service, uint32_t hb_ms)
{
    yard_client_t *c = NULL;
    yard_client_opts_t o = {.heartbeat_ms = hb_ms, .default_timeout_ms = 2000};
    int rc = yard_client_new(list, &o, &c);
    static const unsigned char empty_map = 0x80;
    if (rc == 0) {
        rc = yard_client_send(c, service, &empty_map, 1, NULL);
    }
    if (rc == 0) {
        rc = yard_client_call(c, service, &empty_map, 1, NULL, NULL);
    }
    yard_client_destroy(&c);
    return rc;
}

int
mh_sys_probe(const char *list, const char *ep_a, const char *ep_b, const char *service, int n,
             uint32_t heartbeat_ms, int *on_a, int *on_b)
{
    uint64_t a0, b0, a1, b1;
    *on_a = *on_b = 0;
    int rc = mh_sys_counter(ep_a, "sends", heartbeat_ms, &a0);
    if (rc == 0) {
        rc = mh_sys_counter(ep_b, "sends", heartbeat_ms, &b0);
    }
    for (int i = 0; i < n && rc == 0; i++) {
        rc = s_probe_one(list, service, heartbeat_ms);
    }
    if (rc == 0) {
        rc = mh_sys_counter(ep_a, "sends", heartbeat_ms, &a1);
    }
    if (rc == 0) {
        rc = mh_sys_counter(ep_b, "sends", heartbeat_ms, &b1);
    }
    if (rc == 0) {
        *on_a = (int)(a1 - a0);
        *on_b = (int)(b1 - b0);
    }
    return rc;
}
