/* Jobs from the config file: `scheduler: {jobs: [...]}`. Each item goes through the same
 * checks as job.add (YAML is converted to a msgpack map first); a bad one is reported with
 * the file and line and skipped, so one typo does not stop the others. */
#include "sched_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A YAML scalar as the msgpack value it reads as: integers, true/false, null, else text. */
static void
s_scalar(msgpack_packer *pk, const char *text)
{
    char *end = NULL;
    long long n = strtoll(text, &end, 10);
    if (text[0] && *end == '\0' && (text[0] == '-' || (text[0] >= '0' && text[0] <= '9'))) {
        msgpack_pack_int64(pk, n);
    } else if (strcasecmp(text, "true") == 0) {
        msgpack_pack_true(pk);
    } else if (strcasecmp(text, "false") == 0) {
        msgpack_pack_false(pk);
    } else {
        msgpack_pack_str_with_body(pk, text, strlen(text));
    }
}

static void
s_node(msgpack_packer *pk, yard_config_node_t node, int depth)
{
    switch (yard_config_node_kind(node)) {
    case YARD_CONFIG_SCALAR:
        s_scalar(pk, yard_config_node_text(node));
        return;
    case YARD_CONFIG_LIST: {
        size_t n = depth > 16 ? 0 : yard_config_node_len(node);
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++) {
            s_node(pk, yard_config_node_item(node, i), depth + 1);
        }
        return;
    }
    case YARD_CONFIG_MAP: {
        size_t n = depth > 16 ? 0 : yard_config_node_len(node);
        msgpack_pack_map(pk, n);
        for (size_t i = 0; i < n; i++) {
            yard_config_node_t v;
            const char *k = yard_config_node_key(node, i, &v, NULL);
            msgpack_pack_str_with_body(pk, k, strlen(k));
            s_node(pk, v, depth + 1);
        }
        return;
    }
    default:
        msgpack_pack_nil(pk);
    }
}

/* Writes the job, keeping the stored next run when the definition did not change (so a
 * restart does not forget where a job stood), else starting it afresh. */
static int
s_upsert(sched_state_t *st, sched_job_t *j)
{
    sched_job_t *old = NULL;
    int rc = sched_store_load(st->store, j->id, &old);
    bool same = false;
    if (rc == 0) {
        msgpack_sbuffer a, b;
        msgpack_sbuffer_init(&a);
        msgpack_sbuffer_init(&b);
        msgpack_packer pa, pb;
        msgpack_packer_init(&pa, &a, msgpack_sbuffer_write);
        msgpack_packer_init(&pb, &b, msgpack_sbuffer_write);
        j->created = old->created;
        j->paused = old->paused; /* pausing at run time survives a restart */
        if (j->kind == SCHED_INTERVAL && old->kind == SCHED_INTERVAL) {
            j->start = old->start;
        }
        sched_job_pack(j, &pa);
        sched_job_pack(old, &pb);
        same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
        msgpack_sbuffer_destroy(&a);
        msgpack_sbuffer_destroy(&b);
        sched_job_destroy(&old);
    }
    if (same) {
        return 0;
    }
    rc = sched_store_save(st->store, j, false);
    if (rc == 0) {
        rc =
            sched_store_next_set(st->store, j->id, j->paused ? -1 : sched_job_next(j, sched_now()));
    }
    return rc;
}

int
sched_config_load(sched_state_t *st, const yard_config_t *cfg)
{
    yard_config_node_t list = yard_config_node(cfg, "scheduler.jobs");
    yard_config_kind_t kind = yard_config_node_kind(list);
    if (kind == YARD_CONFIG_ABSENT || kind == YARD_CONFIG_NULL) {
        return 0;
    }
    const char *path = yard_config_path(cfg);
    if (kind != YARD_CONFIG_LIST) {
        yard_log(YARD_LOG_ERROR, "scheduler: jobs must be a list", YF_STR("file", path),
                 YF_INT("line", yard_config_node_line(list)));
        return 0;
    }
    int loaded = 0;
    for (size_t i = 0; i < yard_config_node_len(list); i++) {
        yard_config_node_t item = yard_config_node_item(list, i);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        s_node(&pk, item, 0);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        char why[200] = "";
        sched_job_t *j = NULL;
        if (msgpack_unpack_next(&up, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS) {
            sched_job_from_map(&up.data, sched_now(), &j, why, sizeof why);
        }
        if (!j) {
            char where[600];
            snprintf(where, sizeof where, "%s:%d: job %zu: %s", path, yard_config_node_line(item),
                     i + 1, why);
            yard_log(YARD_LOG_ERROR, "scheduler: a job in the config file is invalid; skipped",
                     YF_STR("error", where));
        } else if (s_upsert(st, j) == 0) {
            loaded++;
        }
        sched_job_destroy(&j);
        msgpack_unpacked_destroy(&up);
        msgpack_sbuffer_destroy(&sb);
    }
    return loaded;
}
