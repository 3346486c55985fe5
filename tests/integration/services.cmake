# `yard services` and `yard replicas` against real yard-broker / yard-actor processes.
yard_add_test(NAME test_yard_services SOURCES test_yard_services.c
              LABELS integration TIMEOUT 120)
# The test runs these programs: building the test builds them.
add_dependencies(test_yard_services yard_cli yard-broker yard-actor)
# slow_actor (exactly_once.cmake builds it): a service that errs or answers late.
add_dependencies(test_yard_services slow_actor)
