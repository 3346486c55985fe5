/* Reading an outbound HTTP response inside its completion callback. The response lives in its
 * transfer (http.c) and is valid only during the callback; header lookups go to curl's own
 * header store (curl_easy_header()), which matches names in any case. */
#include "http_internal.h"
#include "yard/error.h"
#include "yard/json.h"

int
yard_http_resp_error(const yard_http_resp_t *resp)
{
    return resp->err;
}

const char *
yard_http_resp_error_text(const yard_http_resp_t *resp)
{
    return resp->err_text;
}

int
yard_http_resp_status(const yard_http_resp_t *resp)
{
    return resp->status;
}

const char *
yard_http_resp_header(const yard_http_resp_t *resp, const char *name)
{
    struct curl_header *h = NULL;
    if (!resp->easy || !name) {
        return NULL;
    }
    /* index 0 asks how many there are; the last one is the value that counts */
    if (curl_easy_header(resp->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK) {
        return NULL;
    }
    if (h->amount > 1 &&
        curl_easy_header(resp->easy, name, h->amount - 1, CURLH_HEADER, -1, &h) != CURLHE_OK) {
        return NULL;
    }
    return h->value;
}

const char *
yard_http_resp_body(const yard_http_resp_t *resp, size_t *len)
{
    if (len) {
        *len = resp->body_len;
    }
    return resp->body ? resp->body : "";
}

int
yard_http_resp_json(const yard_http_resp_t *resp, void **out, size_t *size, char *err,
                    size_t errlen)
{
    return yard_json_to_msgpack(resp->body ? resp->body : "", resp->body_len, out, size, err,
                                errlen);
}

uint32_t
yard_http_resp_attempts(const yard_http_resp_t *resp)
{
    return resp->attempts;
}

const char *
yard_http_resp_method(const yard_http_resp_t *resp)
{
    return resp->method;
}

const char *
yard_http_resp_url_redacted(const yard_http_resp_t *resp)
{
    return resp->url_redacted;
}
