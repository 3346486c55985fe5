# Gateway modules (routes, CORS, rate limits, metrics). Until the yard_gateway library exists,
# each test compiles the one module it tests, so these tests build on their own.
foreach(mod routes cors ratelimit metrics)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_gw_${mod}.c)
        yard_add_test(NAME test_gw_${mod}
            SOURCES test_gw_${mod}.c ${CMAKE_SOURCE_DIR}/gateway/${mod}.c
            LABELS unit TIMEOUT 60)
        target_include_directories(test_gw_${mod} PRIVATE ${CMAKE_SOURCE_DIR}/gateway)
    endif()
endforeach()
