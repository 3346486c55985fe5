/* GPU discovery from sysfs: the PCI devices under <sysfs_root>/bus/pci/devices whose vendor
 * is NVIDIA (0x10de), AMD (0x1002) or Intel (0x8086) and whose class is a display controller
 * (0x0300 VGA, 0x0302 3D, 0x0380 other), with what sysfs itself says about each: the driver
 * bound (from uevent, so the `driver` symlink is not needed), NUMA node, PCIe link, and the
 * vendor attributes of amdgpu (VRAM, busy percent, hwmon temperature and power, product name)
 * and of i915 / xe (frequency). NVIDIA's driver exposes its figures through NVML instead
 * (gpu_nvml.h) or procfs (gpu_procfs.h). */
#ifndef GPU_SYSFS_H
#define GPU_SYSFS_H

#include "gpu_dev.h"

#include <stddef.h>

/* Replaces inv's devices with the ones found (ordered by PCI address; ids are the PCI slots
 * until NVML names a UUID). A device attribute that cannot be read becomes a null field with
 * its reason; only an unreadable devices folder fails the scan: then returns YARD_E_IO with
 * err naming the folder, and inv holds no devices. */
int gpu_sysfs_scan(const char *sysfs_root, gpu_inv_t *inv, char *err, size_t errlen);

/* Reads a small text file (at most cap - 1 bytes, NUL-terminated, trailing white space
 * dropped). Returns 0, or a negative errno. */
int gpu_read_text(const char *path, char *buf, size_t cap);

/* The reason a failed read gives a field: "not_exposed" (ENOENT), "no_permission" (EACCES,
 * EPERM) or "unreadable". Static storage. */
const char *gpu_read_why(int rc);

#endif
