# The broker's guarantee (docs/protocol.md 6.3) against real yard-broker and yard-actor
# processes killed with SIGKILL under load; needs both programs in build/bin.
yard_add_test(NAME test_guarantee SOURCES test_guarantee.c LABELS integration TIMEOUT 120)
# Its bounds are real time (deadline + one heartbeat): run it alone, not beside another test.
set_tests_properties(test_guarantee PROPERTIES RUN_SERIAL TRUE)
# The test runs these programs: building the test builds them.
add_dependencies(test_guarantee yard-broker yard-actor)
