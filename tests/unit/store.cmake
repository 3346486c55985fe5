# State store, in-process backend.
yard_add_test(NAME test_store_memory SOURCES test_store_memory.c LABELS unit TIMEOUT 60)
