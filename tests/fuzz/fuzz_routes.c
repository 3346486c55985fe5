/* Fuzzes the gateway's route table: building it from a config's gateway.routes
 * (yard_gw_routes_new) and matching requests against it (yard_gw_routes_match), which sees
 * every request's method and path before anything else does.
 *
 * Input: optional YAML, then a NUL byte, then request lines "METHOD PATH" separated by '\n'.
 * Without a NUL the whole input is request lines, matched against a fixed table (literal,
 * parameter and {service} routes, the default route). What must hold: a match's parameters
 * lie inside the path, a resolved service is a non-empty name not starting with '$', and a
 * config refusal names what was wrong. */
#include "routes.h"
#include "yard/options.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define S_LINES_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char s_fixed[] =
    "gateway:\n"
    "  routes:\n"
    "    - {method: GET, path: '/v1/users/{id}', service: users, op: user.get}\n"
    "    - {method: POST, path: '/v1/users', service: users, op: user.create, auth: bearer,\n"
    "       scopes: [users.write]}\n"
    "    - {method: '*', path: '/v1/svc/{service}/{op}', service: '{service}',\n"
    "       services: [echo, users]}\n"
    "    - {method: DELETE, path: '/v1/a/{x}/b/{y}/c', service: abc, timeout: 2s}\n"
    "    - {method: GET, path: '/', service: root}\n"
    "  default_route: {services: [echo, auth], auth: bearer}\n";

static yard_config_t *
s_load(int fd, const char *path, const void *text, size_t n)
{
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, n, 0) != (ssize_t)n) {
        abort();
    }
    yard_config_t *cfg = NULL;
    char err[512];
    (void)yard_config_load(path, &cfg, err, sizeof err);
    return cfg;
}

static void
s_match(const yard_gw_routes_t *rt, const char *line)
{
    char method[32];
    const char *sp = strchr(line, ' ');
    const char *path = sp ? sp + 1 : "/";
    size_t ml = sp ? (size_t)(sp - line) : strlen(line);
    if (ml >= sizeof method) {
        ml = sizeof method - 1;
    }
    memcpy(method, line, ml);
    method[ml] = '\0';
    yard_gw_match_t m;
    const yard_gw_route_t *r = yard_gw_routes_match(rt, method, path, &m);
    if (!r) {
        return;
    }
    if (m.nparams > YARD_GW_PARAMS_MAX || !m.service || !m.service[0] || m.service[0] == '$') {
        abort();
    }
    size_t plen = strlen(path);
    for (size_t i = 0; i < m.nparams; i++) {
        const char *v = m.params[i].value;
        if (v < path || v + m.params[i].value_len > path + plen) {
            abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    static yard_gw_routes_t *fixed;
    if (fd < 0) {
        fd = memfd_create("yard-fuzz-routes", 0);
        if (fd < 0) {
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        yard_config_t *cfg = s_load(fd, path, s_fixed, strlen(s_fixed));
        char err[512];
        if (!cfg || yard_gw_routes_new(cfg, 5000, 1 << 20, &fixed, err, sizeof err) != 0) {
            abort();
        }
        yard_config_destroy(&cfg);
    }
    const uint8_t *nul = memchr(data, '\0', size);
    yard_gw_routes_t *own = NULL;
    const yard_gw_routes_t *rt = fixed;
    size_t off = 0;
    if (nul) {
        yard_config_t *cfg = s_load(fd, path, data, (size_t)(nul - data));
        char err[512] = "";
        if (yard_gw_routes_new(cfg, 5000, 1 << 20, &own, err, sizeof err) != 0) {
            if (err[0] == '\0') {
                abort();
            }
            yard_config_destroy(&cfg);
            return 0;
        }
        rt = own;
        off = (size_t)(nul - data) + 1;
        yard_config_destroy(&cfg);
    }
    char *lines = malloc(size - off + 1);
    memcpy(lines, data + off, size - off);
    lines[size - off] = '\0';
    char *save = NULL;
    int k = 0;
    for (char *l = strtok_r(lines, "\n", &save); l && k < S_LINES_MAX;
         l = strtok_r(NULL, "\n", &save), k++) {
        s_match(rt, l);
    }
    free(lines);
    yard_gw_routes_destroy(&own);
    return 0;
}
