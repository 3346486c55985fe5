/* The inventory's field table and helpers (gpu_dev.h). */
#include "gpu_dev.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    gpu_vtype_t type;
    const char *metric; /* Prometheus gauge, NULL: none */
} gpu_field_def_t;

static const gpu_field_def_t s_fields[GPU_F_COUNT] = {
    [GPU_F_NAME] = {"name", GPU_T_STR, NULL},
    [GPU_F_UUID] = {"uuid", GPU_T_STR, NULL},
    [GPU_F_SERIAL] = {"serial", GPU_T_STR, NULL},
    [GPU_F_PCI_BUS_ID] = {"pci_bus_id", GPU_T_STR, NULL},
    [GPU_F_DRIVER] = {"driver", GPU_T_STR, NULL},
    [GPU_F_DRIVER_VERSION] = {"driver_version", GPU_T_STR, NULL},
    [GPU_F_NVML_VERSION] = {"nvml_version", GPU_T_STR, NULL},
    [GPU_F_VBIOS] = {"vbios", GPU_T_STR, NULL},
    [GPU_F_MEMORY_TOTAL] = {"memory_total", GPU_T_UINT, "gpu_memory_total_bytes"},
    [GPU_F_MEMORY_USED] = {"memory_used", GPU_T_UINT, "gpu_memory_used_bytes"},
    [GPU_F_MEMORY_FREE] = {"memory_free", GPU_T_UINT, "gpu_memory_free_bytes"},
    [GPU_F_UTIL_GPU] = {"utilization_gpu", GPU_T_UINT, "gpu_utilization_percent"},
    [GPU_F_UTIL_MEMORY] = {"utilization_memory", GPU_T_UINT, "gpu_memory_utilization_percent"},
    [GPU_F_TEMPERATURE] = {"temperature", GPU_T_DOUBLE, "gpu_temperature_celsius"},
    [GPU_F_POWER] = {"power", GPU_T_DOUBLE, "gpu_power_watts"},
    [GPU_F_FAN] = {"fan", GPU_T_UINT, "gpu_fan_percent"},
    [GPU_F_MIG_MODE] = {"mig_mode", GPU_T_BOOL, NULL},
    [GPU_F_MIG_PENDING] = {"mig_mode_pending", GPU_T_BOOL, NULL},
    [GPU_F_FREQ] = {"frequency", GPU_T_UINT, "gpu_frequency_mhz"},
    [GPU_F_FREQ_MAX] = {"frequency_max", GPU_T_UINT, "gpu_frequency_max_mhz"},
    [GPU_F_NUMA_NODE] = {"numa_node", GPU_T_INT, NULL},
    [GPU_F_LINK_SPEED] = {"pcie_link_speed", GPU_T_STR, NULL},
    [GPU_F_LINK_WIDTH] = {"pcie_link_width", GPU_T_UINT, NULL},
};

const char *
gpu_field_name(gpu_field_id_t f)
{
    return s_fields[f].name;
}

gpu_vtype_t
gpu_field_type(gpu_field_id_t f)
{
    return s_fields[f].type;
}

const char *
gpu_field_metric(gpu_field_id_t f)
{
    return s_fields[f].metric;
}

const char *
gpu_source_name(gpu_source_t s)
{
    switch (s) {
    case GPU_SRC_SYSFS:
        return "sysfs";
    case GPU_SRC_NVML:
        return "nvml";
    case GPU_SRC_PROCFS:
        return "procfs";
    default:
        return "none";
    }
}

const char *
gpu_vendor_name(uint16_t vendor_id)
{
    switch (vendor_id) {
    case 0x10de:
        return "nvidia";
    case 0x1002:
        return "amd";
    case 0x8086:
        return "intel";
    default:
        return "other";
    }
}

void
gpu_set_str(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, const char *s)
{
    gpu_value_t *v = &d->f[f];
    size_t n = strnlen(s, GPU_STR_MAX - 1);
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        n--; /* sysfs and procfs values end with a newline, some with padding */
    }
    memset(v, 0, sizeof *v);
    memcpy(v->v.s, s, n);
    v->state = GPU_V_OK;
    v->source = src;
}

static gpu_value_t *
s_set(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src)
{
    gpu_value_t *v = &d->f[f];
    memset(v, 0, sizeof *v);
    v->state = GPU_V_OK;
    v->source = src;
    return v;
}

void
gpu_set_uint(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, uint64_t val)
{
    s_set(d, f, src)->v.u = val;
}

void
gpu_set_int(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, int64_t val)
{
    s_set(d, f, src)->v.i = val;
}

void
gpu_set_double(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, double val)
{
    s_set(d, f, src)->v.d = val;
}

void
gpu_set_bool(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, bool val)
{
    s_set(d, f, src)->v.b = val;
}

void
gpu_set_null(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, const char *why)
{
    gpu_value_t *v = s_set(d, f, src);
    v->state = GPU_V_NULL;
    v->why = why;
}

const char *
gpu_str(const gpu_dev_t *d, gpu_field_id_t f)
{
    const gpu_value_t *v = &d->f[f];
    return v->state == GPU_V_OK && s_fields[f].type == GPU_T_STR ? v->v.s : NULL;
}

/* "DDDD:BB:DD.F" parsed into one number that orders as the address does; unparsable slots sort
 * last, by text. */
static uint64_t
s_pci_key(const char *slot)
{
    unsigned dom, bus, dev, fn;
    if (sscanf(slot, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4) {
        return UINT64_MAX;
    }
    return ((uint64_t)dom << 32) | (bus << 16) | (dev << 8) | fn;
}

static int
s_cmp(const void *a, const void *b)
{
    const gpu_dev_t *x = a, *y = b;
    uint64_t kx = s_pci_key(x->pci), ky = s_pci_key(y->pci);
    if (kx != ky) {
        return kx < ky ? -1 : 1;
    }
    return strcmp(x->pci, y->pci);
}

void
gpu_inv_sort(gpu_inv_t *inv)
{
    qsort(inv->dev, inv->n, sizeof inv->dev[0], s_cmp);
}

const gpu_dev_t *
gpu_inv_find(const gpu_inv_t *inv, const char *key)
{
    for (size_t i = 0; i < inv->n; i++) {
        if (strcmp(inv->dev[i].id, key) == 0 || strcmp(inv->dev[i].pci, key) == 0) {
            return &inv->dev[i];
        }
    }
    return NULL;
}
