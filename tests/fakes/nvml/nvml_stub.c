/* NVML stub: the functions of NVIDIA's Management Library that the gpu actor uses, with the
 * signatures and return codes of NVIDIA's NVML API Reference (docs.nvidia.com/deploy/nvml-api),
 * answering what a test chose. No NVIDIA header is used.
 *
 * The file named by the environment variable YARD_NVML_STUB is read at nvmlInit_v2 and again
 * at every nvmlDeviceGetCount_v2 (so a test changes the answers between scans by rewriting
 * it). One setting per line, "<call> <return code> [values]"; '#' starts a comment:
 *
 *     init 0                      nvmlInit_v2's return code
 *     driver 0 580.159.04         nvmlSystemGetDriverVersion
 *     nvml 0 13.580.159.04        nvmlSystemGetNVMLVersion
 *     device                      starts the next GPU (index 0, 1, ...); then per GPU:
 *     handle 0                    nvmlDeviceGetHandleByIndex_v2
 *     pci 0 00000000:00:06.0 233510de 18bf10de    nvmlDeviceGetPciInfo_v3 (busId, ids in hex)
 *     name 0 NVIDIA H200          nvmlDeviceGetName (uuid, serial: the same form)
 *     mem 0 <total> <free> <used> nvmlDeviceGetMemoryInfo (bytes)
 *     util 0 <gpu> <memory>       nvmlDeviceGetUtilizationRates (percent)
 *     temp 0 36                   nvmlDeviceGetTemperature (Celsius)
 *     power 0 78391               nvmlDeviceGetPowerUsage (milliwatts)
 *     fan 3                       nvmlDeviceGetFanSpeed: 3 = NOT_SUPPORTED
 *     mig 0 <current> <pending>   nvmlDeviceGetMigMode
 *
 * A call a GPU has no line for answers NOT_SUPPORTED (3). As in NVML: every call before
 * nvmlInit_v2 (or after the last nvmlShutdown) answers UNINITIALIZED (1), an index past the
 * count or an unknown handle INVALID_ARGUMENT (2), a string longer than the caller's buffer
 * INSUFFICIENT_SIZE (7). yard_nvml_stub_calls(name) tells a test how often a call was made
 * ("nvmlInit_v2", "nvmlShutdown", "nvmlDeviceGetCount_v2"). Single-threaded, as the tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OK = 0, UNINITIALIZED = 1, INVALID_ARGUMENT = 2, NOT_SUPPORTED = 3, INSUFFICIENT_SIZE = 7 };
#define STUB_DEVICES 16
#define STUB_STR     128

typedef struct {
    int rc;
    char s[STUB_STR];
    unsigned long long n[3];
} stub_call_t;

enum {
    C_HANDLE,
    C_PCI,
    C_NAME,
    C_UUID,
    C_SERIAL,
    C_MEM,
    C_UTIL,
    C_TEMP,
    C_POWER,
    C_FAN,
    C_MIG,
    C_N
};
static const char *const s_call_names[C_N] = {"handle", "pci",  "name",  "uuid", "serial", "mem",
                                              "util",   "temp", "power", "fan",  "mig"};

typedef struct stub_device {
    stub_call_t c[C_N];
} stub_device_t;

typedef struct {
    char bus_id_legacy[16];
    unsigned int domain, bus, device, pci_device_id, pci_subsystem_id;
    char bus_id[32];
} stub_pci_t;
typedef struct {
    unsigned long long total, free, used;
} stub_memory_t;
typedef struct {
    unsigned int gpu, memory;
} stub_util_t;

static struct {
    int refs;
    stub_call_t init, driver, nvml;
    size_t n;
    stub_device_t dev[STUB_DEVICES];
    unsigned long calls_init, calls_shutdown, calls_count;
} s;

/* The exported functions (no header: the actor declares its own, as it does for NVIDIA's). */
int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlSystemGetDriverVersion(char *buf, unsigned int len);
int nvmlSystemGetNVMLVersion(char *buf, unsigned int len);
int nvmlDeviceGetCount_v2(unsigned int *count);
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, stub_device_t **dev);
int nvmlDeviceGetPciInfo_v3(stub_device_t *dev, stub_pci_t *pci);
int nvmlDeviceGetName(stub_device_t *dev, char *buf, unsigned int len);
int nvmlDeviceGetUUID(stub_device_t *dev, char *buf, unsigned int len);
int nvmlDeviceGetSerial(stub_device_t *dev, char *buf, unsigned int len);
int nvmlDeviceGetMemoryInfo(stub_device_t *dev, stub_memory_t *m);
int nvmlDeviceGetUtilizationRates(stub_device_t *dev, stub_util_t *u);
int nvmlDeviceGetTemperature(stub_device_t *dev, int sensor, unsigned int *t);
int nvmlDeviceGetPowerUsage(stub_device_t *dev, unsigned int *mw);
int nvmlDeviceGetFanSpeed(stub_device_t *dev, unsigned int *pct);
int nvmlDeviceGetMigMode(stub_device_t *dev, unsigned int *cur, unsigned int *pend);
unsigned long yard_nvml_stub_calls(const char *name);

static void
s_parse_call(stub_call_t *c, const char *rest)
{
    memset(c, 0, sizeof *c);
    int used = 0;
    if (sscanf(rest, "%d%n", &c->rc, &used) != 1) {
        c->rc = NOT_SUPPORTED;
        return;
    }
    rest += used;
    while (*rest == ' ' || *rest == '\t') {
        rest++;
    }
    snprintf(c->s, sizeof c->s, "%s", rest);
    c->s[strcspn(c->s, "\r\n")] = '\0';
    (void)sscanf(rest, "%llu %llu %llu", &c->n[0], &c->n[1], &c->n[2]);
}

static void
s_device_defaults(stub_device_t *d)
{
    for (int i = 0; i < C_N; i++) {
        memset(&d->c[i], 0, sizeof d->c[i]);
        d->c[i].rc = NOT_SUPPORTED;
    }
    d->c[C_HANDLE].rc = OK;
}

static void
s_line(char *line)
{
    char key[32];
    int used = 0;
    line[strcspn(line, "#\r\n")] = '\0';
    if (sscanf(line, "%31s%n", key, &used) != 1) {
        return;
    }
    const char *rest = line + used;
    if (strcmp(key, "device") == 0) {
        if (s.n < STUB_DEVICES) {
            s_device_defaults(&s.dev[s.n++]);
        }
        return;
    }
    stub_call_t *c = strcmp(key, "init") == 0     ? &s.init
                     : strcmp(key, "driver") == 0 ? &s.driver
                     : strcmp(key, "nvml") == 0   ? &s.nvml
                                                  : NULL;
    for (int i = 0; !c && s.n > 0 && i < C_N; i++) {
        if (strcmp(key, s_call_names[i]) == 0) {
            c = &s.dev[s.n - 1].c[i];
        }
    }
    if (c) {
        s_parse_call(c, rest);
    }
}

static void
s_load(void)
{
    const char *path = getenv("YARD_NVML_STUB");
    s.n = 0;
    s.init.rc = OK;
    s.driver.rc = s.nvml.rc = NOT_SUPPORTED;
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) {
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        s_line(line);
    }
    fclose(f);
}

static int
s_str(const stub_call_t *c, char *buf, unsigned int len)
{
    if (c->rc != OK) {
        return c->rc;
    }
    if (!buf || strlen(c->s) >= len) {
        return INSUFFICIENT_SIZE;
    }
    memcpy(buf, c->s, strlen(c->s) + 1);
    return OK;
}

static int
s_dev(const stub_device_t *d, int call, const stub_call_t **out)
{
    if (s.refs == 0) {
        return UNINITIALIZED;
    }
    if (!d || d < s.dev || d >= s.dev + s.n) {
        return INVALID_ARGUMENT;
    }
    *out = &d->c[call];
    return (*out)->rc;
}

int
nvmlInit_v2(void)
{
    s.calls_init++;
    s_load();
    if (s.init.rc != OK) {
        return s.init.rc;
    }
    s.refs++;
    return OK;
}

int
nvmlShutdown(void)
{
    s.calls_shutdown++;
    if (s.refs == 0) {
        return UNINITIALIZED;
    }
    s.refs--;
    return OK;
}

int
nvmlSystemGetDriverVersion(char *buf, unsigned int len)
{
    return s.refs == 0 ? UNINITIALIZED : s_str(&s.driver, buf, len);
}

int
nvmlSystemGetNVMLVersion(char *buf, unsigned int len)
{
    return s.refs == 0 ? UNINITIALIZED : s_str(&s.nvml, buf, len);
}

int
nvmlDeviceGetCount_v2(unsigned int *count)
{
    s.calls_count++;
    if (s.refs == 0) {
        return UNINITIALIZED;
    }
    if (!count) {
        return INVALID_ARGUMENT;
    }
    s_load();
    *count = (unsigned int)s.n;
    return OK;
}

int
nvmlDeviceGetHandleByIndex_v2(unsigned int index, stub_device_t **dev)
{
    if (s.refs == 0) {
        return UNINITIALIZED;
    }
    if (index >= s.n || !dev) {
        return INVALID_ARGUMENT;
    }
    if (s.dev[index].c[C_HANDLE].rc != OK) {
        return s.dev[index].c[C_HANDLE].rc;
    }
    *dev = &s.dev[index];
    return OK;
}

int
nvmlDeviceGetPciInfo_v3(stub_device_t *dev, stub_pci_t *pci)
{
    const stub_call_t *c = NULL;
    int rc = s_dev(dev, C_PCI, &c);
    if (rc != OK) {
        return rc;
    }
    memset(pci, 0, sizeof *pci);
    char bus_id[64] = "";
    unsigned int id = 0, sub = 0;
    if (sscanf(c->s, "%63s %x %x", bus_id, &id, &sub) < 1) {
        return INVALID_ARGUMENT;
    }
    snprintf(pci->bus_id, sizeof pci->bus_id, "%.31s", bus_id); /* NVML: 32 bytes */
    (void)sscanf(bus_id, "%x:%x:%x", &pci->domain, &pci->bus, &pci->device);
    pci->pci_device_id = id;
    pci->pci_subsystem_id = sub;
    return OK;
}

static int
s_dev_str(stub_device_t *dev, int call, char *buf, unsigned int len)
{
    const stub_call_t *c = NULL;
    int rc = s_dev(dev, call, &c);
    return rc != OK ? rc : s_str(c, buf, len);
}

int
nvmlDeviceGetName(stub_device_t *dev, char *buf, unsigned int len)
{
    return s_dev_str(dev, C_NAME, buf, len);
}

int
nvmlDeviceGetUUID(stub_device_t *dev, char *buf, unsigned int len)
{
    return s_dev_str(dev, C_UUID, buf, len);
}

int
nvmlDeviceGetSerial(stub_device_t *dev, char *buf, unsigned int len)
{
    return s_dev_str(dev, C_SERIAL, buf, len);
}

int
nvmlDeviceGetMemoryInfo(stub_device_t *dev, stub_memory_t *m)
{
    const stub_call_t *c = NULL;
    int rc = s_dev(dev, C_MEM, &c);
    if (rc == OK) {
        m->total = c->n[0];
        m->free = c->n[1];
        m->used = c->n[2];
    }
    return rc;
}

int
nvmlDeviceGetUtilizationRates(stub_device_t *dev, stub_util_t *u)
{
    const stub_call_t *c = NULL;
    int rc = s_dev(dev, C_UTIL, &c);
    if (rc == OK) {
        u->gpu = (unsigned int)c->n[0];
        u->memory = (unsigned int)c->n[1];
    }
    return rc;
}

static int
s_dev_uint(stub_device_t *dev, int call, unsigned int *out)
{
    const stub_call_t *c = NULL;
    int rc = s_dev(dev, call, &c);
    if (rc == OK) {
        *out = (unsigned int)c->n[0];
    }
    return rc;
}

int
nvmlDeviceGetTemperature(stub_device_t *dev, int sensor, unsigned int *t)
{
    if (sensor != 0) {
        return INVALID_ARGUMENT; /* NVML_TEMPERATURE_GPU is the only sensor */
    }
    return s_dev_uint(dev, C_TEMP, t);
}

int
nvmlDeviceGetPowerUsage(stub_device_t *dev, unsigned int *mw)
{
    return s_dev_uint(dev, C_POWER, mw);
}

int
nvmlDeviceGetFanSpeed(stub_device_t *dev, unsigned int *pct)
{
    return s_dev_uint(dev, C_FAN, pct);
}

int
nvmlDeviceGetMigMode(stub_device_t *dev, unsigned int *cur, unsigned int *pend)
{
    const stub_call_t *c = NULL;
    int rc = s_dev(dev, C_MIG, &c);
    if (rc == OK) {
        *cur = (unsigned int)c->n[0];
        *pend = (unsigned int)c->n[1];
    }
    return rc;
}

unsigned long
yard_nvml_stub_calls(const char *name)
{
    if (strcmp(name, "nvmlInit_v2") == 0) {
        return s.calls_init;
    }
    if (strcmp(name, "nvmlShutdown") == 0) {
        return s.calls_shutdown;
    }
    if (strcmp(name, "nvmlDeviceGetCount_v2") == 0) {
        return s.calls_count;
    }
    return 0;
}
