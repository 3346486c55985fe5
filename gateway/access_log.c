/* The access log: one JSON line per finished request, through the shared logger's record
 * path (yard_log_record: never rate-limited, unlike error lines, and escaped so that no
 * client-controlled path or request id can break the line). Invariant: written once per
 * request, from the completion callback, whether the request was answered, refused or
 * abandoned (status 499 when the client went away before an answer). */
#include "gw_internal.h"

#include "yard/log.h"

void
gw_access_log(const gw_req_t *req, double seconds)
{
    const char *path = req->path ? req->path : req->raw_uri ? req->raw_uri : "";
    yard_log_record(YARD_LOG_INFO, "access", YF_STR("request_id", req->request_id),
                    YF_STR("method", req->method), YF_STR("path", path),
                    YF_STR("route", req->route ? req->route->name : "-"),
                    YF_INT("status", req->status ? req->status : 499), YF_UINT("bytes", req->bytes),
                    YF_DBL("duration_ms", seconds * 1000.0), YF_STR("peer", req->peer));
}
