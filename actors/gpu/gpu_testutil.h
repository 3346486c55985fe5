/* Test helpers shared by the gpu actor's tests: start the actor on a fixture tree (and the
 * NVML stub with a chosen answer file), call an op and read the reply as JSON, read the
 * published events. */
#ifndef GPU_TESTUTIL_H
#define GPU_TESTUTIL_H

#include "json_doc.h"
#include "yard/actor_test.h"

#include <stdbool.h>
#include <stdint.h>

/* The fixture folder (tests/fixtures/gpu) and the stub library's path, from the build. */
#define GT_FIXTURES GPU_FIXTURES
#define GT_STUB     GPU_NVML_STUB

/* Starts the gpu actor on sysfs <root>/sys and procfs <root>/proc, node "node", the given
 * interval ("10s") and watch (NULL: the default), NVML from lib (NULL: the stub) answering what
 * stub_conf says (a file in tests/fixtures/gpu/stub/, or an absolute path; NULL: none). Asserts it
 * started. Caller owns the result; free with yard_actor_test_destroy(). */
yard_actor_test_t *gt_start(const char *root, const char *stub_conf, const char *lib,
                            const char *node, const char *interval, const char *watch);

/* Calls op with a JSON body (NULL: none), asserts it succeeded, and returns the reply as a
 * JSON document (caller owns it; free with yh_json_destroy()). */
yh_json_t *gt_call(yard_actor_test_t *t, const char *op, const char *json);

/* Calls op and returns its outcome: 0 or the error. */
int gt_call_rc(yard_actor_test_t *t, const char *op, const char *json);

/* Event i as JSON (caller owns it) with its subject in *subject (borrowed). */
yh_json_t *gt_event(yard_actor_test_t *t, size_t i, const char **subject);

/* How many events with this subject were published from index from on. */
size_t gt_count(yard_actor_test_t *t, size_t from, const char *subject);

/* Turns the loop until the detector's lease is held and its first scan published (at least
 * one event), or fails the test after 5 s. */
void gt_wait_detector(yard_actor_test_t *t);

/* Keeps the stub library loaded for the test's life, and returns how often the stub's call
 * `name` was made (yard_nvml_stub_calls). */
unsigned long gt_stub_calls(const char *name);

/* cp -r src dst (dst must not exist); asserts it worked. */
void gt_copy_tree(const char *src, const char *dst);

#endif
