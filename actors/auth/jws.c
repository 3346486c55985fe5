/* JWS compact parts (jws.h), on libsodium's base64 and libyard's strict JSON parser. */
#include "jws.h"

#include "yard/json.h"
#include "yard/mp.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define S_B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

int
auth_b64url_decode(const char *b64, size_t len, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    size_t cap = len / 4 * 3 + 3;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        abort();
    }
    /* b64_end NULL: libsodium fails unless it consumed all len characters. */
    if (sodium_init() < 0 ||
        sodium_base642bin(buf, cap, b64, len, NULL, outlen, NULL, S_B64) != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

int
auth_jws_part(const char *b64, size_t len, msgpack_zone *zone, void **mp, size_t *size,
              msgpack_object *obj)
{
    unsigned char *bin = NULL;
    size_t binlen = 0;
    if (auth_b64url_decode(b64, len, &bin, &binlen) != 0) {
        return -1;
    }
    int rc = yard_json_to_msgpack_strict((const char *)bin, binlen, mp, size, NULL, 0);
    free(bin);
    if (rc == 0) {
        rc = yard_mp_decode(*mp, *size, zone, obj, NULL, 0);
    }
    return rc == 0 ? 0 : -2;
}

bool
auth_mp_is_str(const msgpack_object *v)
{
    return v && v->type == MSGPACK_OBJECT_STR;
}

bool
auth_mp_str_equals(const msgpack_object *v, const char *want)
{
    size_t n = strlen(want);
    return auth_mp_is_str(v) && v->via.str.size == n && memcmp(v->via.str.ptr, want, n) == 0;
}
