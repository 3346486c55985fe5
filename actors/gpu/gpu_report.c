/* Reports, labels and metrics of an inventory (gpu_report.h). */
#include "gpu_report.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_hex(yard_mpw_t *w, const char *key, unsigned v, int digits)
{
    char buf[16];
    snprintf(buf, sizeof buf, "0x%0*x", digits, v);
    yard_mpw_kstr(w, key, buf);
}

static void
s_value(yard_mpw_t *w, gpu_field_id_t f, const gpu_value_t *v)
{
    if (v->state != GPU_V_OK) {
        yard_mpw_nil(w);
        return;
    }
    switch (gpu_field_type(f)) {
    case GPU_T_STR:
        yard_mpw_str(w, v->v.s);
        break;
    case GPU_T_UINT:
        yard_mpw_uint(w, v->v.u);
        break;
    case GPU_T_INT:
        yard_mpw_int(w, v->v.i);
        break;
    case GPU_T_DOUBLE:
        yard_mpw_double(w, v->v.d);
        break;
    case GPU_T_BOOL:
        yard_mpw_bool(w, v->v.b);
        break;
    }
}

void
gpu_report_device(yard_mpw_t *w, const gpu_dev_t *d)
{
    yard_mpw_map(w);
    yard_mpw_kstr(w, "id", d->id);
    yard_mpw_kstr(w, "pci", d->pci);
    yard_mpw_kstr(w, "vendor", gpu_vendor_name(d->vendor_id));
    s_hex(w, "vendor_id", d->vendor_id, 4);
    s_hex(w, "device_id", d->device_id, 4);
    s_hex(w, "class", d->class_code >> 8, 4);
    yard_mpw_kstr(w, "source", gpu_source_name(d->found_by)); /* of the identity above */
    yard_mpw_kbool(w, "lost", d->lost);
    yard_mpw_key(w, "fields");
    yard_mpw_map(w);
    for (int f = 0; f < GPU_F_COUNT; f++) {
        const gpu_value_t *v = &d->f[f];
        if (v->state == GPU_V_ABSENT) {
            continue;
        }
        yard_mpw_key(w, gpu_field_name(f));
        yard_mpw_map(w);
        yard_mpw_key(w, "value");
        s_value(w, f, v);
        yard_mpw_kstr(w, "source", gpu_source_name(v->source));
        if (v->state == GPU_V_NULL) {
            yard_mpw_kstr(w, "why", v->why);
        }
        yard_mpw_end(w);
    }
    yard_mpw_end(w);
    yard_mpw_end(w);
}

void
gpu_report_list(yard_mpw_t *w, const char *node, const gpu_inv_t *inv, int64_t scanned_at_ms)
{
    yard_mpw_map(w);
    yard_mpw_kstr(w, "node", node);
    yard_mpw_kbool(w, "nvml", inv->nvml);
    if (!inv->nvml && inv->nvml_error[0]) {
        yard_mpw_kstr(w, "nvml_error", inv->nvml_error);
    }
    yard_mpw_kint(w, "scanned_at_ms", scanned_at_ms);
    yard_mpw_kuint(w, "count", inv->n);
    yard_mpw_kbool(w, "truncated", inv->truncated);
    yard_mpw_key(w, "gpus");
    yard_mpw_array(w);
    for (size_t i = 0; i < inv->n; i++) {
        gpu_report_device(w, &inv->dev[i]);
    }
    yard_mpw_end(w);
    yard_mpw_end(w);
}

void
gpu_label_value(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; in[n] && n < 63 && n + 1 < cap; n++) {
        unsigned char c = (unsigned char)in[n];
        out[n] = (char)(isalnum(c) || c == '.' || c == '_' || c == '-' ? c : '-');
    }
    out[n] = '\0';
    while (n > 0 && !isalnum((unsigned char)out[n - 1])) {
        out[--n] = '\0'; /* a label value ends with an alphanumeric */
    }
    size_t skip = strspn(out, "._-");
    memmove(out, out + skip, strlen(out + skip) + 1);
}

/* Label collection: key=value pairs, bounded. */
#define S_LABELS_MAX 64
typedef struct {
    size_t n;
    char key[S_LABELS_MAX][64];
    char val[S_LABELS_MAX][64];
} s_labels_t;

static void
s_label(s_labels_t *l, const char *key, const char *val)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->key[i], key) == 0) {
            return; /* the first value wins (the first GPU by PCI address) */
        }
    }
    if (l->n < S_LABELS_MAX) {
        snprintf(l->key[l->n], sizeof l->key[0], "%s", key);
        snprintf(l->val[l->n], sizeof l->val[0], "%s", val);
        l->n++;
    }
}

static void
s_collect(s_labels_t *l, const gpu_inv_t *inv)
{
    char key[64], val[64];
    size_t per_vendor[3] = {0};
    static const char *const vendors[3] = {"nvidia", "amd", "intel"};
    snprintf(val, sizeof val, "%zu", inv->n);
    s_label(l, "gpu.count", val);
    for (size_t i = 0; i < inv->n; i++) {
        const gpu_dev_t *d = &inv->dev[i];
        snprintf(key, sizeof key, "pci-%04x_%04x.present", d->class_code >> 8, d->vendor_id);
        s_label(l, key, "true");
        for (int v = 0; v < 3; v++) {
            per_vendor[v] += strcmp(gpu_vendor_name(d->vendor_id), vendors[v]) == 0;
        }
        const char *name = gpu_str(d, GPU_F_NAME);
        if (name && name[0]) {
            gpu_label_value(name, val, sizeof val);
            s_label(l, "gpu.product", val);
        }
        if (d->f[GPU_F_MEMORY_TOTAL].state == GPU_V_OK) {
            snprintf(val, sizeof val, "%llu",
                     (unsigned long long)(d->f[GPU_F_MEMORY_TOTAL].v.u / (1024 * 1024)));
            s_label(l, "gpu.memory", val);
        }
        const char *ver = gpu_str(d, GPU_F_DRIVER_VERSION);
        if (ver) {
            gpu_label_value(ver, val, sizeof val);
            s_label(l, "gpu.driver-version", val);
        }
    }
    for (int v = 0; v < 3; v++) {
        if (per_vendor[v] > 0) {
            snprintf(key, sizeof key, "gpu.%s.count", vendors[v]);
            snprintf(val, sizeof val, "%zu", per_vendor[v]);
            s_label(l, key, val);
        }
    }
    s_label(l, "gpu.nvml", inv->nvml ? "true" : "false");
}

void
gpu_report_labels(yard_mpw_t *w, const char *node, const gpu_inv_t *inv)
{
    s_labels_t *l = calloc(1, sizeof *l);
    if (!l) {
        abort();
    }
    s_collect(l, inv);
    char text[S_LABELS_MAX * 130 + 1];
    size_t len = 0;
    yard_mpw_map(w);
    yard_mpw_kstr(w, "node", node);
    yard_mpw_key(w, "labels");
    yard_mpw_map(w);
    for (size_t i = 0; i < l->n; i++) {
        yard_mpw_kstr(w, l->key[i], l->val[i]);
        len += (size_t)snprintf(text + len, sizeof text - len, "%s=%s\n", l->key[i], l->val[i]);
    }
    yard_mpw_end(w);
    yard_mpw_kstr(w, "text", text);
    yard_mpw_end(w);
    free(l);
}

/* A growing text buffer for the metrics; allocation failure aborts, as everywhere. */
typedef struct {
    char *p;
    size_t len, cap;
} s_buf_t;

static void __attribute__((format(printf, 2, 3))) s_printf(s_buf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0);
        char *np = realloc(b->p, b->cap);
        if (!np) {
            abort();
        }
        b->p = np;
    }
}

/* A label value escaped for the exposition format (backslash, quote, newline). */
static void
s_esc(s_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            s_printf(b, "\\%c", *s);
        } else if (*s == '\n') {
            s_printf(b, "\\n");
        } else {
            s_printf(b, "%c", *s);
        }
    }
}

static void
s_ids(s_buf_t *b, const char *node, const gpu_dev_t *d)
{
    s_printf(b, "node=\"");
    s_esc(b, node);
    s_printf(b, "\",id=\"");
    s_esc(b, d->id);
    s_printf(b, "\",pci=\"%s\"", d->pci);
}

static void
s_gauge(s_buf_t *b, const char *node, const gpu_inv_t *inv, gpu_field_id_t f)
{
    bool header = false;
    for (size_t i = 0; i < inv->n; i++) {
        const gpu_value_t *v = &inv->dev[i].f[f];
        if (v->state != GPU_V_OK) {
            continue;
        }
        if (!header) {
            s_printf(b, "# TYPE %s gauge\n", gpu_field_metric(f));
            header = true;
        }
        s_printf(b, "%s{", gpu_field_metric(f));
        s_ids(b, node, &inv->dev[i]);
        switch (gpu_field_type(f)) {
        case GPU_T_DOUBLE:
            s_printf(b, "} %.15g\n", v->v.d);
            break;
        case GPU_T_INT:
            s_printf(b, "} %lld\n", (long long)v->v.i);
            break;
        default:
            s_printf(b, "} %llu\n", (unsigned long long)v->v.u);
            break;
        }
    }
}

static void
s_info(s_buf_t *b, const char *node, const gpu_inv_t *inv)
{
    s_printf(b, "# HELP gpu_info The GPUs found (always 1), with what identifies them.\n"
                "# TYPE gpu_info gauge\n");
    for (size_t i = 0; i < inv->n; i++) {
        const gpu_dev_t *d = &inv->dev[i];
        const char *name = gpu_str(d, GPU_F_NAME), *drv = gpu_str(d, GPU_F_DRIVER);
        s_printf(b, "gpu_info{");
        s_ids(b, node, d);
        s_printf(b, ",vendor=\"%s\",device_id=\"0x%04x\",name=\"", gpu_vendor_name(d->vendor_id),
                 d->device_id);
        s_esc(b, name ? name : "");
        s_printf(b, "\",driver=\"");
        s_esc(b, drv ? drv : "");
        s_printf(b, "\"} 1\n");
    }
    s_printf(b, "# HELP gpu_lost 1 when the GPU fell off the bus (NVML GPU_IS_LOST).\n"
                "# TYPE gpu_lost gauge\n");
    for (size_t i = 0; i < inv->n; i++) {
        s_printf(b, "gpu_lost{");
        s_ids(b, node, &inv->dev[i]);
        s_printf(b, "} %d\n", inv->dev[i].lost ? 1 : 0);
    }
}

static void
s_unavailable(s_buf_t *b, const char *node, const gpu_inv_t *inv)
{
    s_printf(b, "# HELP gpu_field_unavailable A field that applies but could not be read, and "
                "why.\n# TYPE gpu_field_unavailable gauge\n");
    for (size_t i = 0; i < inv->n; i++) {
        for (int f = 0; f < GPU_F_COUNT; f++) {
            const gpu_value_t *v = &inv->dev[i].f[f];
            if (v->state != GPU_V_NULL) {
                continue;
            }
            s_printf(b, "gpu_field_unavailable{");
            s_ids(b, node, &inv->dev[i]);
            s_printf(b, ",field=\"%s\",source=\"%s\",reason=\"%s\"} 1\n", gpu_field_name(f),
                     gpu_source_name(v->source), v->why);
        }
    }
}

char *
gpu_report_metrics(const char *node, const gpu_inv_t *inv)
{
    s_buf_t b = {malloc(4096), 0, 4096};
    if (!b.p) {
        abort();
    }
    b.p[0] = '\0';
    s_printf(&b, "# HELP gpu_count GPUs found on the node.\n# TYPE gpu_count gauge\n");
    s_printf(&b, "gpu_count{node=\"");
    s_esc(&b, node);
    s_printf(&b, "\"} %zu\n", inv->n);
    s_printf(&b, "# HELP gpu_nvml_up 1 when NVML is loaded and initialised.\n"
                 "# TYPE gpu_nvml_up gauge\ngpu_nvml_up{node=\"");
    s_esc(&b, node);
    s_printf(&b, "\"} %d\n", inv->nvml ? 1 : 0);
    s_info(&b, node, inv);
    for (int f = 0; f < GPU_F_COUNT; f++) {
        if (gpu_field_metric(f)) {
            s_gauge(&b, node, inv, f);
        }
    }
    s_unavailable(&b, node, inv);
    return b.p;
}
