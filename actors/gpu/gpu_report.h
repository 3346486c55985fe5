/* What the gpu actor says about an inventory: the msgpack reports of its ops and events, the
 * node-feature-discovery labels and the Prometheus text. Every report names the node; every
 * field carries its value (or null), the source it came from and, for null, why. */
#ifndef GPU_REPORT_H
#define GPU_REPORT_H

#include "gpu_dev.h"

#include "yard/mp.h"

#include <stdint.h>

/* One device as a map: id, pci, vendor, vendor_id, device_id, class, lost, and fields
 * {name: {value, source[, why]}, ...} (fields that do not apply are left out). */
void gpu_report_device(yard_mpw_t *w, const gpu_dev_t *d);

/* The whole inventory: {node, nvml, nvml_error?, scanned_at_ms, count, truncated, gpus}. */
void gpu_report_list(yard_mpw_t *w, const char *node, const gpu_inv_t *inv, int64_t scanned_at_ms);

/* Labels in node-feature-discovery's style, as {node, labels: {key: value}, text} where text
 * is the same as "key=value" lines (NFD's local feature file format): pci-<class>_<vendor>
 * .present=true for each display class and vendor seen, gpu.count, gpu.<vendor>.count,
 * gpu.product (the first GPU's name, made a valid label value), gpu.memory (its memory in
 * MiB), gpu.driver-version, gpu.nvml. */
void gpu_report_labels(yard_mpw_t *w, const char *node, const gpu_inv_t *inv);

/* Prometheus text exposition (version 0.0.4) of the inventory: gpu_count, gpu_nvml_up,
 * gpu_info{...} 1, one gauge per readable figure, and gpu_field_unavailable{field,reason} 1
 * for each null one. Returns a NUL-terminated string (caller owns it; free with free()). */
char *gpu_report_metrics(const char *node, const gpu_inv_t *inv);

/* A label value in Kubernetes' alphabet ([A-Za-z0-9._-], at most 63 bytes, alphanumeric at
 * both ends): other characters become '-'. Writes into out (cap >= 64). */
void gpu_label_value(const char *in, char *out, size_t cap);

#endif
