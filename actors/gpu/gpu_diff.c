/* Inventory changes between two scans (gpu_diff.h). */
#include "gpu_diff.h"

#include <string.h>

static bool
s_same(const gpu_dev_t *a, const gpu_dev_t *b)
{
    if (strcmp(a->id, b->id) == 0) {
        return true;
    }
    return strcmp(a->pci, b->pci) == 0 &&
           (strcmp(a->id, a->pci) == 0 || strcmp(b->id, b->pci) == 0);
}

static const gpu_dev_t *
s_match(const gpu_inv_t *inv, const gpu_dev_t *d)
{
    for (size_t i = 0; i < inv->n; i++) {
        if (s_same(&inv->dev[i], d)) {
            return &inv->dev[i];
        }
    }
    return NULL;
}

static bool
s_value_eq(const gpu_value_t *a, const gpu_value_t *b, gpu_vtype_t t)
{
    if (a->state != b->state) {
        return false;
    }
    if (a->state != GPU_V_OK) {
        return true;
    }
    return t == GPU_T_STR ? strcmp(a->v.s, b->v.s) == 0 : a->v.u == b->v.u;
}

static void
s_changes(const gpu_dev_t *b, const gpu_dev_t *a, gpu_diff_fn *fn, void *arg)
{
    if (b->lost != a->lost) {
        fn(GPU_DIFF_CHANGED, b, a, "lost", arg); /* its other figures went null with it */
        return;
    }
    if (!s_value_eq(&b->f[GPU_F_MEMORY_TOTAL], &a->f[GPU_F_MEMORY_TOTAL], GPU_T_UINT)) {
        fn(GPU_DIFF_CHANGED, b, a, "memory", arg);
    }
    if (!s_value_eq(&b->f[GPU_F_DRIVER], &a->f[GPU_F_DRIVER], GPU_T_STR) ||
        !s_value_eq(&b->f[GPU_F_DRIVER_VERSION], &a->f[GPU_F_DRIVER_VERSION], GPU_T_STR)) {
        fn(GPU_DIFF_CHANGED, b, a, "driver", arg);
    }
}

void
gpu_diff(const gpu_inv_t *before, const gpu_inv_t *after, gpu_diff_fn *fn, void *arg)
{
    for (size_t i = 0; i < before->n; i++) {
        if (!s_match(after, &before->dev[i])) {
            fn(GPU_DIFF_REMOVED, &before->dev[i], NULL, NULL, arg);
        }
    }
    for (size_t i = 0; i < after->n; i++) {
        const gpu_dev_t *b = s_match(before, &after->dev[i]);
        if (!b) {
            fn(GPU_DIFF_ADDED, NULL, &after->dev[i], NULL, arg);
        } else {
            s_changes(b, &after->dev[i], fn, arg);
        }
    }
}
