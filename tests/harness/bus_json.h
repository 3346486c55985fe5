/* Test harness: bus calls written and read as JSON, converted exactly as the gateway and
 * `yard call` convert them, so a test reads like the requests it makes. */
#ifndef YARD_HARNESS_BUS_JSON_H
#define YARD_HARNESS_BUS_JSON_H

#include "yard/client.h"

#include <stdint.h>

typedef struct {
    int status;   /* 0, or the yard error */
    char app[64]; /* the service's own error code, or "" */
    char *json;   /* the reply body as JSON (NULL when empty), or the error text; owned */
} yh_result_t;

/* Calls service/op with the JSON body json (NULL: empty) and the headers in kv ("key",
 * "value", ... ended by NULL; may be NULL), waiting up to timeout_ms. A json that does not
 * parse aborts the test program (a bug in the test). Free the result with yh_result_free(). */
yh_result_t yh_call_json(yard_client_t *client, const char *service, const char *op,
                         const char *json, const char *const *kv, uint32_t timeout_ms);
void yh_result_free(yh_result_t *r);

/* Like yh_call_json, but while the broker answers NO_SERVICE (replicas register
 * asynchronously) tries again until wait_ms have passed: the first call of a test. */
yh_result_t yh_call_json_ready(yard_client_t *client, const char *service, const char *op,
                               const char *json, const char *const *kv, uint32_t wait_ms);

#endif
