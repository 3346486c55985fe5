# The yard CLI against real yard-broker / yard-actor processes, plus `yard bench` and `yard up`.
yard_add_test(NAME test_yard_cli SOURCES test_yard_cli.c
              LABELS integration TIMEOUT 180)
# The test runs these programs: building the test builds them.
add_dependencies(test_yard_cli yard_cli yard-broker yard-actor)
# Every program's skeleton from outside: --help (secrets as <secret>), file:line config
# errors, and `yard up` choosing its actors; up_needy is `yard up` with an actor that needs a
# setting (tools/up.h), to see it skipped.
add_executable(up_needy up_needy.c ${PROJECT_SOURCE_DIR}/tools/cmd_up.c)
target_include_directories(up_needy PRIVATE ${PROJECT_SOURCE_DIR}/tools)
target_link_libraries(up_needy PRIVATE yard yard_broker yard_actors yard_gateway PkgConfig::ZMQ)
set_target_properties(up_needy PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
yard_add_test(NAME test_programs SOURCES test_programs.c LABELS integration TIMEOUT 120)
add_dependencies(test_programs up_needy yard_cli yard-broker yard-gateway yard-actor)
