/* The gpu actor on fixture trees: the real H200 VM's files with the NVML stub answering
 * exactly what NVML answered there; without NVML (procfs fallback); with calls refused
 * (null fields, never a failed scan); AMD, Intel and mixed trees written from the kernel's
 * documented attributes; reports ordered by PCI address; labels; Prometheus text. */
#include "gpu_testutil.h"

#include "yard/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define H200      GT_FIXTURES "/nvidia-h200-vm"
#define H200_UUID "GPU-b411adcd-6361-8705-5406-d8cd8c595897"

static const msgpack_object *
s_gpu(const yh_json_t *doc, int i)
{
    char path[32];
    snprintf(path, sizeof path, "gpus.%d", i);
    const msgpack_object *g = yh_json_at(yh_json_root(doc), path);
    assert_non_null(g);
    return g;
}

/* fields.<name>.value / .source / .why of a GPU. */
static const char *
s_src(const msgpack_object *g, const char *field)
{
    char path[96];
    snprintf(path, sizeof path, "fields.%s.source", field);
    return yh_json_str(g, path);
}

static const msgpack_object *
s_val(const msgpack_object *g, const char *field)
{
    char path[96];
    snprintf(path, sizeof path, "fields.%s.value", field);
    return yh_json_at(g, path);
}

static const char *
s_why(const msgpack_object *g, const char *field)
{
    char path[96];
    snprintf(path, sizeof path, "fields.%s.why", field);
    return yh_json_str(g, path);
}

/* The value of a label (its key holds dots, which yh_json_at's paths split on). */
static const char *
s_label(const yh_json_t *doc, const char *key)
{
    const msgpack_object *l = yh_json_at(yh_json_root(doc), "labels");
    assert_non_null(l);
    for (uint32_t i = 0; i < l->via.map.size; i++) {
        const msgpack_object_kv *kv = &l->via.map.ptr[i];
        if (kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) == 0) {
            return yh_json_str(&kv->val, "");
        }
    }
    return NULL;
}

static void
s_str_field(const msgpack_object *g, const char *field, const char *value, const char *source)
{
    assert_string_equal(yh_json_str(s_val(g, field), ""), value);
    assert_string_equal(s_src(g, field), source);
}

static void
s_int_field(const msgpack_object *g, const char *field, int64_t value, const char *source)
{
    assert_int_equal(yh_json_int(s_val(g, field), ""), value);
    assert_string_equal(s_src(g, field), source);
}

static void
s_null_field(const msgpack_object *g, const char *field, const char *why, const char *source)
{
    assert_int_equal(yh_json_type(s_val(g, field), ""), MSGPACK_OBJECT_NIL);
    assert_string_equal(s_why(g, field), why);
    assert_string_equal(s_src(g, field), source);
}

/* Pointed at the H200 VM's files and the stub answering what its NVML answered, the actor
 * reports exactly that GPU with those values (nvml.txt, nvidia-smi.xml, sysfs). */
static void
test_h200_reported_exactly(void **state)
{
    (void)state;
    unsigned long inits = gt_stub_calls("nvmlInit_v2");
    unsigned long shutdowns = gt_stub_calls("nvmlShutdown");
    yard_actor_test_t *t = gt_start(H200, "h200.conf", NULL, "h200-vm", "60s", NULL);
    yh_json_t *doc = gt_call(t, "list", NULL);
    const msgpack_object *root = yh_json_root(doc);
    assert_string_equal(yh_json_str(root, "node"), "h200-vm");
    assert_int_equal(yh_json_bool(root, "nvml"), 1);
    assert_int_equal(yh_json_int(root, "count"), 1);
    const msgpack_object *g = s_gpu(doc, 0);
    assert_string_equal(yh_json_str(g, "id"), H200_UUID);
    assert_string_equal(yh_json_str(g, "pci"), "0000:00:06.0");
    assert_string_equal(yh_json_str(g, "vendor"), "nvidia");
    assert_string_equal(yh_json_str(g, "vendor_id"), "0x10de");
    assert_string_equal(yh_json_str(g, "device_id"), "0x2335");
    assert_string_equal(yh_json_str(g, "class"), "0x0302");
    assert_string_equal(yh_json_str(g, "source"), "sysfs");
    assert_int_equal(yh_json_bool(g, "lost"), 0);
    s_str_field(g, "name", "NVIDIA H200", "nvml");
    s_str_field(g, "uuid", H200_UUID, "nvml");
    s_str_field(g, "serial", "1653724049053", "nvml");
    s_str_field(g, "pci_bus_id", "00000000:00:06.0", "nvml");
    s_str_field(g, "driver", "nvidia", "sysfs");
    s_str_field(g, "driver_version", "580.159.04", "nvml");
    s_str_field(g, "nvml_version", "13.580.159.04", "nvml");
    s_int_field(g, "memory_total", 150754820096LL, "nvml");
    s_int_field(g, "memory_free", 150109880320LL, "nvml");
    s_int_field(g, "memory_used", 644939776, "nvml");
    s_int_field(g, "utilization_gpu", 0, "nvml");
    s_int_field(g, "utilization_memory", 0, "nvml");
    assert_true(fabs(yh_json_num(s_val(g, "temperature"), "") - 36.0) < 1e-9);
    assert_true(fabs(yh_json_num(s_val(g, "power"), "") - 78.391) < 1e-9); /* 78391 mW */
    s_null_field(g, "fan", "not_supported", "nvml"); /* a datacenter GPU has no fan */
    assert_int_equal(yh_json_bool(s_val(g, "mig_mode"), ""), 0);
    s_int_field(g, "numa_node", -1, "sysfs");
    s_str_field(g, "pcie_link_speed", "32.0 GT/s PCIe", "sysfs");
    s_int_field(g, "pcie_link_width", 16, "sysfs");
    assert_int_equal(yh_json_type(g, "fields.frequency"), -1); /* not read for NVIDIA */
    yh_json_destroy(&doc);

    /* get by UUID and by PCI slot; an unknown one is NOT_FOUND; a missing id BAD_REQUEST */
    doc = gt_call(t, "get", "{\"id\":\"" H200_UUID "\"}");
    assert_string_equal(yh_json_str(yh_json_root(doc), "gpu.pci"), "0000:00:06.0");
    assert_string_equal(yh_json_str(yh_json_root(doc), "node"), "h200-vm");
    yh_json_destroy(&doc);
    doc = gt_call(t, "get", "{\"id\":\"0000:00:06.0\"}");
    assert_string_equal(yh_json_str(yh_json_root(doc), "gpu.id"), H200_UUID);
    yh_json_destroy(&doc);
    assert_int_equal(gt_call_rc(t, "get", "{\"id\":\"0\"}"), YARD_E_NOT_FOUND); /* no index */
    assert_int_equal(gt_call_rc(t, "get", NULL), YARD_E_BAD_REQUEST);
    assert_int_equal(gt_call_rc(t, "get", "{\"id\":7}"), YARD_E_BAD_REQUEST);

    /* nvmlInit once for the actor's life, nvmlShutdown at stop */
    assert_int_equal(gt_stub_calls("nvmlInit_v2") - inits, 1);
    yard_actor_test_destroy(&t);
    assert_int_equal(gt_stub_calls("nvmlShutdown") - shutdowns, 1);
}

/* The figures agree with what nvidia-smi printed on the same machine (capture-report.txt):
 * 143771 MiB, 36 C, 78.39 W. */
static void
test_h200_agrees_with_nvidia_smi(void **state)
{
    (void)state;
    yard_actor_test_t *t = gt_start(H200, "h200.conf", NULL, "h200-vm", "60s", NULL);
    yh_json_t *doc = gt_call(t, "list", NULL);
    const msgpack_object *g = s_gpu(doc, 0);
    assert_int_equal(yh_json_int(s_val(g, "memory_total"), "") / (1024 * 1024), 143771);
    char text[64];
    snprintf(text, sizeof text, "%.2f", yh_json_num(s_val(g, "power"), ""));
    assert_string_equal(text, "78.39");
    yh_json_destroy(&doc);
    yard_actor_test_destroy(&t);
}

/* The H200 VM with NVML given by nvml_conf and nvml_lib (as gt_start takes them) failing:
 * list names the GPU from the driver's procfs, and says nvml: false with an nvml_error that
 * holds why (NULL: not checked). */
static void
s_procfs_h200(const char *nvml_conf, const char *nvml_lib, const char *why)
{
    yard_actor_test_t *t = gt_start(H200, nvml_conf, nvml_lib, "h200-vm", "60s", NULL);
    yh_json_t *doc = gt_call(t, "list", NULL);
    const msgpack_object *root = yh_json_root(doc);
    assert_int_equal(yh_json_bool(root, "nvml"), 0);
    assert_non_null(yh_json_str(root, "nvml_error"));
    assert_int_equal(yh_json_int(root, "count"), 1);
    const msgpack_object *g = s_gpu(doc, 0);
    assert_string_equal(yh_json_str(g, "id"), H200_UUID); /* keyed by UUID all the same */
    s_str_field(g, "name", "NVIDIA H200", "procfs");
    s_str_field(g, "uuid", H200_UUID, "procfs");
    s_str_field(g, "vbios", "96.00.a5.00.1a", "procfs");
    s_str_field(g, "driver_version", "580.159.04", "procfs");
    s_str_field(g, "driver", "nvidia", "sysfs");
    s_null_field(g, "memory_total", "nvml_unavailable", "nvml");
    s_null_field(g, "temperature", "nvml_unavailable", "nvml");
    s_null_field(g, "power", "nvml_unavailable", "nvml");
    if (why) {
        assert_non_null(strstr(yh_json_str(root, "nvml_error"), why));
    }
    yh_json_destroy(&doc);
    yard_actor_test_destroy(&t);
}

/* Without NVML (no library, or nvmlInit failing) the driver's procfs names the GPU, and the
 * report says nvml: false and why. */
static void
test_no_nvml_falls_back_to_procfs(void **state)
{
    (void)state;
    s_procfs_h200(NULL, "/nonexistent/libnvidia-ml.so.1", "cannot load");
    s_procfs_h200("init-fails.conf", NULL, "driver_not_loaded");
    s_procfs_h200(NULL, "", NULL); /* nvml_lib empty: NVML off */
}

/* NOT_SUPPORTED and NO_PERMISSION make that field null with the reason; the scan succeeds
 * and every other field is as recorded. */
static void
test_refused_calls_are_null_fields(void **state)
{
    (void)state;
    yard_actor_test_t *t = gt_start(H200, "h200-denied.conf", NULL, "h200-vm", "60s", NULL);
    yh_json_t *doc = gt_call(t, "list", NULL);
    assert_int_equal(yh_json_int(yh_json_root(doc), "count"), 1);
    assert_int_equal(yh_json_bool(yh_json_root(doc), "nvml"), 1);
    const msgpack_object *g = s_gpu(doc, 0);
    s_null_field(g, "serial", "no_permission", "nvml");
    s_null_field(g, "power", "no_permission", "nvml");
    s_null_field(g, "utilization_gpu", "not_supported", "nvml");
    s_null_field(g, "utilization_memory", "not_supported", "nvml");
    s_null_field(g, "mig_mode", "not_supported", "nvml");
    s_null_field(g, "fan", "not_supported", "nvml");
    s_int_field(g, "memory_total", 150754820096LL, "nvml");
    assert_true(fabs(yh_json_num(s_val(g, "temperature"), "") - 36.0) < 1e-9);
    s_str_field(g, "name", "NVIDIA H200", "nvml");
    assert_string_equal(yh_json_str(g, "id"), H200_UUID);
    yh_json_destroy(&doc);
    yard_actor_test_destroy(&t);
}

/* amdgpu's sysfs: product name, VRAM, busy percent, hwmon temperature (millidegrees) and
 * power (microwatts, power1_average, or power1_input where that is all there is). */
static void
test_amd_tree(void **state)
{
    (void)state;
    yard_actor_test_t *t = gt_start(GT_FIXTURES "/amd", NULL, "", "amd-node", "60s", NULL);
    yh_json_t *doc = gt_call(t, "list", NULL);
    assert_int_equal(yh_json_int(yh_json_root(doc), "count"), 2); /* the host bridge is not */
    const msgpack_object *rx = s_gpu(doc, 0), *mi = s_gpu(doc, 1);
    assert_string_equal(yh_json_str(rx, "pci"), "0000:03:00.0"); /* PCI order */
    assert_string_equal(yh_json_str(mi, "pci"), "0000:83:00.0");
    assert_string_equal(yh_json_str(mi, "id"), "0000:83:00.0"); /* keyed by slot */
    assert_string_equal(yh_json_str(mi, "vendor"), "amd");
    assert_string_equal(yh_json_str(mi, "class"), "0x0380");
    s_str_field(mi, "name", "AMD Instinct MI210", "sysfs");
    s_str_field(mi, "driver", "amdgpu", "sysfs");
    s_int_field(mi, "memory_total", 68702699520LL, "sysfs");
    s_int_field(mi, "memory_used", 12582912, "sysfs");
    s_int_field(mi, "memory_free", 68702699520LL - 12582912, "sysfs");
    s_int_field(mi, "utilization_gpu", 7, "sysfs");
    assert_true(fabs(yh_json_num(s_val(mi, "temperature"), "") - 41.0) < 1e-9);
    assert_true(fabs(yh_json_num(s_val(mi, "power"), "") - 43.0) < 1e-9);
    assert_string_equal(s_src(mi, "power"), "sysfs");
    s_int_field(mi, "numa_node", 1, "sysfs");
    s_null_field(rx, "name", "not_exposed", "sysfs"); /* no FRU EEPROM on a Radeon */
    assert_true(fabs(yh_json_num(s_val(rx, "power"), "") - 38.25) < 1e-9);
    s_int_field(rx, "utilization_gpu", 23, "sysfs");
    assert_int_equal(yh_json_type(mi, "fields.uuid"), -1); /* not an NVIDIA field */
    yh_json_destroy(&doc);
    yard_actor_test_destroy(&t);
}

/* i915 (gt_cur_freq_mhz on the DRM card) and xe (tile0/gt0/freq0): presence, frequency;
 * utilisation null, because neither driver has it in sysfs. */
static void
test_intel_tree(void **state)
{
    (void)state;
    yard_actor_test_t *t = gt_start(GT_FIXTURES "/intel", NULL, "", "intel-node", "60s", NULL);
    yh_json_t *doc = gt_call(t, "list", NULL);
    assert_int_equal(yh_json_int(yh_json_root(doc), "count"), 2);
    const msgpack_object *igpu = s_gpu(doc, 0), *arc = s_gpu(doc, 1);
    assert_string_equal(yh_json_str(igpu, "pci"), "0000:00:02.0");
    assert_string_equal(yh_json_str(igpu, "vendor"), "intel");
    s_str_field(igpu, "driver", "i915", "sysfs");
    s_int_field(igpu, "frequency", 350, "sysfs");
    s_int_field(igpu, "frequency_max", 1450, "sysfs");
    s_null_field(igpu, "utilization_gpu", "not_exposed", "sysfs");
    assert_string_equal(yh_json_str(arc, "pci"), "0000:03:00.0");
    s_str_field(arc, "driver", "xe", "sysfs");
    s_int_field(arc, "frequency", 2850, "sysfs");
    s_int_field(arc, "frequency_max", 2850, "sysfs");
    s_null_field(arc, "utilization_gpu", "not_exposed", "sysfs");
    yh_json_destroy(&doc);
    yard_actor_test_destroy(&t);
}

/* Intel, NVIDIA (one through NVML, one through procfs), AMD and a BMC's VGA (not a GPU
 * vendor): four GPUs, ordered by PCI address across domains, each field from its source. */
static void
test_mixed_tree_ordered_by_pci(void **state)
{
    (void)state;
    yard_actor_test_t *t = gt_start(GT_FIXTURES "/mixed", "mixed.conf", NULL, "mixed", "60s", NULL);
    yh_json_t *doc = gt_call(t, "list", NULL);
    assert_int_equal(yh_json_int(yh_json_root(doc), "count"), 4);
    static const char *const order[] = {"0000:00:02.0", "0000:41:00.0", "0000:c1:00.0",
                                        "0001:01:00.0"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(yh_json_str(s_gpu(doc, i), "pci"), order[i]);
    }
    const msgpack_object *l40s = s_gpu(doc, 1), *a100 = s_gpu(doc, 3);
    assert_string_equal(yh_json_str(l40s, "id"), "GPU-5f2c6a51-0d3e-4b8a-9c1e-2a7b3c4d5e6f");
    s_str_field(l40s, "name", "NVIDIA L40S", "nvml");
    s_int_field(l40s, "utilization_gpu", 12, "nvml");
    assert_string_equal(yh_json_str(a100, "id"), "GPU-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
    s_str_field(a100, "name", "NVIDIA A100-SXM4-80GB", "procfs");
    s_str_field(a100, "driver_version", "550.127.05", "procfs");
    s_null_field(a100, "memory_total", "not_listed_by_nvml", "nvml"); /* excluded from NVML */
    assert_string_equal(yh_json_str(s_gpu(doc, 2), "vendor"), "amd");
    assert_string_equal(yh_json_str(s_gpu(doc, 0), "vendor"), "intel");
    yh_json_destroy(&doc);

    doc = gt_call(t, "labels", NULL);
    assert_string_equal(s_label(doc, "gpu.count"), "4");
    assert_string_equal(s_label(doc, "gpu.nvidia.count"), "2");
    assert_string_equal(s_label(doc, "gpu.amd.count"), "1");
    assert_string_equal(s_label(doc, "gpu.intel.count"), "1");
    assert_string_equal(s_label(doc, "pci-0300_8086.present"), "true");
    assert_string_equal(s_label(doc, "pci-0380_1002.present"), "true");
    assert_null(s_label(doc, "pci-0300_1a03.present")); /* the BMC's VGA is no GPU */
    yh_json_destroy(&doc);
    yard_actor_test_destroy(&t);
}

/* node-feature-discovery style labels, and the same as key=value lines. */
static void
test_labels(void **state)
{
    (void)state;
    yard_actor_test_t *t = gt_start(H200, "h200.conf", NULL, "h200-vm", "60s", NULL);
    yh_json_t *doc = gt_call(t, "labels", NULL);
    const msgpack_object *root = yh_json_root(doc);
    assert_string_equal(yh_json_str(root, "node"), "h200-vm");
    const char *text = yh_json_str(root, "text");
    assert_non_null(text);
    static const char *const lines[] = {
        "pci-0302_10de.present=true\n",
        "gpu.product=NVIDIA-H200\n",
        "gpu.memory=143771\n",
        "gpu.count=1\n",
        "gpu.nvidia.count=1\n",
        "gpu.driver-version=580.159.04\n",
        "gpu.nvml=true\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        assert_non_null(strstr(text, lines[i]));
    }
    assert_int_equal(yh_json_count(root, "labels"), 7);
    assert_string_equal(s_label(doc, "gpu.product"), "NVIDIA-H200");
    assert_string_equal(s_label(doc, "gpu.memory"), "143771");
    yh_json_destroy(&doc);
    yard_actor_test_destroy(&t);
}

/* Prometheus text: the gauges read, and a series for each field that could not be. */
static void
test_metrics_text(void **state)
{
    (void)state;
    yard_actor_test_t *t = gt_start(H200, "h200.conf", NULL, "h200-vm", "60s", NULL);
    /* one msgpack string, with the content type the gateway serves it under */
    yard_request_t *req = yard_actor_test_call(t, "metrics", NULL, 0);
    const void *out = NULL;
    size_t size = 0;
    assert_int_equal(yard_request_outcome_test(req, &out, &size, NULL), 0);
    assert_string_equal(yard_request_answer_header_test(req, "http.header.Content-Type"),
                        "text/plain; version=0.0.4");
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object o;
    assert_int_equal(msgpack_unpack(out, size, NULL, &zone, &o), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(o.type, MSGPACK_OBJECT_STR);
    char *text = calloc(1, o.via.str.size + 1); /* not strndup: the bytes are not a C string */
    memcpy(text, o.via.str.ptr, o.via.str.size);
    msgpack_zone_destroy(&zone);
    yard_request_destroy_test(&req);
#define IDS "node=\"h200-vm\",id=\"" H200_UUID "\",pci=\"0000:00:06.0\""
    static const char *const lines[] = {
        "gpu_count{node=\"h200-vm\"} 1\n",
        "gpu_nvml_up{node=\"h200-vm\"} 1\n",
        "# TYPE gpu_memory_total_bytes gauge\n",
        "gpu_memory_total_bytes{" IDS "} 150754820096\n",
        "gpu_memory_used_bytes{" IDS "} 644939776\n",
        "gpu_temperature_celsius{" IDS "} 36\n",
        "gpu_power_watts{" IDS "} 78.391\n",
        "gpu_utilization_percent{" IDS "} 0\n",
        "gpu_info{" IDS ",vendor=\"nvidia\",device_id=\"0x2335\",name=\"NVIDIA H200\","
        "driver=\"nvidia\"} 1\n",
        "gpu_lost{" IDS "} 0\n",
        "gpu_field_unavailable{" IDS ",field=\"fan\",source=\"nvml\",reason=\"not_supported\"} 1\n",
    };
#undef IDS
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!strstr(text, lines[i])) {
            fail_msg("missing line: %s\nin:\n%s", lines[i], text);
        }
    }
    assert_null(strstr(text, "gpu_fan_percent{")); /* unreadable: no made-up zero */
    free(text);
    yard_actor_test_destroy(&t);
}

/* A sysfs root that does not exist fails the request with the folder named, not a crash or
 * an empty inventory. */
static void
test_missing_sysfs_fails_clearly(void **state)
{
    (void)state;
    yard_actor_test_t *t = gt_start("/nonexistent-root", NULL, "", "n", "60s", NULL);
    assert_int_equal(gt_call_rc(t, "list", NULL), YARD_E_IO);
    yard_actor_test_destroy(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h200_reported_exactly),
        cmocka_unit_test(test_h200_agrees_with_nvidia_smi),
        cmocka_unit_test(test_no_nvml_falls_back_to_procfs),
        cmocka_unit_test(test_refused_calls_are_null_fields),
        cmocka_unit_test(test_amd_tree),
        cmocka_unit_test(test_intel_tree),
        cmocka_unit_test(test_mixed_tree_ordered_by_pci),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_missing_sysfs_fails_clearly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
