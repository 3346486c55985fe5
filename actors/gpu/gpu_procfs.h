/* NVIDIA GPUs without NVML: the driver's procfs (<procfs_root>/driver/nvidia/), which the
 * kernel module writes whether or not the user-space library is installed. It gives the
 * model, UUID and VBIOS per GPU (gpus/<slot>/information) and the driver version (version);
 * the figures NVML would read (memory, utilisation, temperature, power) become null with
 * the reason given: "nvml_unavailable" (no NVML) or "not_listed_by_nvml" (NVML is there but
 * does not list this GPU, e.g. one excluded with NVreg_ExcludedGpus). */
#ifndef GPU_PROCFS_H
#define GPU_PROCFS_H

#include "gpu_dev.h"

/* Fills each NVIDIA device of inv that NVML did not (its uuid does not come from NVML); the
 * device id becomes the UUID when procfs gives one. Re-sorts nothing (ids change, slots do
 * not). */
void gpu_procfs_fill(const char *procfs_root, gpu_inv_t *inv, const char *why);

#endif
