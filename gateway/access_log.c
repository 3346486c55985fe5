/* The access log: one JSON line per finished request on stderr, in the shape of yard_log's
 * lines (ts, level, component, msg, then the fields), written with one write(2) so lines from
 * different threads never interleave. It does not go through yard_log_emit() because that
 * one rate-limits by message (five a second), which is right for errors and wrong for an
 * access log. It honours the log level (info). Invariant: written once per request, from the
 * completion callback, whether the request was answered, refused or abandoned (status 499
 * when the client went away before an answer). Client-controlled text (path, request id) is
 * escaped by jansson, so no request can break the line. */
#include "gw_internal.h"

#include "yard/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void
gw_access_log(const gw_req_t *req, double seconds)
{
    if (!yard_log_enabled(YARD_LOG_INFO)) {
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);
    const char *path = req->path ? req->path : req->raw_uri ? req->raw_uri : "";
    json_t *o = json_object();
    json_object_set_new(o, "ts", json_string(when));
    json_object_set_new(o, "level", json_string("info"));
    json_object_set_new(o, "component", json_string("gateway"));
    json_object_set_new(o, "msg", json_string("access"));
    json_object_set_new(o, "request_id", json_string(req->request_id));
    json_object_set_new(o, "method", json_string(req->method));
    /* json_stringn: a path that is not UTF-8 becomes null rather than breaking the line */
    json_object_set_new(o, "path", json_stringn(path, strlen(path)));
    json_object_set_new(o, "route", json_string(req->route ? req->route->name : "-"));
    json_object_set_new(o, "status", json_integer(req->status ? req->status : 499));
    json_object_set_new(o, "bytes", json_integer((json_int_t)req->bytes));
    json_object_set_new(o, "duration_ms", json_real(seconds * 1000.0));
    json_object_set_new(o, "peer", json_string(req->peer));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text) {
        return;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps allocated len + 1: the NUL's place becomes the newline */
    ssize_t w = write(STDERR_FILENO, text, len + 1);
    (void)w;
    free(text);
}
