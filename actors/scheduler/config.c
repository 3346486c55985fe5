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
s_scalar(yard_mpw_t *w, const char *text)
{
    char *end = NULL;
    long long n = strtoll(text, &end, 10);
    if (text[0] && *end == '\0' && (text[0] == '-' || (text[0] >= '0' && text[0] <= '9'))) {
        yard_mpw_int(w, n);
    } else if (strcasecmp(text, "true") == 0) {
        yard_mpw_bool(w, true);
    } else if (strcasecmp(text, "false") == 0) {
        yard_mpw_bool(w, false);
    } else {
        yard_mpw_str(w, text);
    }
}

static void
s_node(yard_mpw_t *w, yard_config_node_t node, int depth)
{
    switch (yard_config_node_kind(node)) {
    case YARD_CONFIG_SCALAR:
        s_scalar(w, yard_config_node_text(node));
        return;
    case YARD_CONFIG_LIST: {
        size_t n = depth > 16 ? 0 : yard_config_node_len(node);
        yard_mpw_array(w);
        for (size_t i = 0; i < n; i++) {
            s_node(w, yard_config_node_item(node, i), depth + 1);
        }
        yard_mpw_end(w);
        return;
    }
    case YARD_CONFIG_MAP: {
        size_t n = depth > 16 ? 0 : yard_config_node_len(node);
        yard_mpw_map(w);
        for (size_t i = 0; i < n; i++) {
            yard_config_node_t v;
            yard_mpw_key(w, yard_config_node_key(node, i, &v, NULL));
            s_node(w, v, depth + 1);
        }
        yard_mpw_end(w);
        return;
    }
    default:
        yard_mpw_nil(w);
    }
}

/* The job's definition as written by sched_job_write(), compared. */
static bool
s_same(const sched_job_t *a, const sched_job_t *b)
{
    yard_mpw_t *wa = yard_mpw_new(), *wb = yard_mpw_new();
    sched_job_write(a, wa);
    sched_job_write(b, wb);
    const void *da = NULL, *db = NULL;
    size_t na = 0, nb = 0;
    bool same = yard_mpw_finish(wa, &da, &na) == 0 && yard_mpw_finish(wb, &db, &nb) == 0 &&
                na == nb && memcmp(da, db, na) == 0;
    yard_mpw_destroy(&wa);
    yard_mpw_destroy(&wb);
    return same;
}

/* Writes the job, keeping the stored next run when the definition did not change (so a
 * restart does not forget where a job stood), else starting it afresh. Returns 0, a store
 * error, or YARD_E_BAD_REQUEST with why when a new or changed job could never fire. */
static int
s_upsert(sched_state_t *st, sched_job_t *j, char *why, size_t whylen)
{
    sched_job_t *old = NULL;
    int rc = sched_store_load(st->store, j->id, &old, NULL, 0);
    bool same = false;
    if (rc == 0) {
        j->created = old->created;
        j->paused = old->paused; /* pausing at run time survives a restart */
        if (j->kind == SCHED_INTERVAL && old->kind == SCHED_INTERVAL) {
            j->start = old->start;
        }
        same = s_same(j, old);
        sched_job_destroy(&old);
    }
    if (same) {
        return 0; /* unchanged: kept as it stands, finished or not */
    }
    /* New or changed: refused, as job.add would, when it could never fire. */
    if (sched_job_check_fires(j, sched_now(), why, whylen) != 0) {
        return YARD_E_BAD_REQUEST;
    }
    rc = sched_store_save(st->store, j, false);
    if (rc == 0) {
        rc = sched_store_next_set_ms(st->store, j->id,
                                     j->paused ? -1 : sched_job_next_ms(j, sched_now_ms()));
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
        yard_mpw_t *w = yard_mpw_new();
        s_node(w, item, 0);
        msgpack_zone zone;
        if (!msgpack_zone_init(&zone, 2048)) {
            abort();
        }
        msgpack_object o;
        const void *data = NULL;
        size_t size = 0;
        char why[200] = "";
        sched_job_t *j = NULL;
        if (yard_mpw_finish(w, &data, &size) != 0) {
            snprintf(why, sizeof why, "it does not convert: %s", yard_mpw_error(w));
        } else if (yard_mp_decode(data, size, &zone, &o, why, sizeof why) == 0) {
            sched_job_from_map(&o, sched_now(), &j, why, sizeof why);
        }
        if (j && s_upsert(st, j, why, sizeof why) == 0) {
            loaded++;
        } else if (why[0]) {
            char where[600];
            snprintf(where, sizeof where, "%s:%d: job %zu: %s", path, yard_config_node_line(item),
                     i + 1, why);
            yard_log(YARD_LOG_ERROR, "scheduler: a job in the config file is invalid; skipped",
                     YF_STR("error", where));
        }
        sched_job_destroy(&j);
        msgpack_zone_destroy(&zone);
        yard_mpw_destroy(&w);
    }
    return loaded;
}
