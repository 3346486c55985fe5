# The broker's exactly-once guarantee (docs/protocol.md 6.3) checked at the wire by a raw
# DEALER client, against yard-broker and slow_actor processes killed while holding requests.
# slow_actor is a test helper program (a "slow" service that replies after the milliseconds
# its body asks for); it lands in build/bin like every program so the test finds it.
add_executable(slow_actor slow_actor.c)
target_link_libraries(slow_actor PRIVATE yard Threads::Threads)
set_target_properties(slow_actor PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

yard_add_test(NAME test_exactly_once SOURCES test_exactly_once.c LIBS PkgConfig::ZMQ
              LABELS integration TIMEOUT 120)
add_dependencies(test_exactly_once slow_actor yard-broker)
# Its bounds are real time (deadline + one heartbeat): run it alone, not beside another test.
set_tests_properties(test_exactly_once PROPERTIES RUN_SERIAL TRUE)
