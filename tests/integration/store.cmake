# State store against a real redis-server started by the harness (skipped without one).
yard_add_test(NAME test_store_redis SOURCES test_store_redis.c ../harness/store_checks.c
              LABELS integration TIMEOUT 120)
