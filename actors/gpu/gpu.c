/* gpu: GPU inventory and health for NVIDIA, AMD and Intel on one node (issue 15).
 *
 * Each replica scans on demand; the one replica per node that holds the lease
 * "gpu:detector:<node>" also scans every `interval` and publishes what changed (gpu.added,
 * gpu.removed, gpu.changed) the moment a scan sees it, and the figures (gpu.metrics) every
 * interval. A scan is sysfs discovery (gpu_sysfs.h), then NVML for NVIDIA (gpu_nvml.h), or
 * NVIDIA's procfs when NVML is not there (gpu_procfs.h). Every report names the node. */
#include "gpu_diff.h"
#include "gpu_dev.h"
#include "gpu_nvml.h"
#include "gpu_procfs.h"
#include "gpu_report.h"
#include "gpu_sysfs.h"

#include "yard/error.h"
#include "yard/lease.h"
#include "yard/log.h"
#include "yard/mp.h"
#include "yard/registry.h"
#include "yard/timer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The detector lease's time to live: a crashed detector's node is picked up by another
 * process within this (the runtime renews at a third of it). */
#define GPU_LEASE_TTL_MS 15000u
/* The longest node name (a hostname is at most 64; Kubernetes node names 253). */
#define GPU_NODE_MAX 253

typedef struct {
    uint32_t interval_ms;
    uint32_t watch_ms;
    char *sysfs_root;
    char *procfs_root;
    char *nvml_lib;
    char *node;
} gpu_opts_t;

static const yard_option_t s_options[] = {
    {"interval", YARD_OPT_MS, "60s", offsetof(gpu_opts_t, interval_ms),
     "how often the node's detector scans and publishes gpu.metrics", 1000, 86400000, 0},
    {"watch", YARD_OPT_MS, "5s", offsetof(gpu_opts_t, watch_ms),
     "how often the detector looks for GPUs added, removed or rebound in sysfs (0: only at "
     "each interval)",
     0, 3600000, 0},
    {"sysfs_root", YARD_OPT_STRING, "/sys", offsetof(gpu_opts_t, sysfs_root),
     "where sysfs is mounted (tests point it at a fixture tree)", 0, 0, 0},
    {"procfs_root", YARD_OPT_STRING, "/proc", offsetof(gpu_opts_t, procfs_root),
     "where procfs is mounted (NVIDIA's fallback without NVML)", 0, 0, 0},
    {"nvml_lib", YARD_OPT_STRING, "libnvidia-ml.so.1", offsetof(gpu_opts_t, nvml_lib),
     "NVML library loaded with dlopen at run time; empty: do not use NVML", 0, 0, 0},
    {"node", YARD_OPT_STRING, "", offsetof(gpu_opts_t, node),
     "the node's name in reports and in the detector lease; empty: the hostname", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, 0, 0, 0},
};

typedef struct {
    char node[GPU_NODE_MAX + 1];
    char lease_name[GPU_NODE_MAX + 32];
    gpu_nvml_t *nvml;
    char nvml_error[160];
    gpu_inv_t *inv;  /* the last scan's result */
    gpu_inv_t *next; /* scratch for the scan under way */
    gpu_inv_t *seen; /* scratch for the watch's sysfs-only look */
    bool scanned;    /* inv holds a scan */
    char scan_error[256];
    int64_t scanned_at_ms; /* wall clock */
    int64_t scanned_mono;  /* monotonic, for freshness */
    bool leader;
    bool announce; /* the detector's first scan tells every GPU as gpu.added */
    yard_timer_t *every;
    yard_timer_t *watch;
    yard_ctx_t *ctx;
} gpu_state_t;

/* --- scanning ------------------------------------------------------------------------------- */

static void
s_nvml_ensure(gpu_state_t *st, const gpu_opts_t *o)
{
    if (st->nvml || !o->nvml_lib || !o->nvml_lib[0]) {
        if (!o->nvml_lib || !o->nvml_lib[0]) {
            snprintf(st->nvml_error, sizeof st->nvml_error, "nvml_lib is empty (NVML off)");
        }
        return;
    }
    char err[160];
    if (gpu_nvml_open(o->nvml_lib, &st->nvml, err, sizeof err) != 0) {
        if (strcmp(err, st->nvml_error) != 0) {
            yard_log(YARD_LOG_INFO, "gpu: NVML not used, NVIDIA GPUs fall back to procfs",
                     YF_STR("reason", err));
        }
        snprintf(st->nvml_error, sizeof st->nvml_error, "%s", err);
        return;
    }
    st->nvml_error[0] = '\0';
    yard_log(YARD_LOG_INFO, "gpu: NVML loaded", YF_STR("lib", o->nvml_lib));
}

/* Scans into st->next. Returns 0, or the sysfs error (st->scan_error says why). */
static int
s_scan_into(gpu_state_t *st, const gpu_opts_t *o)
{
    gpu_inv_t *inv = st->next;
    memset(inv, 0, sizeof *inv);
    int rc = gpu_sysfs_scan(o->sysfs_root, inv, st->scan_error, sizeof st->scan_error);
    if (rc != 0) {
        yard_log(YARD_LOG_WARN, "gpu: scan failed", YF_STR("reason", st->scan_error));
        return rc;
    }
    st->scan_error[0] = '\0';
    s_nvml_ensure(st, o);
    if (st->nvml) {
        gpu_nvml_fill(st->nvml, inv);
    }
    gpu_procfs_fill(o->procfs_root, inv, st->nvml ? "not_listed_by_nvml" : "nvml_unavailable");
    inv->nvml = st->nvml != NULL;
    snprintf(inv->nvml_error, sizeof inv->nvml_error, "%s", st->nvml ? "" : st->nvml_error);
    return 0;
}

static void
s_publish(gpu_state_t *st, const char *subject, yard_mpw_t **w_p)
{
    const void *data;
    size_t size;
    if (yard_mpw_finish(*w_p, &data, &size) == 0) {
        int rc = yard_ctx_publish(st->ctx, subject, data, size);
        if (rc != 0) {
            yard_log(YARD_LOG_WARN, "gpu: event not published", YF_STR("subject", subject),
                     YF_STR("error", yard_err_name(rc)));
        }
    }
    yard_mpw_destroy(w_p);
}

static void
s_changed_value(yard_mpw_t *w, const char *key, const gpu_dev_t *d, const char *what)
{
    yard_mpw_key(w, key);
    if (strcmp(what, "lost") == 0) {
        yard_mpw_bool(w, d->lost);
        return;
    }
    if (strcmp(what, "memory") == 0) {
        const gpu_value_t *v = &d->f[GPU_F_MEMORY_TOTAL];
        if (v->state == GPU_V_OK) {
            yard_mpw_uint(w, v->v.u);
        } else {
            yard_mpw_nil(w);
        }
        return;
    }
    yard_mpw_map(w); /* driver: the module bound and its version */
    yard_mpw_kstr(w, "driver", gpu_str(d, GPU_F_DRIVER));
    yard_mpw_kstr(w, "version", gpu_str(d, GPU_F_DRIVER_VERSION));
    yard_mpw_end(w);
}

static void
s_on_diff(gpu_diff_kind_t kind, const gpu_dev_t *before, const gpu_dev_t *after, const char *what,
          void *arg)
{
    gpu_state_t *st = arg;
    yard_mpw_t *w = yard_mpw_new();
    const gpu_dev_t *d = after ? after : before;
    yard_mpw_map(w);
    yard_mpw_kstr(w, "node", st->node);
    yard_mpw_kstr(w, "id", d->id);
    yard_mpw_kstr(w, "pci", d->pci);
    if (kind == GPU_DIFF_CHANGED) {
        yard_mpw_kstr(w, "what", what);
        s_changed_value(w, "from", before, what);
        s_changed_value(w, "to", after, what);
    }
    yard_mpw_key(w, "gpu");
    gpu_report_device(w, d);
    yard_mpw_end(w);
    s_publish(st,
              kind == GPU_DIFF_ADDED     ? "gpu.added"
              : kind == GPU_DIFF_REMOVED ? "gpu.removed"
                                         : "gpu.changed",
              &w);
    yard_log(YARD_LOG_INFO, "gpu: inventory changed", YF_STR("id", d->id), YF_STR("pci", d->pci),
             YF_STR("change", kind == GPU_DIFF_ADDED     ? "added"
                              : kind == GPU_DIFF_REMOVED ? "removed"
                                                         : what));
}

/* gpu.metrics: the gauges of every GPU (null where unreadable). */
static void
s_publish_metrics(gpu_state_t *st)
{
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "node", st->node);
    yard_mpw_kint(w, "scanned_at_ms", st->scanned_at_ms);
    yard_mpw_key(w, "gpus");
    yard_mpw_array(w);
    for (size_t i = 0; i < st->inv->n; i++) {
        const gpu_dev_t *d = &st->inv->dev[i];
        yard_mpw_map(w);
        yard_mpw_kstr(w, "id", d->id);
        yard_mpw_kstr(w, "pci", d->pci);
        yard_mpw_kbool(w, "lost", d->lost);
        for (int f = 0; f < GPU_F_COUNT; f++) {
            const gpu_value_t *v = &d->f[f];
            if (!gpu_field_metric(f) || v->state == GPU_V_ABSENT) {
                continue;
            }
            yard_mpw_key(w, gpu_field_name(f));
            if (v->state != GPU_V_OK) {
                yard_mpw_nil(w);
            } else if (gpu_field_type(f) == GPU_T_DOUBLE) {
                yard_mpw_double(w, v->v.d);
            } else {
                yard_mpw_uint(w, v->v.u);
            }
        }
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    yard_mpw_end(w);
    s_publish(st, "gpu.metrics", &w);
}

/* Scans now; the node's detector (the lease holder) publishes the changes, and the metrics
 * when metrics is true. Returns 0 or the scan's error (the last inventory stays). */
static int
s_scan(gpu_state_t *st, bool metrics)
{
    const gpu_opts_t *o = yard_ctx_options(st->ctx);
    int rc = s_scan_into(st, o);
    if (rc != 0) {
        return rc;
    }
    if (st->leader) {
        static const gpu_inv_t empty;
        gpu_diff(st->scanned && !st->announce ? st->inv : &empty, st->next, s_on_diff, st);
        st->announce = false;
    }
    gpu_inv_t *t = st->inv;
    st->inv = st->next;
    st->next = t;
    st->scanned = true;
    st->scanned_at_ms = yard_ctx_wall_ms(st->ctx);
    st->scanned_mono = yard_ctx_now_ms(st->ctx);
    if (st->leader && metrics) {
        s_publish_metrics(st);
    }
    return 0;
}

static void
s_tick(yard_ctx_t *ctx, void *arg)
{
    (void)arg;
    gpu_state_t *st = yard_ctx_state(ctx);
    if (st->leader) {
        (void)s_scan(st, true);
    }
}

/* True when seen (a sysfs-only look) lists the same PCI slots with the same drivers bound as
 * the sysfs-found GPUs of inv (both are ordered; a GPU only NVML listed is not in seen). */
static bool
s_same_devices(const gpu_inv_t *seen, const gpu_inv_t *inv)
{
    size_t j = 0;
    for (size_t i = 0; i < inv->n; i++) {
        const gpu_dev_t *a = &inv->dev[i];
        if (a->found_by != GPU_SRC_SYSFS) {
            continue;
        }
        if (j == seen->n) {
            return false;
        }
        const gpu_dev_t *b = &seen->dev[j++];
        const char *da = gpu_str(a, GPU_F_DRIVER), *db = gpu_str(b, GPU_F_DRIVER);
        if (strcmp(a->pci, b->pci) != 0 || (da == NULL) != (db == NULL) ||
            (da && strcmp(da, db) != 0)) {
            return false;
        }
    }
    return j == seen->n;
}

/* The watch: a sysfs-only look (no NVML call), and a full scan, publishing what changed, as
 * soon as a GPU was added, removed or rebound, without waiting for the interval. */
static void
s_watch(yard_ctx_t *ctx, void *arg)
{
    (void)arg;
    gpu_state_t *st = yard_ctx_state(ctx);
    const gpu_opts_t *o = yard_ctx_options(ctx);
    char err[256];
    if (!st->leader || !st->scanned) {
        return;
    }
    memset(st->seen, 0, sizeof *st->seen);
    if (gpu_sysfs_scan(o->sysfs_root, st->seen, err, sizeof err) == 0 &&
        !s_same_devices(st->seen, st->inv)) {
        (void)s_scan(st, false);
    }
}

static void
s_lease_change(yard_ctx_t *ctx, yard_lease_t *lease, bool held, void *arg)
{
    (void)lease;
    (void)arg;
    gpu_state_t *st = yard_ctx_state(ctx);
    const gpu_opts_t *o = yard_ctx_options(ctx);
    st->leader = held;
    st->announce = held;
    yard_timer_cancel(&st->every);
    yard_timer_cancel(&st->watch);
    yard_log(YARD_LOG_INFO, held ? "gpu: detector for this node" : "gpu: detector lease lost",
             YF_STR("node", st->node));
    if (!held) {
        return;
    }
    st->every = yard_timer_every(ctx, o->interval_ms, 0, s_tick, NULL);
    if (o->watch_ms > 0) {
        st->watch = yard_timer_every(ctx, o->watch_ms, 0, s_watch, NULL);
    }
    /* The first scan at once, on the loop's next turn (publishing needs the broker links). */
    (void)yard_timer_at(ctx, yard_ctx_wall_ms(ctx), s_tick, NULL);
}

/* --- ops ------------------------------------------------------------------------------------ */

/* A replica that is not the node's detector scans when its view is older than an interval. */
static int
s_fresh(yard_request_t *req, gpu_state_t *st)
{
    const gpu_opts_t *o = yard_request_options(req);
    bool stale = !st->scanned ||
                 (!st->leader && yard_ctx_now_ms(st->ctx) - st->scanned_mono >= o->interval_ms);
    if (stale && s_scan(st, false) != 0 && !st->scanned) {
        return yard_request_fail(req, YARD_E_IO, NULL, st->scan_error);
    }
    return 0;
}

static int
s_list(yard_request_t *req, void *state)
{
    gpu_state_t *st = state;
    int rc = s_fresh(req, st);
    if (rc != 0 || !st->scanned) {
        return rc;
    }
    yard_mpw_t *w = yard_mpw_new();
    gpu_report_list(w, st->node, st->inv, st->scanned_at_ms);
    return yard_request_reply_mpw(req, &w);
}

static int
s_get(yard_request_t *req, void *state)
{
    gpu_state_t *st = state;
    const char *id;
    int rc = yard_req_str_max(req, "id", GPU_STR_MAX - 1, &id);
    if (rc != 0) {
        return rc;
    }
    if ((rc = s_fresh(req, st)) != 0 || !st->scanned) {
        return rc;
    }
    const gpu_dev_t *d = gpu_inv_find(st->inv, id);
    if (!d) {
        char text[GPU_STR_MAX + GPU_NODE_MAX + 64];
        snprintf(text, sizeof text, "no GPU with id or PCI slot '%s' on node %s", id, st->node);
        return yard_request_fail(req, YARD_E_NOT_FOUND, NULL, text);
    }
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_map(w);
    yard_mpw_kstr(w, "node", st->node);
    yard_mpw_key(w, "gpu");
    gpu_report_device(w, d);
    yard_mpw_end(w);
    return yard_request_reply_mpw(req, &w);
}

static int
s_labels(yard_request_t *req, void *state)
{
    gpu_state_t *st = state;
    int rc = s_fresh(req, st);
    if (rc != 0 || !st->scanned) {
        return rc;
    }
    yard_mpw_t *w = yard_mpw_new();
    gpu_report_labels(w, st->node, st->inv);
    return yard_request_reply_mpw(req, &w);
}

static int
s_metrics(yard_request_t *req, void *state)
{
    gpu_state_t *st = state;
    int rc = s_fresh(req, st);
    if (rc != 0 || !st->scanned) {
        return rc;
    }
    /* one string with its content type: the gateway serves it as it is, so a route to this
     * op is a Prometheus scrape target (docs/gateway.md, non-JSON replies) */
    char *text = gpu_report_metrics(st->node, st->inv);
    yard_request_set_header(req, "http.header.Content-Type", "text/plain; version=0.0.4");
    yard_mpw_t *w = yard_mpw_new();
    yard_mpw_str(w, text);
    free(text);
    return yard_request_reply_mpw(req, &w);
}

/* scan: now, e.g. from a udev rule on hot-plug; the detector publishes what changed. */
static int
s_scan_op(yard_request_t *req, void *state)
{
    gpu_state_t *st = state;
    if (s_scan(st, false) != 0) {
        return yard_request_fail(req, YARD_E_IO, NULL, st->scan_error);
    }
    return s_list(req, state);
}

/* --- lifecycle ------------------------------------------------------------------------------ */

static int
s_node_name(gpu_state_t *st, const gpu_opts_t *o)
{
    if (o->node && o->node[0]) {
        if (strlen(o->node) > GPU_NODE_MAX) {
            yard_log(YARD_LOG_ERROR, "gpu: node is longer than 253 bytes");
            return YARD_E_CONFIG;
        }
        snprintf(st->node, sizeof st->node, "%s", o->node);
        return 0;
    }
    if (gethostname(st->node, sizeof st->node - 1) != 0 || !st->node[0]) {
        yard_log(YARD_LOG_ERROR, "gpu: no hostname: set gpu.node");
        return YARD_E_CONFIG;
    }
    return 0;
}

static int
s_init(void *state, const yard_actor_env_t *env)
{
    gpu_state_t *st = state;
    const gpu_opts_t *o = env->options;
    int rc = s_node_name(st, o);
    if (rc != 0) {
        return rc;
    }
    st->ctx = env->ctx;
    st->inv = calloc(1, sizeof *st->inv);
    st->next = calloc(1, sizeof *st->next);
    st->seen = calloc(1, sizeof *st->seen);
    if (!st->inv || !st->next || !st->seen) {
        abort();
    }
    s_nvml_ensure(st, o); /* nvmlInit once, here; nvmlShutdown in fini */
    snprintf(st->lease_name, sizeof st->lease_name, "gpu:detector:%s", st->node);
    rc = yard_ctx_lease(env->ctx, st->lease_name, GPU_LEASE_TTL_MS, s_lease_change, NULL, NULL);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "gpu: detector lease refused", YF_STR("error", yard_err_name(rc)));
        gpu_nvml_destroy(&st->nvml);
        free(st->inv);
        free(st->next);
        free(st->seen);
        st->inv = st->next = st->seen = NULL;
    }
    return rc;
}

static void
s_fini(void *state)
{
    gpu_state_t *st = state;
    yard_timer_cancel(&st->every);
    gpu_nvml_destroy(&st->nvml);
    free(st->inv);
    free(st->next);
    free(st->seen);
    st->inv = st->next = st->seen = NULL;
}

static const yard_handler_def_t s_handlers[] = {
    {"list", s_list, "the node's GPUs, every field with its value, source and why it is null"},
    {"get", s_get, "one GPU {id}: its UUID or PCI slot"},
    {"labels", s_labels, "node-feature-discovery style labels (pci-0302_10de.present, ...)"},
    {"metrics", s_metrics, "Prometheus text of the inventory and its figures"},
    {"scan", s_scan_op, "scans now (the detector publishes what changed) and lists"},
    {NULL, NULL, NULL},
};

const yard_actor_def_t yard_actor_gpu = {
    .name = "gpu",
    .description = "GPU inventory and health (NVIDIA via NVML, AMD, Intel) for one node",
    .handlers = s_handlers,
    .options = s_options,
    .options_size = sizeof(gpu_opts_t),
    .state_size = sizeof(gpu_state_t),
    .init = s_init,
    .fini = s_fini,
};
