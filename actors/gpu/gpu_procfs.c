/* NVIDIA's procfs as the fallback without NVML (gpu_procfs.h). The information file is
 * "Key: <tabs and spaces> value" lines, e.g. "GPU UUID: \t GPU-b411adcd-...". */
#include "gpu_procfs.h"

#include "gpu_sysfs.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* The fields NVML alone reads: null without it. */
static const gpu_field_id_t s_nvml_only[] = {
    GPU_F_SERIAL,   GPU_F_MEMORY_TOTAL, GPU_F_MEMORY_USED,  GPU_F_MEMORY_FREE,
    GPU_F_UTIL_GPU, GPU_F_UTIL_MEMORY,  GPU_F_TEMPERATURE,  GPU_F_POWER,
    GPU_F_FAN,      GPU_F_MIG_MODE,     GPU_F_NVML_VERSION,
};

/* The value of "Key:" in text, copied into out; false when absent. */
static bool
s_value(const char *text, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, key, klen) != 0 || line[klen] != ':') {
            continue;
        }
        const char *v = line + klen + 1;
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        size_t n = strcspn(v, "\n");
        if (n >= cap) {
            n = cap - 1;
        }
        memcpy(out, v, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* The version number in "NVRM version: NVIDIA UNIX ... Kernel Module for x86_64  580.159.04
 * Release Build ...": the first word that starts with a digit and holds a dot. */
static bool
s_driver_version(const char *procfs_root, char *out, size_t cap)
{
    char path[PATH_MAX], text[1024];
    snprintf(path, sizeof path, "%s/driver/nvidia/version", procfs_root);
    if (gpu_read_text(path, text, sizeof text) != 0) {
        return false;
    }
    const char *p = strstr(text, "NVRM version:");
    if (!p) {
        return false;
    }
    size_t eol = strcspn(p, "\n");
    for (size_t i = 13; i < eol; i++) {
        size_t n = strcspn(p + i, " \t\n");
        if (isdigit((unsigned char)p[i]) && memchr(p + i, '.', n) && n < cap) {
            memcpy(out, p + i, n);
            out[n] = '\0';
            return true;
        }
        i += n;
    }
    return false;
}

static void
s_fill_one(const char *procfs_root, gpu_dev_t *d, const char *version, const char *why_null)
{
    char path[PATH_MAX], text[4096], v[GPU_STR_MAX];
    for (size_t i = 0; i < sizeof s_nvml_only / sizeof s_nvml_only[0]; i++) {
        gpu_set_null(d, s_nvml_only[i], GPU_SRC_NVML, why_null);
    }
    if (version) {
        gpu_set_str(d, GPU_F_DRIVER_VERSION, GPU_SRC_PROCFS, version);
    }
    snprintf(path, sizeof path, "%s/driver/nvidia/gpus/%s/information", procfs_root, d->pci);
    int rc = gpu_read_text(path, text, sizeof text);
    if (rc != 0) {
        const char *why = gpu_read_why(rc);
        gpu_set_null(d, GPU_F_NAME, GPU_SRC_PROCFS, why);
        gpu_set_null(d, GPU_F_UUID, GPU_SRC_PROCFS, why);
        return;
    }
    if (s_value(text, "Model", v, sizeof v)) {
        gpu_set_str(d, GPU_F_NAME, GPU_SRC_PROCFS, v);
    }
    if (s_value(text, "GPU UUID", v, sizeof v)) {
        gpu_set_str(d, GPU_F_UUID, GPU_SRC_PROCFS, v);
        snprintf(d->id, sizeof d->id, "%s", gpu_str(d, GPU_F_UUID));
    }
    if (s_value(text, "Video BIOS", v, sizeof v)) {
        gpu_set_str(d, GPU_F_VBIOS, GPU_SRC_PROCFS, v);
    }
}

void
gpu_procfs_fill(const char *procfs_root, gpu_inv_t *inv, const char *why)
{
    char version[GPU_STR_MAX];
    bool have_version = s_driver_version(procfs_root, version, sizeof version);
    for (size_t i = 0; i < inv->n; i++) {
        gpu_dev_t *d = &inv->dev[i];
        if (d->vendor_id == 0x10de && d->f[GPU_F_UUID].source != GPU_SRC_NVML) {
            s_fill_one(procfs_root, d, have_version ? version : NULL, d->lost ? "gpu_lost" : why);
        }
    }
}
