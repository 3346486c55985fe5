# The gateway's policy modules (routes, CORS, rate limits, metrics, client inputs), its error
# bodies and its HTTP framing checks, each tested on its own through the module's private header.
foreach(mod routes cors ratelimit metrics convert framing inputs)
    yard_add_test(NAME test_gw_${mod} SOURCES test_gw_${mod}.c LIBS yard_gateway LABELS unit
                  TIMEOUT 60)
    target_include_directories(test_gw_${mod} PRIVATE ${CMAKE_SOURCE_DIR}/gateway)
endforeach()
