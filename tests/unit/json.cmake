# JSON <-> msgpack (proto/json.c).
yard_add_test(NAME test_json SOURCES test_json.c LABELS unit TIMEOUT 30)
