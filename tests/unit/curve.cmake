# yard/curve.h (settings, keygen) and the broker's CURVE and safe-bind settings, no bus.
yard_add_test(NAME test_curve_keys SOURCES test_curve_keys.c LIBS yard_broker LABELS unit
              TIMEOUT 30)
