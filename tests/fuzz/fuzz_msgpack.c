/* Fuzzes msgpack from a peer: the bounded checker and decoder (yard_mp_check, yard_mp_decode,
 * which every actor's request readers use) and msgpack -> JSON (yard_json_from_msgpack, what
 * the gateway does to every reply body). What must hold: the checker and the decoder agree;
 * a decoded value's field readers survive any value; and JSON written from msgpack is
 * JSON that converts back (but for map keys holding a NUL, refused on the way in). */
#include "yard/error.h"
#include "yard/json.h"
#include "yard/mp.h"

#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Asks a decoded map for a few fields in every type, as request readers do. */
static void
s_read_fields(const msgpack_object *map, msgpack_zone *zone)
{
    static const char *const keys[] = {"id", "name", "a", ""};
    char err[128], buf[32];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        yard_str_t s;
        const char *cs;
        int64_t iv;
        uint64_t uv;
        bool bv;
        double dv;
        const msgpack_object *o;
        const char *const *strs;
        size_t n;
        (void)yard_mp_get_str(map, keys[i], &s, err, sizeof err);
        (void)yard_mp_get_cstr(map, keys[i], zone, &cs, err, sizeof err);
        (void)yard_mp_get_strbuf(map, keys[i], buf, sizeof buf, err, sizeof err);
        (void)yard_mp_get_int(map, keys[i], &iv, err, sizeof err);
        (void)yard_mp_get_uint(map, keys[i], &uv, err, sizeof err);
        (void)yard_mp_get_int_range(map, keys[i], -5, 5, &iv, err, sizeof err);
        (void)yard_mp_get_bool(map, keys[i], &bv, err, sizeof err);
        (void)yard_mp_get_double(map, keys[i], &dv, err, sizeof err);
        (void)yard_mp_get_map(map, keys[i], &o, err, sizeof err);
        (void)yard_mp_get_array(map, keys[i], &o, err, sizeof err);
        (void)yard_mp_get_strs(map, keys[i], zone, 8, &strs, &n, err, sizeof err);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    uint8_t *bytes = malloc(size ? size : 1); /* exactly size bytes: reads past the end show */
    memcpy(bytes, data, size);
    int crc = yard_mp_check(bytes, size, err, sizeof err);
    msgpack_zone *zone = msgpack_zone_new(4096);
    msgpack_object obj;
    int drc = yard_mp_decode(bytes, size, zone, &obj, err, sizeof err);
    if ((crc == 0) != (drc == 0)) {
        abort();
    }
    if (drc == 0) {
        (void)yard_mp_type_name(&obj);
        if (obj.type == MSGPACK_OBJECT_MAP) {
            s_read_fields(&obj, zone);
        }
    }
    char *json = NULL;
    size_t jn = 0;
    if (yard_json_from_msgpack(bytes, size, &json, &jn, err, sizeof err) == 0) {
        if (strlen(json) != jn) {
            abort(); /* a NUL inside the text: it must be escaped as \u0000 */
        }
        void *mp = NULL;
        size_t mpn = 0;
        /* The one deliberate asymmetry: a map key holding a NUL is written ("\u0000") but
         * refused on the way in, because C code compares keys as strings. */
        if (yard_json_to_msgpack(json, jn, &mp, &mpn, err, sizeof err) != 0 &&
            !strstr(err, "NUL byte in object key")) {
            abort();
        }
        free(mp);
        free(json);
    }
    msgpack_zone_free(zone);
    free(bytes);
    return 0;
}
