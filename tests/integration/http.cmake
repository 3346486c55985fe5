# Outbound HTTP (yard/http.h) against the scripted local server (harness/http_fake.h).
yard_add_test(NAME test_http SOURCES test_http.c LABELS integration TIMEOUT 120)
