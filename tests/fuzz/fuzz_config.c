/* Fuzzes the YAML config loader (yard_config_load) and what programs do next with a loaded
 * file: apply the broker's and the gateway's option tables, check sections for unknown keys,
 * and walk the structured nodes. The bytes reach the loader as a file, as in production,
 * through a memfd (no disk). What must hold: a refusal names what was wrong. YAML aliases
 * that expand exponentially are libyaml's to bound: the loader keeps the document, it never
 * expands it. */
#include "yard/broker.h"
#include "yard/options.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define S_WALK_MAX 10000 /* nodes visited per input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_walk(yard_config_node_t n, int depth, int *budget)
{
    if (depth > 64 || --*budget < 0) {
        return;
    }
    (void)yard_config_node_line(n);
    (void)yard_config_node_text(n);
    size_t len = yard_config_node_len(n);
    switch (yard_config_node_kind(n)) {
    case YARD_CONFIG_LIST:
        for (size_t i = 0; i < len; i++) {
            s_walk(yard_config_node_item(n, i), depth + 1, budget);
        }
        break;
    case YARD_CONFIG_MAP:
        for (size_t i = 0; i < len; i++) {
            yard_config_node_t v;
            int line;
            const char *k = yard_config_node_key(n, i, &v, &line);
            if (k) {
                (void)yard_config_node_get(n, k);
            }
            s_walk(v, depth + 1, budget);
        }
        break;
    default:
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("yard-fuzz-config", 0);
        if (fd < 0) {
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
        abort();
    }
    yard_config_t *cfg = NULL;
    char err[512] = "";
    if (yard_config_load(path, &cfg, err, sizeof err) != 0) {
        if (err[0] == '\0' || cfg != NULL) {
            abort();
        }
        return 0;
    }
    yard_broker_opts_t bo = {0};
    err[0] = '\0';
    if (yard_options_apply(yard_broker_options, &bo, cfg, NULL, 0, NULL, err, sizeof err) != 0 &&
        err[0] == '\0') {
        abort();
    }
    yard_options_free(yard_broker_options, &bo);
    (void)yard_config_check_section(cfg, yard_broker_options, NULL, err, sizeof err);
    (void)yard_config_has_section(cfg, "gateway");
    int budget = S_WALK_MAX;
    s_walk(yard_config_node(cfg, NULL), 0, &budget);
    yard_config_destroy(&cfg);
    return 0;
}
