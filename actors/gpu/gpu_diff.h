/* What changed between two scans of one node: GPUs added, removed, and changed in what the
 * actor reports as a change (memory total, driver or driver version, lost). Gauges (used
 * memory, temperature, ...) move all the time and are not changes: they go out as metrics. */
#ifndef GPU_DIFF_H
#define GPU_DIFF_H

#include "gpu_dev.h"

typedef enum { GPU_DIFF_ADDED, GPU_DIFF_REMOVED, GPU_DIFF_CHANGED } gpu_diff_kind_t;

/* One change. before is NULL for ADDED, after NULL for REMOVED; what is "memory", "driver"
 * or "lost" for CHANGED (NULL otherwise). Borrowed for the call. */
typedef void(gpu_diff_fn)(gpu_diff_kind_t kind, const gpu_dev_t *before, const gpu_dev_t *after,
                          const char *what, void *arg);

/* Calls fn for each change from before to after, removals first, then additions and changes
 * in after's order (PCI address). A device is the same in both when its id is, or when it
 * sits in the same PCI slot and one side was keyed by that slot (NVML came or went). */
void gpu_diff(const gpu_inv_t *before, const gpu_inv_t *after, gpu_diff_fn *fn, void *arg);

#endif
