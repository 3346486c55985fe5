/* yard bench http's baseline: one HTTP request made by hand (to keep the gateway's answer) and
 * a bare libmicrohttpd server that replays that answer to every request, without the bus
 * (bench_http_baseline.c). Used by cmd_bench_http.c only. */
#ifndef YARD_TOOLS_BENCH_HTTP_BASELINE_H
#define YARD_TOOLS_BENCH_HTTP_BASELINE_H

#include <stddef.h>
#include <stdint.h>

/* The largest answer yard__http_ask() keeps: the largest --body-sizes body echoed, plus
 * headers. */
#define YARD__HTTP_ANSWER_MAX (32u * 1024 * 1024)

typedef struct yard_http_answer yard_http_answer_t;
typedef struct yard_http_baseline yard_http_baseline_t;

/* Sends one request (json_body, NUL-terminated, with its Content-Type when not NULL) to
 * 127.0.0.1:port with Connection: close and reads the whole answer (at most
 * YARD__HTTP_ANSWER_MAX bytes), with a 5 s deadline per read. Returns 0 and sets *out (caller
 * owns it; free with yard__http_answer_destroy()), or -1: nothing listens, no answer in time,
 * or an answer this parser does not replay. */
int yard__http_ask(uint16_t port, const char *method, const char *path, const char *json_body,
                   yard_http_answer_t **out);
unsigned yard__http_answer_status(const yard_http_answer_t *self);
/* Bytes of the answer's body. */
size_t yard__http_answer_body_len(const yard_http_answer_t *self);
void yard__http_answer_destroy(yard_http_answer_t **self_p);

/* Starts the bare server on 127.0.0.1, a free port, answering every request with answer
 * (borrowed; valid until yard__http_baseline_stop()). Threads, connection limit and timeout
 * as the gateway's (the timeout rounded up to seconds, at least 1, as the gateway does).
 * Returns 0 and sets *out (stop and free with yard__http_baseline_stop()), or -1. */
int yard__http_baseline_start(unsigned threads, unsigned connection_limit,
                              uint32_t connection_timeout_ms, const yard_http_answer_t *answer,
                              yard_http_baseline_t **out);
uint16_t yard__http_baseline_port(const yard_http_baseline_t *self);
/* Stops the server (if *self_p is not NULL) and sets *self_p to NULL. */
void yard__http_baseline_stop(yard_http_baseline_t **self_p);

#endif
