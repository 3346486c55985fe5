/* The scheduler's keys in the state store (layout in sched_internal.h). */
#include "sched_internal.h"
#include "timetext.h"

#include "yard/error.h"
#include "yard/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
sched_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
sched_now(void)
{
    return sched_now_ms() / 1000;
}

static void
s_key(char *buf, size_t cap, const char *kind, const char *id)
{
    snprintf(buf, cap, "sched:%s:%s", kind, id);
}

int
sched_store_load(yard_store_t *st, const char *id, sched_job_t **out, char *why, size_t whylen)
{
    char key[128], *val = NULL, local[200];
    size_t len = 0;
    if (!why || whylen == 0) {
        why = local;
        whylen = sizeof local;
    }
    s_key(key, sizeof key, "job", id);
    int rc = yard_store_get(st, key, &val, &len);
    if (rc != 0) {
        return rc;
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 2048)) {
        abort();
    }
    msgpack_object o;
    rc = yard_mp_decode(val, len, &zone, &o, why, whylen) == 0 &&
                 sched_job_from_map(&o, sched_now(), out, why, whylen) == 0
             ? 0
             : YARD_E_INTERNAL;
    msgpack_zone_destroy(&zone);
    free(val);
    return rc;
}

int
sched_store_save(yard_store_t *st, const sched_job_t *j, bool create)
{
    yard_mpw_t *w = yard_mpw_new();
    sched_job_write(j, w);
    char key[128];
    s_key(key, sizeof key, "job", j->id);
    const void *rec = NULL;
    size_t size = 0;
    int rc = yard_mpw_finish(w, &rec, &size);
    if (rc == 0) {
        rc = create ? yard_store_set_nx(st, key, rec, size, 0)
                    : yard_store_set(st, key, rec, size, 0);
    }
    yard_mpw_destroy(&w);
    if (rc < 0) {
        return rc;
    }
    if (create && rc == 0) {
        return 1;
    }
    rc = yard_store_sadd(st, "sched:jobs", j->id);
    return rc < 0 ? rc : 0;
}

int
sched_store_remove(yard_store_t *st, const char *id)
{
    char key[128];
    s_key(key, sizeof key, "job", id);
    int rc = yard_store_del(st, key);
    if (rc < 0) {
        return rc;
    }
    yard_store_srem(st, "sched:jobs", id);
    s_key(key, sizeof key, "next", id);
    yard_store_del(st, key);
    s_key(key, sizeof key, "hist", id);
    yard_store_del(st, key);
    return rc == 1 ? 0 : YARD_E_NOT_FOUND;
}

int
sched_store_next_get_ms(yard_store_t *st, const char *id, int64_t *next)
{
    char key[128], *val = NULL;
    size_t len = 0;
    *next = 0;
    s_key(key, sizeof key, "next", id);
    int rc = yard_store_get(st, key, &val, &len);
    if (rc == YARD_E_NOT_FOUND) {
        return 0;
    }
    if (rc == 0) {
        /* Unreadable text reads as unknown: the runner then starts the job from now. */
        if (strlen(val) != len || sched_run_time_parse(val, next) != 0) {
            *next = 0;
        }
        free(val);
    }
    return rc;
}

int
sched_store_next_set_ms(yard_store_t *st, const char *id, int64_t next)
{
    char key[128], val[32];
    s_key(key, sizeof key, "next", id);
    sched_run_time_format(next, val, sizeof val);
    return yard_store_set(st, key, val, strlen(val), 0);
}

static int
s_cmp_id(const void *a, const void *b)
{
    const sched_job_t *const *x = a, *const *y = b;
    return strcmp((*x)->id, (*y)->id);
}

int
sched_store_jobs(yard_store_t *st, sched_job_t ***jobs, size_t *n, sched_bad_job_fn on_bad,
                 void *arg)
{
    *jobs = NULL;
    *n = 0;
    char **ids = NULL;
    size_t count = 0;
    int rc = yard_store_smembers(st, "sched:jobs", &ids, &count);
    if (rc != 0) {
        return rc;
    }
    sched_job_t **out = calloc(count ? count : 1, sizeof *out);
    if (!out) {
        abort();
    }
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        char why[200] = "";
        int lrc = sched_store_load(st, ids[i], &out[k], why, sizeof why);
        if (lrc == 0) {
            k++;
        } else if (lrc == YARD_E_INTERNAL && on_bad) {
            on_bad(ids[i], why, arg); /* unreadable: skipped; removed meanwhile: skipped */
        }
    }
    yard_store_members_free(&ids);
    qsort(out, k, sizeof *out, s_cmp_id);
    *jobs = out;
    *n = k;
    return 0;
}

void
sched_store_jobs_free(sched_job_t ***jobs, size_t n)
{
    for (size_t i = 0; *jobs && i < n; i++) {
        sched_job_destroy(&(*jobs)[i]);
    }
    free(*jobs);
    *jobs = NULL;
}

int
sched_store_history_add(yard_store_t *st, const char *id, const void *rec, size_t len, int64_t max)
{
    char key[128], *val = NULL;
    size_t vlen = 0;
    s_key(key, sizeof key, "hist", id);
    int rc = yard_store_get(st, key, &val, &vlen);
    if (rc != 0 && rc != YARD_E_NOT_FOUND) {
        return rc;
    }
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 4096)) {
        abort();
    }
    msgpack_object hist;
    const msgpack_object_array *old = NULL;
    if (val && yard_mp_decode(val, vlen, &zone, &hist, NULL, 0) == 0 &&
        hist.type == MSGPACK_OBJECT_ARRAY) {
        old = &hist.via.array;
    }
    /* Newest first: the new record, then the old ones up to max. */
    uint32_t keep = old ? old->size : 0;
    if (keep > max - 1) {
        keep = (uint32_t)(max - 1);
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_array(w);
    yard_mpw_raw(w, rec, len);
    for (uint32_t i = 0; i < keep; i++) {
        yard_mpw_object(w, &old->ptr[i]);
    }
    yard_mpw_end(w);
    const void *data = NULL;
    size_t size = 0;
    rc = yard_mpw_finish(w, &data, &size);
    if (rc == 0) {
        rc = yard_store_set(st, key, data, size, 0);
    }
    yard_mpw_destroy(&w);
    msgpack_zone_destroy(&zone);
    free(val);
    return rc;
}

int
sched_store_history(yard_store_t *st, const char *id, char **out, size_t *len)
{
    char key[128];
    s_key(key, sizeof key, "hist", id);
    int rc = yard_store_get(st, key, out, len);
    if (rc == YARD_E_NOT_FOUND) {
        *out = strdup("\x90"); /* [] */
        *len = 1;
        return *out ? 0 : YARD_E_INTERNAL;
    }
    return rc;
}
