# State store, in-process backend.
yard_add_test(NAME test_store_memory SOURCES test_store_memory.c ../harness/store_checks.c LABELS unit
              TIMEOUT 60)
target_include_directories(test_store_memory PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/../harness)
# Leases on the in-process store.
yard_add_test(NAME test_lease SOURCES test_lease.c LABELS unit TIMEOUT 60)
