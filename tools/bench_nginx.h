/* yard bench http's third side: Debian's nginx as a reverse proxy with upstream keep-alive in
 * front of the bare libmicrohttpd server, which is what a user would run instead of our
 * gateway. nginx runs as a child process (its master in the foreground, `daemon off`, with
 * its workers) from a config generated in a temp dir that also holds its pid file, logs and
 * temp paths, so no root and no system config are needed; it listens on 127.0.0.1 at a free
 * port. Used by cmd_bench_http.c only. */
#ifndef YARD_TOOLS_BENCH_NGINX_H
#define YARD_TOOLS_BENCH_NGINX_H

#include <stddef.h>
#include <stdint.h>

typedef struct yard_bench_nginx yard_bench_nginx_t;

/* How nginx proxies: its worker processes, the connections wrk opens (they size the
 * upstream keep-alive cache and the workers' connection limits), and the largest request
 * body (nginx keeps bodies and answers up to it in memory, as a user tuning for it would). */
typedef struct {
    unsigned workers, connections;
    size_t body_max;
} yard_bench_nginx_opts_t;

/* The nginx program: path when not NULL (NULL if it is not executable), else nginx on $PATH,
 * else in /usr/sbin or /sbin (Debian's place, often off a user's PATH). Caller owns the
 * result; free with free(). */
char *yard__bench_nginx_find(const char *path);

/* nginx's version as `nginx -v` says it ("nginx/1.22.1"), into out; "" when it does not say. */
void yard__bench_nginx_version(const char *nginx, char *out, size_t cap);

/* Starts nginx (its path) proxying 127.0.0.1:<a free port> to 127.0.0.1:upstream_port and
 * waits until it accepts connections. Returns 0 and sets *out (stop and free with
 * yard__bench_nginx_stop()), or -1 with the reason (nginx's own error log included) on
 * stderr, nothing left running and the temp dir removed. */
int yard__bench_nginx_start(const char *nginx, uint16_t upstream_port,
                            const yard_bench_nginx_opts_t *o, yard_bench_nginx_t **out);

uint16_t yard__bench_nginx_port(const yard_bench_nginx_t *self);

/* Stops nginx (SIGTERM, then SIGKILL to its process group after 5 s), reaps it, removes its
 * temp dir, and sets *self_p to NULL; nothing when *self_p is NULL. */
void yard__bench_nginx_stop(yard_bench_nginx_t **self_p);

#endif
