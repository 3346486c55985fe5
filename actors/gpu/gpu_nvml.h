/* NVIDIA GPUs through NVML, loaded with dlopen at run time: the actor has no link-time
 * dependency on NVIDIA's library, and builds and tests without any NVIDIA package (the tests
 * load a stub with the same exported functions, tests/fakes/nvml/).
 *
 * The few NVML types and functions used are declared in gpu_nvml.c from NVIDIA's documented
 * API (NVML API Reference, docs.nvidia.com/deploy/nvml-api/); no NVIDIA header is included.
 * A call that answers NOT_SUPPORTED (3) or NO_PERMISSION (4) makes that one field null with
 * the reason, never a failed scan; GPU_IS_LOST (15) marks the device lost.
 *
 * Not thread-safe: one replica's thread uses its handle. */
#ifndef GPU_NVML_H
#define GPU_NVML_H

#include "gpu_dev.h"

#include <stddef.h>

typedef struct gpu_nvml gpu_nvml_t;

/* dlopen()s lib (a file name the dynamic linker searches for, or a path), resolves the
 * functions and calls nvmlInit_v2 once. Returns 0 and sets *out (caller owns it; free with
 * gpu_nvml_destroy(), which calls nvmlShutdown), YARD_E_NOT_FOUND when the library cannot be
 * loaded or lacks a required function, or YARD_E_IO when nvmlInit_v2 fails; err says which. */
int gpu_nvml_open(const char *lib, gpu_nvml_t **out, char *err, size_t errlen);

/* nvmlShutdown, dlclose, free; sets *self_p to NULL (a NULL *self_p is fine). */
void gpu_nvml_destroy(gpu_nvml_t **self_p);

/* Fills the NVIDIA devices of inv from NVML, matched to sysfs by PCI bus id (NVML writes an
 * 8-digit domain, sysfs 4); a GPU NVML knows and sysfs did not list is added. The device id
 * becomes its UUID. Re-sorts inv. */
void gpu_nvml_fill(gpu_nvml_t *self, gpu_inv_t *inv);

#endif
