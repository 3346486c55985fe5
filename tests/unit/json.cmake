# JSON <-> msgpack (proto/json.c).
yard_add_test(NAME test_json SOURCES test_json.c LABELS unit TIMEOUT 30)
# msgpack (proto/mp*.c): decoder, readers, writer; the malformed table through $sys and the gateway.
yard_add_test(NAME test_mp SOURCES test_mp.c LIBS yard_gateway yard_broker PkgConfig::CURL
              LABELS unit TIMEOUT 60)
target_include_directories(test_mp PRIVATE ${CMAKE_SOURCE_DIR}/gateway)
