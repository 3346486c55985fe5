# The HTTP gateway end to end with libcurl: a broker and test actors in-process, slow_actor as
# a process (killed mid-request), the gateway on a free port.
if(TARGET yard_gateway AND TARGET yard_broker)
    pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
    yard_add_test(NAME test_gateway SOURCES test_gateway.c
                  LIBS yard_gateway yard_broker PkgConfig::CURL PkgConfig::MSGPACK
                  LABELS integration TIMEOUT 120)
    if(EXISTS ${CMAKE_SOURCE_DIR}/gateway/metrics.c)
        target_compile_definitions(test_gateway PRIVATE YARD_GW_HAVE_METRICS)
    endif()
    if(TARGET slow_actor)
        add_dependencies(test_gateway slow_actor)
    endif()
endif()
