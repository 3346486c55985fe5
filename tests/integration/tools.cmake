# The yard CLI against real yard-broker / yard-actor processes, plus `yard bench` and `yard up`.
yard_add_test(NAME test_yard_cli SOURCES test_yard_cli.c
              LABELS integration TIMEOUT 180)
# The test runs these programs: building the test builds them.
add_dependencies(test_yard_cli yard_cli yard-broker yard-actor)
