# `yard monitor` and `yard tap` against real yard-broker / yard-actor processes.
yard_add_test(NAME test_yard_tap SOURCES test_yard_tap.c
              LABELS integration TIMEOUT 180)
# The test runs these programs: building the test builds them.
add_dependencies(test_yard_tap yard_cli yard-broker yard-actor)
