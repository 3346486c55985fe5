/* Bot API calls (tg_internal.h): POST <api_base>/bot<token>/<method> with a JSON body. The
 * token travels only as the URL's "{secret}", so every log line and error text shows
 * <secret>. Answers are read per the API's contract: {"ok":true,"result":...} or
 * {"ok":false,"error_code":N,"description":"...","parameters":{retry_after,
 * migrate_to_chat_id}} (core.telegram.org/bots/api#making-requests,
 * #responseparameters). */
#include "tg_internal.h"

#include "yard/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
tg_api_res_read(const yard_http_resp_t *resp, tg_api_res_t *res)
{
    memset(res, 0, sizeof *res);
    msgpack_zone_init(&res->zone, 2048);
    res->result.type = MSGPACK_OBJECT_NIL;
    res->error = yard_http_resp_error(resp);
    res->status = yard_http_resp_status(resp);
    res->error_code = res->status;
    if (res->error) {
        snprintf(res->description, sizeof res->description, "%s", yard_http_resp_error_text(resp));
        return;
    }
    size_t size = 0;
    msgpack_object obj;
    char err[128];
    if (yard_http_resp_json(resp, &res->mp, &size, err, sizeof err) != 0 ||
        yard_mp_decode(res->mp, size, &res->zone, &obj, err, sizeof err) != 0 ||
        obj.type != MSGPACK_OBJECT_MAP) {
        snprintf(res->description, sizeof res->description,
                 "HTTP %d with a body that is not "
                 "a Bot API answer",
                 res->status);
        return;
    }
    yard_mp_get_bool(&obj, "ok", &res->ok, NULL, 0);
    int64_t code = 0;
    if (yard_mp_get_int(&obj, "error_code", &code, NULL, 0) == 0 && code > 0 && code < 1000) {
        res->error_code = (int)code;
    }
    yard_mp_get_strbuf(&obj, "description", res->description, sizeof res->description, NULL, 0);
    const msgpack_object *params = NULL;
    if (yard_mp_get_map(&obj, "parameters", &params, NULL, 0) == 0) {
        yard_mp_get_int(params, "retry_after", &res->retry_after, NULL, 0);
        yard_mp_get_int(params, "migrate_to_chat_id", &res->migrate_to_chat_id, NULL, 0);
    }
    const msgpack_object *result = yard_mp_find(&obj, "result");
    if (res->ok && res->status == 200 && result) {
        res->result = *result;
    } else {
        res->ok = false;
        if (!res->description[0]) {
            snprintf(res->description, sizeof res->description, "HTTP %d", res->status);
        }
    }
}

void
tg_api_res_free(tg_api_res_t *res)
{
    msgpack_zone_destroy(&res->zone);
    free(res->mp);
    res->mp = NULL;
}

int
tg_api_call(tg_state_t *st, const char *method, const void *body, size_t size, uint32_t timeout_ms,
            yard_http_done_fn *cb, void *arg)
{
    yard_http_t *http = yard_ctx_http(st->ctx);
    if (!http) {
        return YARD_E_SHUTDOWN;
    }
    char url[512];
    int n = snprintf(url, sizeof url, "%s/bot%s/%s", st->o->api_base, TG_TOKEN_SUFFIX, method);
    if (n < 0 || (size_t)n >= sizeof url) {
        return YARD_E_INVALID;
    }
    yard_http_req_t *hr = NULL;
    int rc = yard_http_req_new("POST", url, &hr);
    if (rc == 0) {
        rc = yard_http_req_secret(hr, st->o->token);
    }
    if (rc == 0) {
        rc = body ? yard_http_req_json_msgpack(hr, body, size) : yard_http_req_json(hr, "{}", 2);
    }
    if (rc != 0) {
        yard_http_req_destroy(&hr);
        return rc;
    }
    yard_http_req_timeout(hr, timeout_ms);
    return yard_http_send(http, &hr, cb, arg);
}
