/* The gpu actor's events on a fake clock: hot-plug in a temp copy of a fixture (a GPU added,
 * then removed) published within one interval, driver and memory changes, a GPU lost and
 * back, gpu.metrics every interval, and 1,000 scan cycles against the NVML stub (no leak under
 * ASan/LSan, nvmlInit once). */
#include "gpu_testutil.h"

#include "harness.h"
#include "yard/error.h"
#include "yard/registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTERVAL_MS 10000

static size_t
s_total(yard_actor_test_t *t)
{
    return yard_actor_test_published(t, 0, NULL, NULL, NULL);
}

/* The last event with this subject from index from on, as JSON (asserts there is one). */
static yh_json_t *
s_last(yard_actor_test_t *t, size_t from, const char *subject)
{
    for (size_t i = s_total(t); i > from; i--) {
        const char *s = NULL;
        yard_actor_test_published(t, i - 1, &s, NULL, NULL);
        if (strcmp(s, subject) == 0) {
            return gt_event(t, i - 1, &s);
        }
    }
    fail_msg("no %s event", subject);
    return NULL;
}

static void
s_write(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    yh_write_file(path, text);
}

/* A GPU appears in the tree and is published at the next scan (one interval), then goes and
 * is published as removed; the same for a driver rebind and a VRAM size change; the scan op
 * publishes at once. Every event names the node. */
static void
test_hotplug_within_one_interval(void **state)
{
    (void)state;
    char *tmp = yh_tmpdir();
    char root[512], devs[600], added[700];
    snprintf(root, sizeof root, "%s/amd", tmp);
    gt_copy_tree(GT_FIXTURES "/amd", root);
    snprintf(devs, sizeof devs, "%s/sys/bus/pci/devices", root);
    yard_actor_test_t *t =
        gt_start(root, NULL, "", "amd-node", "10s", "0"); /* the interval alone */
    gt_wait_detector(t); /* the detector's first scan announces what it found */
    assert_int_equal(gt_count(t, 0, "gpu.added"), 2);
    yh_json_t *ev = s_last(t, 0, "gpu.added");
    assert_string_equal(yh_json_str(yh_json_root(ev), "node"), "amd-node");
    yh_json_destroy(&ev);

    /* added: published by the scan one interval later, not before */
    size_t n0 = s_total(t);
    snprintf(added, sizeof added, "%s/0000:05:00.0", devs);
    char src[700];
    snprintf(src, sizeof src, "%s/0000:03:00.0", devs);
    gt_copy_tree(src, added);
    yard_actor_test_advance(t, INTERVAL_MS - 1);
    assert_int_equal(gt_count(t, n0, "gpu.added"), 0);
    yard_actor_test_advance(t, 1);
    assert_int_equal(gt_count(t, n0, "gpu.added"), 1);
    assert_int_equal(gt_count(t, n0, "gpu.metrics"), 1);
    ev = s_last(t, n0, "gpu.added");
    assert_string_equal(yh_json_str(yh_json_root(ev), "pci"), "0000:05:00.0");
    assert_string_equal(yh_json_str(yh_json_root(ev), "id"), "0000:05:00.0");
    assert_string_equal(yh_json_str(yh_json_root(ev), "node"), "amd-node");
    assert_string_equal(yh_json_str(yh_json_root(ev), "gpu.vendor"), "amd");
    yh_json_destroy(&ev);
    ev = s_last(t, n0, "gpu.metrics");
    assert_int_equal(yh_json_count(yh_json_root(ev), "gpus"), 3);
    assert_string_equal(yh_json_str(yh_json_root(ev), "node"), "amd-node");
    yh_json_destroy(&ev);

    /* removed */
    n0 = s_total(t);
    yh_rmtree(added);
    yard_actor_test_advance(t, INTERVAL_MS);
    assert_int_equal(gt_count(t, n0, "gpu.removed"), 1);
    assert_int_equal(gt_count(t, n0, "gpu.added"), 0);
    ev = s_last(t, n0, "gpu.removed");
    assert_string_equal(yh_json_str(yh_json_root(ev), "pci"), "0000:05:00.0");
    yh_json_destroy(&ev);

    /* driver rebound (to vfio-pci for a VM) and VRAM size changed: gpu.changed */
    char mi[700];
    snprintf(mi, sizeof mi, "%s/0000:83:00.0", devs);
    n0 = s_total(t);
    s_write(mi, "uevent", "DRIVER=vfio-pci\nPCI_CLASS=38000\n");
    s_write(mi, "mem_info_vram_total", "34351349760\n");
    yard_actor_test_advance(t, INTERVAL_MS);
    assert_int_equal(gt_count(t, n0, "gpu.changed"), 2);
    ev = gt_event(t, n0, NULL);
    assert_string_equal(yh_json_str(yh_json_root(ev), "what"), "memory");
    assert_int_equal(yh_json_int(yh_json_root(ev), "from"), 68702699520LL);
    assert_int_equal(yh_json_int(yh_json_root(ev), "to"), 34351349760LL);
    yh_json_destroy(&ev);
    ev = gt_event(t, n0 + 1, NULL);
    assert_string_equal(yh_json_str(yh_json_root(ev), "what"), "driver");
    assert_string_equal(yh_json_str(yh_json_root(ev), "from.driver"), "amdgpu");
    assert_string_equal(yh_json_str(yh_json_root(ev), "to.driver"), "vfio-pci");
    assert_string_equal(yh_json_str(yh_json_root(ev), "id"), "0000:83:00.0");
    yh_json_destroy(&ev);

    /* nothing changed: only metrics */
    n0 = s_total(t);
    yard_actor_test_advance(t, INTERVAL_MS);
    assert_int_equal(s_total(t) - n0, 1);
    assert_int_equal(gt_count(t, n0, "gpu.metrics"), 1);

    /* the scan op (a udev hook) publishes at once, without waiting for the interval */
    n0 = s_total(t);
    gt_copy_tree(src, added);
    yh_json_t *doc = gt_call(t, "scan", NULL);
    assert_int_equal(yh_json_int(yh_json_root(doc), "count"), 3);
    yh_json_destroy(&doc);
    assert_int_equal(gt_count(t, n0, "gpu.added"), 1);

    yard_actor_test_destroy(&t);
    yh_rmtree(tmp);
    free(tmp);
}

/* The watch (every second here, 5 s by default) sees a GPU added, rebound or removed in sysfs
 * and publishes at once, long before the minute's interval; when nothing changed it makes no
 * NVML call and publishes nothing (metrics stay on the interval). */
static void
test_watch_publishes_at_once(void **state)
{
    (void)state;
    char *tmp = yh_tmpdir();
    char root[512], added[700], src[700];
    snprintf(root, sizeof root, "%s/h200", tmp);
    gt_copy_tree(GT_FIXTURES "/nvidia-h200-vm", root);
    yard_actor_test_t *t = gt_start(root, "h200.conf", NULL, "h200-vm", "60s", "1s");
    gt_wait_detector(t);
    size_t n0 = s_total(t);
    unsigned long counts = gt_stub_calls("nvmlDeviceGetCount_v2");
    yard_actor_test_advance(t, 10000); /* ten looks, nothing changed */
    assert_int_equal(s_total(t), n0);
    assert_int_equal(gt_stub_calls("nvmlDeviceGetCount_v2"), counts);

    /* an AMD card hot-plugged next to the H200 */
    snprintf(src, sizeof src, "%s/amd/sys/bus/pci/devices/0000:83:00.0", GT_FIXTURES);
    snprintf(added, sizeof added, "%s/sys/bus/pci/devices/0000:83:00.0", root);
    gt_copy_tree(src, added);
    yard_actor_test_advance(t, 1000);
    assert_int_equal(gt_count(t, n0, "gpu.added"), 1);
    assert_int_equal(gt_count(t, n0, "gpu.metrics"), 0);
    yh_json_t *ev = s_last(t, n0, "gpu.added");
    assert_string_equal(yh_json_str(yh_json_root(ev), "pci"), "0000:83:00.0");
    yh_json_destroy(&ev);

    /* the H200 handed to vfio-pci for a VM: gpu.changed {what: driver} at once */
    char dev[700];
    n0 = s_total(t);
    snprintf(dev, sizeof dev, "%s/sys/bus/pci/devices/0000:00:06.0", root);
    s_write(dev, "uevent", "DRIVER=vfio-pci\nPCI_CLASS=30200\n");
    yard_actor_test_advance(t, 1000);
    assert_int_equal(gt_count(t, n0, "gpu.changed"), 1);
    ev = s_last(t, n0, "gpu.changed");
    assert_string_equal(yh_json_str(yh_json_root(ev), "what"), "driver");
    assert_string_equal(yh_json_str(yh_json_root(ev), "to.driver"), "vfio-pci");
    assert_string_equal(yh_json_str(yh_json_root(ev), "id"),
                        "GPU-b411adcd-6361-8705-5406-d8cd8c595897");
    yh_json_destroy(&ev);

    /* the AMD card pulled */
    n0 = s_total(t);
    yh_rmtree(added);
    yard_actor_test_advance(t, 1000);
    assert_int_equal(gt_count(t, n0, "gpu.removed"), 1);
    yard_actor_test_destroy(&t);
    yh_rmtree(tmp);
    free(tmp);
}

/* NVML answers GPU_IS_LOST: gpu.changed {what: lost, to: true} at the next scan, with the
 * figures null ("gpu_lost"); when it answers again, {what: lost, to: false}. */
static void
test_gpu_lost_and_back(void **state)
{
    (void)state;
    char *tmp = yh_tmpdir();
    char conf[512], text[8192];
    snprintf(conf, sizeof conf, "%s/nvml.conf", tmp);
    FILE *f = fopen(GT_FIXTURES "/stub/h200.conf", "r");
    assert_non_null(f);
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    yh_write_file(conf, text);
    yard_actor_test_t *t =
        gt_start(GT_FIXTURES "/nvidia-h200-vm", conf, NULL, "h200-vm", "10s", NULL);
    gt_wait_detector(t);
    assert_int_equal(gt_count(t, 0, "gpu.added"), 1);

    char lost[8300];
    const char *m = strstr(text, "mem 0 ");
    assert_non_null(m);
    snprintf(lost, sizeof lost, "%.*smem 15 %s", (int)(m - text), text, m + 6); /* GPU_IS_LOST */
    yh_write_file(conf, lost);
    size_t n0 = s_total(t);
    yard_actor_test_advance(t, INTERVAL_MS);
    assert_int_equal(gt_count(t, n0, "gpu.changed"), 1);
    yh_json_t *ev = s_last(t, n0, "gpu.changed");
    const msgpack_object *r = yh_json_root(ev);
    assert_string_equal(yh_json_str(r, "what"), "lost");
    assert_int_equal(yh_json_bool(r, "from"), 0);
    assert_int_equal(yh_json_bool(r, "to"), 1);
    assert_string_equal(yh_json_str(r, "id"), "GPU-b411adcd-6361-8705-5406-d8cd8c595897");
    assert_string_equal(yh_json_str(r, "gpu.fields.memory_total.why"), "gpu_lost");
    assert_int_equal(yh_json_bool(r, "gpu.lost"), 1);
    yh_json_destroy(&ev);

    yh_write_file(conf, text);
    n0 = s_total(t);
    yard_actor_test_advance(t, INTERVAL_MS);
    assert_int_equal(gt_count(t, n0, "gpu.changed"), 1);
    ev = s_last(t, n0, "gpu.changed");
    assert_int_equal(yh_json_bool(yh_json_root(ev), "to"), 0);
    yh_json_destroy(&ev);

    /* lost before NVML can even name its bus (the handle answers GPU_IS_LOST): the GPU sysfs
     * lists and NVML did not answer for is the lost one, still keyed by its UUID (procfs) */
    const char *h = strstr(text, "handle 0");
    assert_non_null(h);
    snprintf(lost, sizeof lost, "%.*shandle 15%s", (int)(h - text), text, h + 8);
    yh_write_file(conf, lost);
    n0 = s_total(t);
    yard_actor_test_advance(t, INTERVAL_MS);
    assert_int_equal(gt_count(t, n0, "gpu.changed"), 1);
    ev = s_last(t, n0, "gpu.changed");
    r = yh_json_root(ev);
    assert_string_equal(yh_json_str(r, "what"), "lost");
    assert_int_equal(yh_json_bool(r, "to"), 1);
    assert_string_equal(yh_json_str(r, "id"), "GPU-b411adcd-6361-8705-5406-d8cd8c595897");
    assert_string_equal(yh_json_str(r, "gpu.fields.name.source"), "procfs");
    assert_string_equal(yh_json_str(r, "gpu.fields.memory_total.why"), "gpu_lost");
    yh_json_destroy(&ev);
    yard_actor_test_destroy(&t);
    yh_rmtree(tmp);
    free(tmp);
}

/* 1,000 scan cycles against the stub: a gpu.metrics per interval, no change events, NVML
 * initialised once, and (under the sanitizer pass) no leak. */
static void
test_thousand_cycles(void **state)
{
    (void)state;
    unsigned long inits = gt_stub_calls("nvmlInit_v2");
    unsigned long counts = gt_stub_calls("nvmlDeviceGetCount_v2");
    yard_actor_test_t *t =
        gt_start(GT_FIXTURES "/nvidia-h200-vm", "h200.conf", NULL, "h200-vm", "1s", NULL);
    gt_wait_detector(t);
    size_t n0 = s_total(t);
    long long t0 = yh_now_ms();
    for (int i = 0; i < 1000; i++) {
        yard_actor_test_advance(t, 1000);
    }
    long long took = yh_now_ms() - t0;
    assert_int_equal(gt_count(t, n0, "gpu.metrics"), 1000);
    assert_int_equal(s_total(t) - n0, 1000); /* nothing else: no change was made */
    assert_int_equal(gt_stub_calls("nvmlInit_v2") - inits, 1);
    assert_true(gt_stub_calls("nvmlDeviceGetCount_v2") - counts >= 1001);
    yh_json_t *ev = s_last(t, n0, "gpu.metrics");
    assert_int_equal(yh_json_int(yh_json_root(ev), "gpus.0.memory_used"), 644939776);
    yh_json_destroy(&ev);
    print_message("1000 scans in %lld ms (%.3f ms a scan)\n", took, (double)took / 1000.0);
    yard_actor_test_destroy(&t);
}

static bool
s_any_published(void *arg)
{
    return yard_actor_test_published(arg, 0, NULL, NULL, NULL) > 0;
}

/* Two detectors of one node on one Redis: one holds the lease "gpu:detector:<node>" and
 * publishes, the other stays quiet (checked over a second of real time, six lease renewal
 * rounds of neither taking it); another node's detector publishes for its own node; when the
 * holder stops, the other takes over and announces the inventory. Skips without
 * redis-server. */
static void
test_one_detector_per_node(void **state)
{
    (void)state;
    int port = 0;
    char *dir = NULL;
    pid_t redis = yh_redis_start(&port, &dir);
    if (redis <= 0) {
        skip();
    }
    char yaml[2048];
    yard_actor_test_t *t[3];
    static const char *const nodes[3] = {"node-a", "node-a", "node-b"};
    for (int i = 0; i < 3; i++) {
        snprintf(yaml, sizeof yaml,
                 "store: redis://127.0.0.1:%d/0\ngpu:\n  sysfs_root: \"%s/amd/sys\"\n"
                 "  procfs_root: /nonexistent\n  nvml_lib: \"\"\n  node: %s\n",
                 port, GT_FIXTURES, nodes[i]);
        assert_int_equal(yard_actor_test_new(yard_registry_find("gpu"), yaml, &t[i]), 0);
    }
    gt_wait_detector(t[0]);
    gt_wait_detector(t[2]); /* node-b has its own detector */
    assert_int_equal(yard_actor_test_run(t[1], 1000, s_any_published, t[1]), YARD_E_TIMEOUT);
    assert_int_equal(s_total(t[1]), 0);
    assert_int_equal(gt_count(t[0], 0, "gpu.added"), 2);
    yh_json_t *ev = s_last(t[2], 0, "gpu.added");
    assert_string_equal(yh_json_str(yh_json_root(ev), "node"), "node-b");
    yh_json_destroy(&ev);
    /* the non-detector still answers, from a scan of its own */
    yh_json_t *doc = gt_call(t[1], "list", NULL);
    assert_int_equal(yh_json_int(yh_json_root(doc), "count"), 2);
    assert_string_equal(yh_json_str(yh_json_root(doc), "node"), "node-a");
    yh_json_destroy(&doc);
    assert_int_equal(s_total(t[1]), 0);

    yard_actor_test_destroy(&t[0]); /* releases the lease on drain */
    assert_int_equal(yard_actor_test_run(t[1], 15000, s_any_published, t[1]), 0);
    assert_int_equal(gt_count(t[1], 0, "gpu.added"), 2);
    yard_actor_test_destroy(&t[1]);
    yard_actor_test_destroy(&t[2]);
    yh_redis_stop(redis, dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hotplug_within_one_interval),
        cmocka_unit_test(test_watch_publishes_at_once),
        cmocka_unit_test(test_gpu_lost_and_back),
        cmocka_unit_test(test_thousand_cycles),
        cmocka_unit_test(test_one_detector_per_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
