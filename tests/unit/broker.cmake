# The broker's internal containers (map, request pool, deadline heap).
yard_add_test(NAME test_broker_map SOURCES test_broker_map.c LIBS yard_broker LABELS unit
              TIMEOUT 30)
target_include_directories(test_broker_map PRIVATE ${CMAKE_SOURCE_DIR}/broker)
