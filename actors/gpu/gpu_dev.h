/* The gpu actor's inventory: one record per GPU, each field with its value, the source it was
 * read from (sysfs, nvml, procfs) and, when it could not be read, why. The key distinction the
 * actor makes is between a field that does not apply to a device (GPU_V_ABSENT: never
 * reported) and one that applies but could not be read (GPU_V_NULL: reported as null with a
 * reason such as "not_supported" or "no_permission"); a scan never fails for one field.
 *
 * An inventory is a plain value (no pointers inside), so it can be copied and compared; the
 * devices are kept ordered by PCI address (gpu_inv_sort()). */
#ifndef GPU_DEV_H
#define GPU_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most GPUs one node reports (an 8-GPU server has 8; a big one 16): more are ignored, and
 * the scan says so (gpu_inv_t.truncated). */
#define GPU_MAX_DEVICES 64
/* The longest string value kept (names, UUIDs, versions); longer ones are cut. */
#define GPU_STR_MAX 96

typedef enum { GPU_SRC_NONE = 0, GPU_SRC_SYSFS, GPU_SRC_NVML, GPU_SRC_PROCFS } gpu_source_t;

typedef enum {
    GPU_V_ABSENT = 0, /* does not apply to this device: not reported */
    GPU_V_OK,         /* read */
    GPU_V_NULL,       /* applies but could not be read: reported null, with why */
} gpu_vstate_t;

typedef enum { GPU_T_STR, GPU_T_UINT, GPU_T_INT, GPU_T_DOUBLE, GPU_T_BOOL } gpu_vtype_t;

/* Every field a device may carry; gpu_field_name() gives the report's key. */
typedef enum {
    GPU_F_NAME,
    GPU_F_UUID,
    GPU_F_SERIAL,
    GPU_F_PCI_BUS_ID, /* as the vendor's library writes it (NVML: 8-digit domain) */
    GPU_F_DRIVER,     /* the kernel driver bound to the PCI device */
    GPU_F_DRIVER_VERSION,
    GPU_F_NVML_VERSION,
    GPU_F_VBIOS,
    GPU_F_MEMORY_TOTAL, /* bytes */
    GPU_F_MEMORY_USED,
    GPU_F_MEMORY_FREE,
    GPU_F_UTIL_GPU, /* percent */
    GPU_F_UTIL_MEMORY,
    GPU_F_TEMPERATURE, /* degrees Celsius */
    GPU_F_POWER,       /* watts */
    GPU_F_FAN,         /* percent */
    GPU_F_MIG_MODE,    /* bool: current mode */
    GPU_F_MIG_PENDING, /* bool: mode after the next reset */
    GPU_F_FREQ,        /* MHz, current */
    GPU_F_FREQ_MAX,    /* MHz */
    GPU_F_NUMA_NODE,
    GPU_F_LINK_SPEED, /* text, e.g. "32.0 GT/s PCIe" */
    GPU_F_LINK_WIDTH,
    GPU_F_COUNT
} gpu_field_id_t;

typedef struct {
    gpu_vstate_t state;
    gpu_source_t source;
    const char *why; /* GPU_V_NULL: static text, e.g. "not_supported" */
    union {
        char s[GPU_STR_MAX];
        uint64_t u;
        int64_t i;
        double d;
        bool b;
    } v;
} gpu_value_t;

typedef struct {
    char id[GPU_STR_MAX]; /* the NVIDIA UUID when known, else the PCI slot: never an index */
    char pci[16];         /* sysfs slot, "0000:00:06.0" */
    uint16_t vendor_id;
    uint16_t device_id;
    uint32_t class_code;   /* 0x030200 */
    bool lost;             /* NVML said the GPU fell off the bus */
    gpu_source_t found_by; /* where its identity (slot, vendor, device, class) was read */
    gpu_value_t f[GPU_F_COUNT];
} gpu_dev_t;

typedef struct {
    size_t n;
    bool truncated;       /* more than GPU_MAX_DEVICES display devices were found */
    bool nvml;            /* NVML was loaded and initialised for this scan */
    char nvml_error[160]; /* when not: why (library missing, nvmlInit error) */
    gpu_dev_t dev[GPU_MAX_DEVICES];
} gpu_inv_t;

/* The field's key in reports ("memory_total"), its type and its Prometheus metric name (NULL
 * when it is not a gauge). Static storage. */
const char *gpu_field_name(gpu_field_id_t f);
gpu_vtype_t gpu_field_type(gpu_field_id_t f);
const char *gpu_field_metric(gpu_field_id_t f);
/* "sysfs", "nvml", "procfs". Static storage. */
const char *gpu_source_name(gpu_source_t s);
/* "nvidia", "amd", "intel" or "other". Static storage. */
const char *gpu_vendor_name(uint16_t vendor_id);

/* Setters: the field becomes GPU_V_OK with the value and source (a string is cut at
 * GPU_STR_MAX - 1 bytes and trailing white space is dropped), or GPU_V_NULL with why (static
 * storage). */
void gpu_set_str(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, const char *s);
void gpu_set_uint(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, uint64_t v);
void gpu_set_int(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, int64_t v);
void gpu_set_double(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, double v);
void gpu_set_bool(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, bool v);
void gpu_set_null(gpu_dev_t *d, gpu_field_id_t f, gpu_source_t src, const char *why);

/* The field's string when it is GPU_V_OK, else NULL. Borrowed from d. */
const char *gpu_str(const gpu_dev_t *d, gpu_field_id_t f);

/* Orders the devices by PCI address (domain, bus, device, function). */
void gpu_inv_sort(gpu_inv_t *inv);
/* The device whose id or PCI slot is key, or NULL. Borrowed from inv. */
const gpu_dev_t *gpu_inv_find(const gpu_inv_t *inv, const char *key);

#endif
