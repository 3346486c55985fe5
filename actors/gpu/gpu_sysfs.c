/* GPU discovery from sysfs (gpu_sysfs.h). Attribute names follow the kernel's documentation:
 * Documentation/ABI/testing/sysfs-bus-pci (class, vendor, device, numa_node,
 * current_link_speed/width), Documentation/gpu/amdgpu/driver-misc.rst and thermal.rst
 * (mem_info_vram_total/used, gpu_busy_percent, product_name, hwmon temp1_input in millidegrees,
 * power1_average in microwatts), i915's gt_cur_freq_mhz / gt_max_freq_mhz on the DRM card and
 * xe's tile<N>/gt<N>/freq0/act_freq and max_freq (Documentation/gpu/xe/xe_gt_freq.rst). */
#include "gpu_sysfs.h"

#include "yard/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
gpu_read_text(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = read(fd, buf, cap - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        return -e;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t')) {
        n--;
    }
    buf[n] = '\0';
    return 0;
}

const char *
gpu_read_why(int rc)
{
    if (rc == -ENOENT) {
        return "not_exposed";
    }
    if (rc == -EACCES || rc == -EPERM) {
        return "no_permission";
    }
    return "unreadable";
}

/* out = dir/name; false when it does not fit (the path is then treated as absent). */
static bool
s_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n >= 0 && (size_t)n < cap;
}

/* Reads <dir>/<name>; 0 or a negative errno. */
static int
s_attr(const char *dir, const char *name, char *buf, size_t cap)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        return -ENAMETOOLONG;
    }
    return gpu_read_text(path, buf, cap);
}

/* An attribute holding an unsigned decimal or 0x-hex number. */
static int
s_attr_u64(const char *dir, const char *name, uint64_t *out)
{
    char buf[64];
    int rc = s_attr(dir, name, buf, sizeof buf);
    if (rc != 0) {
        return rc;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 0);
    if (errno != 0 || end == buf || *end != '\0') {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* Sets field f from an unsigned attribute divided by div (a unit change), or null with why. */
static void
s_field_u64(gpu_dev_t *d, gpu_field_id_t f, const char *dir, const char *name, uint64_t div)
{
    uint64_t v = 0;
    int rc = s_attr_u64(dir, name, &v);
    if (rc != 0) {
        gpu_set_null(d, f, GPU_SRC_SYSFS, gpu_read_why(rc));
        return;
    }
    gpu_set_uint(d, f, GPU_SRC_SYSFS, v / div);
}

static void
s_field_str(gpu_dev_t *d, gpu_field_id_t f, const char *dir, const char *name)
{
    char buf[GPU_STR_MAX];
    int rc = s_attr(dir, name, buf, sizeof buf);
    if (rc != 0) {
        gpu_set_null(d, f, GPU_SRC_SYSFS, gpu_read_why(rc));
        return;
    }
    gpu_set_str(d, f, GPU_SRC_SYSFS, buf);
}

/* The first subfolder of dir whose name starts with prefix ("hwmon", "card"), written into
 * out; false when none. */
static bool
s_first_sub(const char *dir, const char *prefix, char *out, size_t cap)
{
    DIR *dh = opendir(dir);
    if (!dh) {
        return false;
    }
    struct dirent *e;
    char best[256] = "";
    while ((e = readdir(dh)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
            (best[0] == '\0' || strcmp(e->d_name, best) < 0)) {
            snprintf(best, sizeof best, "%s", e->d_name);
        }
    }
    closedir(dh);
    if (best[0] == '\0') {
        return false;
    }
    return (size_t)snprintf(out, cap, "%s/%s", dir, best) < cap;
}

/* amdgpu: product name, VRAM, busy percent, and the first hwmon's edge temperature and
 * average power. */
static void
s_amd(gpu_dev_t *d, const char *dir)
{
    s_field_str(d, GPU_F_NAME, dir, "product_name");
    s_field_u64(d, GPU_F_MEMORY_TOTAL, dir, "mem_info_vram_total", 1);
    s_field_u64(d, GPU_F_MEMORY_USED, dir, "mem_info_vram_used", 1);
    if (d->f[GPU_F_MEMORY_TOTAL].state == GPU_V_OK && d->f[GPU_F_MEMORY_USED].state == GPU_V_OK &&
        d->f[GPU_F_MEMORY_TOTAL].v.u >= d->f[GPU_F_MEMORY_USED].v.u) {
        gpu_set_uint(d, GPU_F_MEMORY_FREE, GPU_SRC_SYSFS,
                     d->f[GPU_F_MEMORY_TOTAL].v.u - d->f[GPU_F_MEMORY_USED].v.u);
    }
    s_field_u64(d, GPU_F_UTIL_GPU, dir, "gpu_busy_percent", 1);
    char hw_root[PATH_MAX], hw[PATH_MAX];
    if (!s_join(hw_root, sizeof hw_root, dir, "hwmon") ||
        !s_first_sub(hw_root, "hwmon", hw, sizeof hw)) {
        gpu_set_null(d, GPU_F_TEMPERATURE, GPU_SRC_SYSFS, "not_exposed");
        gpu_set_null(d, GPU_F_POWER, GPU_SRC_SYSFS, "not_exposed");
        return;
    }
    uint64_t v = 0;
    int rc = s_attr_u64(hw, "temp1_input", &v); /* millidegrees Celsius */
    if (rc == 0) {
        gpu_set_double(d, GPU_F_TEMPERATURE, GPU_SRC_SYSFS, (double)v / 1000.0);
    } else {
        gpu_set_null(d, GPU_F_TEMPERATURE, GPU_SRC_SYSFS, gpu_read_why(rc));
    }
    rc = s_attr_u64(hw, "power1_average", &v); /* microwatts */
    if (rc == -ENOENT) {
        rc = s_attr_u64(hw, "power1_input", &v); /* newer APUs report only the input */
    }
    if (rc == 0) {
        gpu_set_double(d, GPU_F_POWER, GPU_SRC_SYSFS, (double)v / 1e6);
    } else {
        gpu_set_null(d, GPU_F_POWER, GPU_SRC_SYSFS, gpu_read_why(rc));
    }
}

/* i915: the DRM card's gt_cur_freq_mhz / gt_max_freq_mhz; xe: tile0/gt0/freq0/act_freq and
 * max_freq. Utilisation is not a sysfs attribute of either (it comes from perf counters), so
 * it is null unless a gpu_busy_percent file is there. */
static void
s_intel(gpu_dev_t *d, const char *dir)
{
    char card[PATH_MAX], drm[PATH_MAX], xe[PATH_MAX];
    const char *drv = gpu_str(d, GPU_F_DRIVER);
    if (!s_join(drm, sizeof drm, dir, "drm") || !s_join(xe, sizeof xe, dir, "tile0/gt0/freq0")) {
        return;
    }
    if (drv && strcmp(drv, "xe") == 0) {
        s_field_u64(d, GPU_F_FREQ, xe, "act_freq", 1);
        s_field_u64(d, GPU_F_FREQ_MAX, xe, "max_freq", 1);
    } else if (s_first_sub(drm, "card", card, sizeof card)) {
        s_field_u64(d, GPU_F_FREQ, card, "gt_cur_freq_mhz", 1);
        s_field_u64(d, GPU_F_FREQ_MAX, card, "gt_max_freq_mhz", 1);
    } else {
        gpu_set_null(d, GPU_F_FREQ, GPU_SRC_SYSFS, "not_exposed");
        gpu_set_null(d, GPU_F_FREQ_MAX, GPU_SRC_SYSFS, "not_exposed");
    }
    s_field_u64(d, GPU_F_UTIL_GPU, dir, "gpu_busy_percent", 1);
    s_field_str(d, GPU_F_NAME, dir, "label"); /* firmware's name for the slot, when given */
}

/* The driver named in uevent's DRIVER= line; the field is null "no_driver" when none is
 * bound. */
static void
s_driver(gpu_dev_t *d, const char *dir)
{
    char buf[1024];
    int rc = s_attr(dir, "uevent", buf, sizeof buf);
    if (rc != 0) {
        gpu_set_null(d, GPU_F_DRIVER, GPU_SRC_SYSFS, gpu_read_why(rc));
        return;
    }
    char *save = NULL; /* strtok_r: replicas scan on their own threads */
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "DRIVER=", 7) == 0) {
            gpu_set_str(d, GPU_F_DRIVER, GPU_SRC_SYSFS, line + 7);
            return;
        }
    }
    gpu_set_null(d, GPU_F_DRIVER, GPU_SRC_SYSFS, "no_driver");
}

static bool
s_is_gpu(const char *dir, uint16_t *vendor, uint16_t *device, uint32_t *class_code)
{
    uint64_t v = 0, dv = 0, c = 0;
    if (s_attr_u64(dir, "vendor", &v) != 0 || s_attr_u64(dir, "class", &c) != 0) {
        return false;
    }
    if (v != 0x10de && v != 0x1002 && v != 0x8086) {
        return false;
    }
    uint32_t base = (uint32_t)(c >> 8);
    if (base != 0x0300 && base != 0x0302 && base != 0x0380) {
        return false;
    }
    (void)s_attr_u64(dir, "device", &dv);
    *vendor = (uint16_t)v;
    *device = (uint16_t)dv;
    *class_code = (uint32_t)c;
    return true;
}

static void
s_common(gpu_dev_t *d, const char *dir)
{
    char buf[64];
    s_driver(d, dir);
    if (s_attr(dir, "numa_node", buf, sizeof buf) == 0) {
        gpu_set_int(d, GPU_F_NUMA_NODE, GPU_SRC_SYSFS, strtoll(buf, NULL, 10));
    }
    if (s_attr(dir, "current_link_speed", buf, sizeof buf) == 0) {
        gpu_set_str(d, GPU_F_LINK_SPEED, GPU_SRC_SYSFS, buf);
    }
    uint64_t w = 0;
    if (s_attr_u64(dir, "current_link_width", &w) == 0) {
        gpu_set_uint(d, GPU_F_LINK_WIDTH, GPU_SRC_SYSFS, w);
    }
}

static void
s_add(gpu_inv_t *inv, const char *dir, const char *slot, uint16_t vendor, uint16_t device,
      uint32_t class_code)
{
    if (inv->n == GPU_MAX_DEVICES) {
        inv->truncated = true;
        return;
    }
    gpu_dev_t *d = &inv->dev[inv->n++];
    memset(d, 0, sizeof *d);
    snprintf(d->pci, sizeof d->pci, "%s", slot);
    snprintf(d->id, sizeof d->id, "%s", slot);
    d->vendor_id = vendor;
    d->device_id = device;
    d->class_code = class_code;
    d->found_by = GPU_SRC_SYSFS;
    s_common(d, dir);
    if (vendor == 0x1002) {
        s_amd(d, dir);
    } else if (vendor == 0x8086) {
        s_intel(d, dir);
    }
}

int
gpu_sysfs_scan(const char *sysfs_root, gpu_inv_t *inv, char *err, size_t errlen)
{
    char root[PATH_MAX];
    inv->n = 0;
    inv->truncated = false;
    snprintf(root, sizeof root, "%s/bus/pci/devices", sysfs_root);
    DIR *dh = opendir(root);
    if (!dh) {
        snprintf(err, errlen, "cannot read %s: %s", root, strerror(errno));
        return YARD_E_IO;
    }
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        char dir[PATH_MAX];
        uint16_t vendor, device;
        uint32_t class_code;
        if (e->d_name[0] == '.' || strlen(e->d_name) >= 16) {
            continue; /* a PCI slot is "DDDD:BB:DD.F" */
        }
        if (s_join(dir, sizeof dir, root, e->d_name) &&
            s_is_gpu(dir, &vendor, &device, &class_code)) {
            s_add(inv, dir, e->d_name, vendor, device, class_code);
        }
    }
    closedir(dh);
    gpu_inv_sort(inv);
    return 0;
}
