/* Fuzzes JSON -> msgpack (yard_json_to_msgpack and its strict twin), what the gateway does to
 * every request body. What must hold: a document that converts is well-formed msgpack for the
 * bounded decoder (the actors read it with yard_mp_decode), converts back to JSON, and that
 * JSON converts to the very same msgpack bytes (the conversion is a function of the value,
 * not of the spelling); the strict parser accepts nothing the lax one refuses. */
#include "yard/json.h"
#include "yard/mp.h"

#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    char *text = malloc(size ? size : 1); /* exactly size bytes: reads past the end show */
    memcpy(text, data, size);
    void *mp = NULL, *mp2 = NULL;
    size_t mpn = 0, mpn2 = 0;
    int rc = yard_json_to_msgpack(text, size, &mp, &mpn, err, sizeof err);
    void *smp = NULL;
    size_t smpn = 0;
    int src = yard_json_to_msgpack_strict(text, size, &smp, &smpn, err, sizeof err);
    if (src == 0 && (rc != 0 || smpn != mpn || memcmp(smp, mp, mpn) != 0)) {
        abort(); /* strict accepted what lax refused, or they disagree on the value */
    }
    if (rc == 0) {
        if (yard_mp_check(mp, mpn, err, sizeof err) != 0) {
            abort();
        }
        char *json = NULL;
        size_t jn = 0;
        if (yard_json_from_msgpack(mp, mpn, &json, &jn, err, sizeof err) != 0) {
            abort();
        }
        if (yard_json_to_msgpack(json, jn, &mp2, &mpn2, err, sizeof err) != 0 || mpn2 != mpn ||
            memcmp(mp2, mp, mpn) != 0) {
            abort();
        }
        free(json);
    }
    free(mp);
    free(mp2);
    free(smp);
    free(text);
    return 0;
}
