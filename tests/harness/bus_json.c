/* Bus calls in JSON for tests (bus_json.h). */
#include "bus_json.h"

#include "harness.h"
#include "yard/error.h"
#include "yard/json.h"
#include "yard/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HEADERS_MAX 16

yh_result_t
yh_call_json(yard_client_t *client, const char *service, const char *op, const char *json,
             const char *const *kv, uint32_t timeout_ms)
{
    void *body = NULL;
    size_t size = 0;
    char err[256] = "";
    if (json && yard_json_to_msgpack(json, strlen(json), &body, &size, err, sizeof err) != 0) {
        fprintf(stderr, "yh_call_json: the test's JSON does not parse: %s\n%s\n", err, json);
        abort();
    }
    yard_kv_t h[S_HEADERS_MAX];
    uint32_t nh = 0;
    for (size_t i = 0; kv && kv[i] && kv[i + 1] && nh < S_HEADERS_MAX; i += 2) {
        h[nh].key = (yard_str_t){kv[i], (uint32_t)strlen(kv[i])};
        h[nh].value = (yard_str_t){kv[i + 1], (uint32_t)strlen(kv[i + 1])};
        nh++;
    }
    yard_call_opts_t o = {.op = op, .timeout_ms = timeout_ms, .headers = h, .header_count = nh};
    yard_msg_t *reply = NULL;
    yh_result_t r = {0};
    r.status = yard_client_call(client, service, body, size, &o, &reply);
    free(body);
    if (!reply) {
        r.json = strdup(yard_strerror(r.status));
        return r;
    }
    size_t n = 0;
    const void *b = yard_msg_body(reply, &n);
    if (r.status == 0 && n && yard_json_from_msgpack(b, n, &r.json, NULL, err, sizeof err) != 0) {
        r.status = YARD_E_BAD_REQUEST;
        r.json = strdup(err);
    } else if (r.status != 0) {
        r.json = strdup(yard_msg_error_text(reply));
        snprintf(r.app, sizeof r.app, "%s", yard_msg_app_error(reply));
    }
    yard_msg_destroy(&reply);
    return r;
}

void
yh_result_free(yh_result_t *r)
{
    free(r->json);
    r->json = NULL;
}

yh_result_t
yh_call_json_ready(yard_client_t *client, const char *service, const char *op, const char *json,
                   const char *const *kv, uint32_t wait_ms)
{
    long long until = yh_now_ms() + wait_ms;
    for (;;) {
        yh_result_t r = yh_call_json(client, service, op, json, kv, 5000);
        if (r.status != YARD_E_NO_SERVICE || yh_now_ms() >= until) {
            return r;
        }
        yh_result_free(&r);
        yard_client_dispatch(client, 20); /* the broker answered at once: pace the retries */
    }
}
