/* Test helpers of the gpu actor (gpu_testutil.h). */
#include "gpu_testutil.h"

#include "yard/json.h"
#include "yard/registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

yard_actor_test_t *
gt_start(const char *root, const char *stub_conf, const char *lib, const char *node,
         const char *interval, const char *watch)
{
    char conf[1024], yaml[4096];
    if (stub_conf) {
        if (stub_conf[0] == '/') {
            snprintf(conf, sizeof conf, "%s", stub_conf);
        } else {
            snprintf(conf, sizeof conf, "%s/stub/%s", GT_FIXTURES, stub_conf);
        }
        setenv("YARD_NVML_STUB", conf, 1);
    } else {
        unsetenv("YARD_NVML_STUB");
    }
    snprintf(yaml, sizeof yaml,
             "gpu:\n  sysfs_root: \"%s/sys\"\n  procfs_root: \"%s/proc\"\n  nvml_lib: \"%s\"\n"
             "  node: %s\n  interval: %s\n  watch: %s\n",
             root, root, lib ? lib : GT_STUB, node, interval, watch ? watch : "5s");
    yard_actor_test_t *t = NULL;
    assert_int_equal(yard_actor_test_new(yard_registry_find("gpu"), yaml, &t), 0);
    return t;
}

static yh_json_t *
s_json(const void *data, size_t size)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(yard_json_from_msgpack(data, size, &text, &len, NULL, 0), 0);
    yh_json_t *doc = yh_json_parse(text, len);
    free(text);
    assert_non_null(doc);
    return doc;
}

static yard_request_t *
s_call(yard_actor_test_t *t, const char *op, const char *json)
{
    void *body = NULL;
    size_t size = 0;
    if (json) {
        assert_int_equal(yard_json_to_msgpack(json, strlen(json), &body, &size, NULL, 0), 0);
    }
    yard_request_t *req = yard_actor_test_call(t, op, body, size);
    free(body);
    return req;
}

yh_json_t *
gt_call(yard_actor_test_t *t, const char *op, const char *json)
{
    yard_request_t *req = s_call(t, op, json);
    const void *out = NULL;
    size_t size = 0;
    assert_int_equal(yard_request_outcome_test(req, &out, &size, NULL), 0);
    yh_json_t *doc = s_json(out, size);
    yard_request_destroy_test(&req);
    return doc;
}

int
gt_call_rc(yard_actor_test_t *t, const char *op, const char *json)
{
    yard_request_t *req = s_call(t, op, json);
    int rc = yard_request_outcome_test(req, NULL, NULL, NULL);
    yard_request_destroy_test(&req);
    return rc;
}

yh_json_t *
gt_event(yard_actor_test_t *t, size_t i, const char **subject)
{
    const void *body = NULL;
    size_t size = 0;
    assert_true(i < yard_actor_test_published(t, i, subject, &body, &size));
    return s_json(body, size);
}

size_t
gt_count(yard_actor_test_t *t, size_t from, const char *subject)
{
    size_t n = 0, total = yard_actor_test_published(t, 0, NULL, NULL, NULL);
    for (size_t i = from; i < total; i++) {
        const char *s = NULL;
        yard_actor_test_published(t, i, &s, NULL, NULL);
        n += strcmp(s, subject) == 0;
    }
    return n;
}

static bool
s_published(void *arg)
{
    return yard_actor_test_published(arg, 0, NULL, NULL, NULL) > 0;
}

void
gt_wait_detector(yard_actor_test_t *t)
{
    assert_int_equal(yard_actor_test_run(t, 5000, s_published, t), 0);
}

unsigned long
gt_stub_calls(const char *name)
{
    static void *dl;
    if (!dl) {
        dl = dlopen(GT_STUB, RTLD_NOW | RTLD_LOCAL);
        assert_non_null(dl);
    }
    unsigned long (*fn)(const char *) = NULL;
    *(void **)&fn = dlsym(dl, "yard_nvml_stub_calls");
    assert_non_null(fn);
    return fn(name);
}

void
gt_copy_tree(const char *src, const char *dst)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", src, dst);
    assert_int_equal(system(cmd), 0);
}
