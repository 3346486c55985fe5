# State store against a real redis-server started by the harness (skipped without one).
yard_add_test(NAME test_store_redis SOURCES test_store_redis.c ../harness/store_checks.c
              LABELS integration TIMEOUT 120)
# Runtime-managed leases between lease_holder processes on a real redis-server: one holder at a
# time, takeover after SIGKILL, loss when Redis goes away or restarts (skipped without one).
add_executable(lease_holder lease_holder.c)
target_link_libraries(lease_holder PRIVATE yard)
set_target_properties(lease_holder PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
yard_add_test(NAME test_lease_redis SOURCES test_lease_redis.c LABELS integration TIMEOUT 120)
add_dependencies(test_lease_redis lease_holder)
# Split brain refused: `yard-actor auth` twice on memory stores against one broker (the second
# is refused and exits 1), and on one Redis (both accepted; skipped without redis-server).
yard_add_test(NAME test_refuse_store SOURCES test_refuse_store.c LABELS integration TIMEOUT 120)
add_dependencies(test_refuse_store yard-actor)
