# Outbound HTTP (yard/http.h) against the scripted local server (harness/http_fake.h).
yard_add_test(NAME test_http SOURCES test_http.c LABELS integration TIMEOUT 120)
# The headline: a long poll in flight while the same single replica answers 1,000 bus requests
# through a real broker (needs the broker library).
yard_add_test(NAME test_http_replica SOURCES test_http_replica.c LIBS yard_broker
              LABELS integration TIMEOUT 120)
