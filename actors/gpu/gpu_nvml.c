/* NVML through dlopen (gpu_nvml.h). The declarations below follow NVIDIA's NVML API
 * Reference (docs.nvidia.com/deploy/nvml-api/): nvmlReturn_t values, nvmlMemory_t,
 * nvmlUtilization_t, nvmlPciInfo_t (the v3 layout: busIdLegacy[16], domain, bus, device,
 * pciDeviceId, pciSubSystemId, busId[32]) and the functions' signatures. */
#include "gpu_nvml.h"

#include "yard/error.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* nvmlReturn_t values this file tells apart. */
enum {
    NV_SUCCESS = 0,
    NV_ERROR_INVALID_ARGUMENT = 2,
    NV_ERROR_NOT_SUPPORTED = 3,
    NV_ERROR_NO_PERMISSION = 4,
    NV_ERROR_NOT_FOUND = 6,
    NV_ERROR_DRIVER_NOT_LOADED = 9,
    NV_ERROR_FUNCTION_NOT_FOUND = 13,
    NV_ERROR_GPU_IS_LOST = 15,
};
#define NV_TEMPERATURE_GPU 0  /* nvmlTemperatureSensors_t */
#define NV_STR_BUF         96 /* >= NVML_DEVICE_NAME_V2_BUFFER_SIZE, the largest string used */

typedef int nv_ret_t;
typedef struct nv_device *nv_device_t; /* nvmlDevice_t: an opaque handle */
typedef struct {
    unsigned long long total, free, used;
} nv_memory_t;
typedef struct {
    unsigned int gpu, memory;
} nv_util_t;
typedef struct {
    char bus_id_legacy[16];
    unsigned int domain, bus, device, pci_device_id, pci_subsystem_id;
    char bus_id[32];
} nv_pci_t;

typedef nv_ret_t (*nv_void_fn)(void);
typedef nv_ret_t (*nv_sys_str_fn)(char *, unsigned int);
typedef nv_ret_t (*nv_count_fn)(unsigned int *);
typedef nv_ret_t (*nv_handle_fn)(unsigned int, nv_device_t *);
typedef nv_ret_t (*nv_dev_str_fn)(nv_device_t, char *, unsigned int);
typedef nv_ret_t (*nv_pci_fn)(nv_device_t, nv_pci_t *);
typedef nv_ret_t (*nv_mem_fn)(nv_device_t, nv_memory_t *);
typedef nv_ret_t (*nv_util_fn)(nv_device_t, nv_util_t *);
typedef nv_ret_t (*nv_temp_fn)(nv_device_t, int, unsigned int *);
typedef nv_ret_t (*nv_uint_fn)(nv_device_t, unsigned int *);
typedef nv_ret_t (*nv_mig_fn)(nv_device_t, unsigned int *, unsigned int *);

struct gpu_nvml {
    void *dl;
    nv_void_fn shutdown;
    nv_sys_str_fn driver_version, nvml_version;
    nv_count_fn count;
    nv_handle_fn handle;
    nv_dev_str_fn name, uuid, serial;
    nv_pci_fn pci;
    nv_mem_fn memory;
    nv_util_fn util;
    nv_temp_fn temperature;
    nv_uint_fn power, fan;
    nv_mig_fn mig;
};

/* The device limit NVML is asked about (a bound on a count the library reports). */
#define NV_MAX_INDEX 64

static const char *
s_why(nv_ret_t rc)
{
    switch (rc) {
    case NV_ERROR_NOT_SUPPORTED:
        return "not_supported";
    case NV_ERROR_NO_PERMISSION:
        return "no_permission";
    case NV_ERROR_GPU_IS_LOST:
        return "gpu_lost";
    case NV_ERROR_FUNCTION_NOT_FOUND:
        return "function_not_found";
    case NV_ERROR_NOT_FOUND:
        return "not_found";
    default:
        return "nvml_error";
    }
}

static void *
s_sym(void *dl, const char *name)
{
    return dlsym(dl, name); /* NULL: an older library without it (that field becomes null) */
}

/* A function pointer from a symbol: POSIX guarantees the conversion for dlsym's result. */
#define S_LOAD(self, field, name) (*(void **)&(self)->field = s_sym((self)->dl, (name)))

int
gpu_nvml_open(const char *lib, gpu_nvml_t **out, char *err, size_t errlen)
{
    *out = NULL;
    void *dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        snprintf(err, errlen, "cannot load %s: %s", lib, why ? why : "unknown");
        return YARD_E_NOT_FOUND;
    }
    gpu_nvml_t *self = calloc(1, sizeof *self);
    if (!self) {
        abort();
    }
    self->dl = dl;
    nv_void_fn init = NULL;
    *(void **)&init = s_sym(dl, "nvmlInit_v2");
    S_LOAD(self, shutdown, "nvmlShutdown");
    S_LOAD(self, count, "nvmlDeviceGetCount_v2");
    S_LOAD(self, handle, "nvmlDeviceGetHandleByIndex_v2");
    S_LOAD(self, pci, "nvmlDeviceGetPciInfo_v3");
    if (!init || !self->shutdown || !self->count || !self->handle || !self->pci) {
        snprintf(err, errlen,
                 "%s lacks nvmlInit_v2, nvmlShutdown, nvmlDeviceGetCount_v2, "
                 "nvmlDeviceGetHandleByIndex_v2 or nvmlDeviceGetPciInfo_v3",
                 lib);
        dlclose(dl);
        free(self);
        return YARD_E_NOT_FOUND;
    }
    S_LOAD(self, driver_version, "nvmlSystemGetDriverVersion");
    S_LOAD(self, nvml_version, "nvmlSystemGetNVMLVersion");
    S_LOAD(self, name, "nvmlDeviceGetName");
    S_LOAD(self, uuid, "nvmlDeviceGetUUID");
    S_LOAD(self, serial, "nvmlDeviceGetSerial");
    S_LOAD(self, memory, "nvmlDeviceGetMemoryInfo");
    S_LOAD(self, util, "nvmlDeviceGetUtilizationRates");
    S_LOAD(self, temperature, "nvmlDeviceGetTemperature");
    S_LOAD(self, power, "nvmlDeviceGetPowerUsage");
    S_LOAD(self, fan, "nvmlDeviceGetFanSpeed");
    S_LOAD(self, mig, "nvmlDeviceGetMigMode");
    nv_ret_t rc = init();
    if (rc != NV_SUCCESS) {
        snprintf(err, errlen, "nvmlInit_v2 returned %d (%s)", rc,
                 rc == NV_ERROR_DRIVER_NOT_LOADED ? "driver_not_loaded" : s_why(rc));
        dlclose(dl);
        free(self);
        return YARD_E_IO;
    }
    *out = self;
    return 0;
}

void
gpu_nvml_destroy(gpu_nvml_t **self_p)
{
    gpu_nvml_t *self = *self_p;
    if (!self) {
        return;
    }
    *self_p = NULL;
    self->shutdown();
    dlclose(self->dl);
    free(self);
}

/* Notes rc for field f: null with its reason (and lost for GPU_IS_LOST). True on success. */
static bool
s_ok(gpu_dev_t *d, gpu_field_id_t f, nv_ret_t rc)
{
    if (rc == NV_SUCCESS) {
        return true;
    }
    if (rc == NV_ERROR_GPU_IS_LOST) {
        d->lost = true;
    }
    gpu_set_null(d, f, GPU_SRC_NVML, s_why(rc));
    return false;
}

static void
s_dev_str(gpu_dev_t *d, gpu_field_id_t f, nv_dev_str_fn fn, nv_device_t h)
{
    char buf[NV_STR_BUF] = "";
    nv_ret_t rc = fn ? fn(h, buf, sizeof buf) : NV_ERROR_FUNCTION_NOT_FOUND;
    if (s_ok(d, f, rc)) {
        buf[sizeof buf - 1] = '\0';
        gpu_set_str(d, f, GPU_SRC_NVML, buf);
    }
}

static void
s_memory(gpu_nvml_t *self, gpu_dev_t *d, nv_device_t h)
{
    nv_memory_t m = {0};
    nv_ret_t rc = self->memory ? self->memory(h, &m) : NV_ERROR_FUNCTION_NOT_FOUND;
    if (!s_ok(d, GPU_F_MEMORY_TOTAL, rc)) {
        s_ok(d, GPU_F_MEMORY_USED, rc);
        s_ok(d, GPU_F_MEMORY_FREE, rc);
        return;
    }
    gpu_set_uint(d, GPU_F_MEMORY_TOTAL, GPU_SRC_NVML, m.total);
    gpu_set_uint(d, GPU_F_MEMORY_USED, GPU_SRC_NVML, m.used);
    gpu_set_uint(d, GPU_F_MEMORY_FREE, GPU_SRC_NVML, m.free);
}

static void
s_gauges(gpu_nvml_t *self, gpu_dev_t *d, nv_device_t h)
{
    nv_util_t u = {0};
    nv_ret_t rc = self->util ? self->util(h, &u) : NV_ERROR_FUNCTION_NOT_FOUND;
    if (s_ok(d, GPU_F_UTIL_GPU, rc)) {
        gpu_set_uint(d, GPU_F_UTIL_GPU, GPU_SRC_NVML, u.gpu);
        gpu_set_uint(d, GPU_F_UTIL_MEMORY, GPU_SRC_NVML, u.memory);
    } else {
        s_ok(d, GPU_F_UTIL_MEMORY, rc);
    }
    unsigned int v = 0;
    rc = self->temperature ? self->temperature(h, NV_TEMPERATURE_GPU, &v)
                           : NV_ERROR_FUNCTION_NOT_FOUND;
    if (s_ok(d, GPU_F_TEMPERATURE, rc)) {
        gpu_set_double(d, GPU_F_TEMPERATURE, GPU_SRC_NVML, v);
    }
    rc = self->power ? self->power(h, &v) : NV_ERROR_FUNCTION_NOT_FOUND; /* milliwatts */
    if (s_ok(d, GPU_F_POWER, rc)) {
        gpu_set_double(d, GPU_F_POWER, GPU_SRC_NVML, (double)v / 1000.0);
    }
    rc = self->fan ? self->fan(h, &v) : NV_ERROR_FUNCTION_NOT_FOUND;
    if (s_ok(d, GPU_F_FAN, rc)) {
        gpu_set_uint(d, GPU_F_FAN, GPU_SRC_NVML, v);
    }
    unsigned int cur = 0, pend = 0;
    rc = self->mig ? self->mig(h, &cur, &pend) : NV_ERROR_FUNCTION_NOT_FOUND;
    if (s_ok(d, GPU_F_MIG_MODE, rc)) {
        gpu_set_bool(d, GPU_F_MIG_MODE, GPU_SRC_NVML, cur != 0);
        gpu_set_bool(d, GPU_F_MIG_PENDING, GPU_SRC_NVML, pend != 0);
    } else {
        s_ok(d, GPU_F_MIG_PENDING, rc);
    }
}

/* The sysfs slot ("0000:00:06.0") for NVML's bus id ("00000000:00:06.0", upper-case hex). */
static bool
s_slot(const char *bus_id, char *out, size_t cap)
{
    unsigned dom, bus, dev, fn;
    if (sscanf(bus_id, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4) {
        return false;
    }
    return (size_t)snprintf(out, cap, "%04x:%02x:%02x.%x", dom, bus, dev, fn) < cap;
}

/* The device of inv at slot, or a new NVIDIA one (NULL when inv is full). */
static gpu_dev_t *
s_device(gpu_inv_t *inv, const char *slot, const nv_pci_t *pci)
{
    for (size_t i = 0; i < inv->n; i++) {
        if (strcmp(inv->dev[i].pci, slot) == 0) {
            return &inv->dev[i];
        }
    }
    if (inv->n == GPU_MAX_DEVICES) {
        inv->truncated = true;
        return NULL;
    }
    gpu_dev_t *d = &inv->dev[inv->n++];
    memset(d, 0, sizeof *d);
    snprintf(d->pci, sizeof d->pci, "%s", slot);
    snprintf(d->id, sizeof d->id, "%s", slot);
    d->vendor_id = (uint16_t)(pci->pci_device_id & 0xffff);
    d->device_id = (uint16_t)(pci->pci_device_id >> 16);
    d->found_by = GPU_SRC_NVML;
    return d;
}

static void
s_system_str(gpu_dev_t *d, gpu_field_id_t f, nv_sys_str_fn fn)
{
    char buf[NV_STR_BUF] = "";
    nv_ret_t rc = fn ? fn(buf, sizeof buf) : NV_ERROR_FUNCTION_NOT_FOUND;
    if (s_ok(d, f, rc)) {
        buf[sizeof buf - 1] = '\0';
        gpu_set_str(d, f, GPU_SRC_NVML, buf);
    }
}

/* Fills the GPU at index; returns false when NVML said it is lost before naming its bus. */
static bool
s_fill_one(gpu_nvml_t *self, gpu_inv_t *inv, unsigned int index)
{
    nv_device_t h = NULL;
    nv_pci_t pci;
    char slot[16];
    memset(&pci, 0, sizeof pci);
    nv_ret_t rc = self->handle(index, &h);
    if (rc == NV_SUCCESS) {
        rc = self->pci(h, &pci);
    }
    if (rc != NV_SUCCESS) {
        return rc != NV_ERROR_GPU_IS_LOST; /* unkeyed: sysfs still lists it */
    }
    pci.bus_id[sizeof pci.bus_id - 1] = '\0';
    gpu_dev_t *d = s_slot(pci.bus_id, slot, sizeof slot) ? s_device(inv, slot, &pci) : NULL;
    if (!d) {
        return true;
    }
    d->lost = false;
    gpu_set_str(d, GPU_F_PCI_BUS_ID, GPU_SRC_NVML, pci.bus_id);
    s_dev_str(d, GPU_F_NAME, self->name, h);
    s_dev_str(d, GPU_F_UUID, self->uuid, h);
    s_dev_str(d, GPU_F_SERIAL, self->serial, h);
    s_system_str(d, GPU_F_DRIVER_VERSION, self->driver_version);
    s_system_str(d, GPU_F_NVML_VERSION, self->nvml_version);
    s_memory(self, d, h);
    s_gauges(self, d, h);
    const char *uuid = gpu_str(d, GPU_F_UUID);
    if (uuid && uuid[0]) {
        snprintf(d->id, sizeof d->id, "%s", uuid);
    }
    return true;
}

void
gpu_nvml_fill(gpu_nvml_t *self, gpu_inv_t *inv)
{
    unsigned int n = 0;
    if (self->count(&n) != NV_SUCCESS) {
        return;
    }
    if (n > NV_MAX_INDEX) {
        n = NV_MAX_INDEX;
    }
    unsigned int lost = 0;
    for (unsigned int i = 0; i < n; i++) {
        lost += !s_fill_one(self, inv, i);
    }
    /* A GPU lost before NVML named its bus: the NVIDIA GPUs sysfs lists that NVML did not
     * answer for are the lost ones (NVML cannot say which, and they cannot be told apart
     * when several are lost at once, so at most that many are marked). */
    for (size_t i = 0; i < inv->n && lost > 0; i++) {
        gpu_dev_t *d = &inv->dev[i];
        if (d->vendor_id == 0x10de && d->f[GPU_F_UUID].source != GPU_SRC_NVML) {
            d->lost = true;
            lost--;
        }
    }
    gpu_inv_sort(inv);
}
