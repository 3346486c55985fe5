/* The auth actor's signing keys. A set is an array ordered oldest first whose last key is the
 * current one (the one that signs); it always holds at least one key and at most
 * AUTH_KEYS_MAX. Older keys verify until their retire_at and are dropped at a later rotation.
 *
 * The msgpack form, which the store keeps, is
 *   {"v": 1, "keys": [{"kid": str, "alg": 1|2, "secret": bin, "pub": bin,
 *                      "created": int, "retire_at": int >= 0}, ...]}   (oldest first)
 * with a 64-byte secret and a 32-byte pub for EdDSA (libsodium's layout: the secret's last
 * 32 bytes are the pub), a 32-byte secret and an empty pub for HS256. Unpacking takes bytes
 * that may have been written by anyone who could write to the store, so it checks every
 * count, type and length before it copies a byte, and refuses anything else. */
#include "keyset.h"

#include "yard/assert.h"
#include "yard/mp.h"

#include <msgpack.h>
#include <sodium.h>

#include <stdlib.h>
#include <string.h>

#define S_VERSION   1
#define S_KID_BYTES 12 /* random bytes in a kid: 16 base64url characters */
#define S_B64       sodium_base64_VARIANT_URLSAFE_NO_PADDING
/* Enough for a full set, so the packer never reallocs and leaves copies of secrets behind. */
#define S_PACK_CAP (AUTH_KEYS_MAX * 256 + 64)

struct auth_keyset {
    auth_key_t keys[AUTH_KEYS_MAX]; /* oldest first; keys[n - 1] is current */
    size_t n;
};

static int
s_sodium_ready(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

auth_alg_t
auth_alg_from_name(const char *name)
{
    if (name && strcmp(name, "EdDSA") == 0) {
        return AUTH_ALG_EDDSA;
    }
    if (name && strcmp(name, "HS256") == 0) {
        return AUTH_ALG_HS256;
    }
    return 0;
}

const char *
auth_alg_name(auth_alg_t alg)
{
    switch (alg) {
    case AUTH_ALG_EDDSA:
        return "EdDSA";
    case AUTH_ALG_HS256:
        return "HS256";
    }
    return NULL;
}

static bool
s_alg_valid(auth_alg_t alg)
{
    return alg == AUTH_ALG_EDDSA || alg == AUTH_ALG_HS256;
}

/* A fresh key with a fresh random kid. */
static void
s_key_make(auth_key_t *k, auth_alg_t alg, int64_t now)
{
    memset(k, 0, sizeof *k);
    unsigned char r[S_KID_BYTES];
    randombytes_buf(r, sizeof r);
    sodium_bin2base64(k->kid, sizeof k->kid, r, sizeof r, S_B64);
    k->alg = alg;
    if (alg == AUTH_ALG_EDDSA) {
        crypto_sign_keypair(k->pub, k->secret);
    } else {
        crypto_auth_hmacsha256_keygen(k->secret);
    }
    k->created = now;
    k->retire_at = 0;
}

static bool
s_retired(const auth_key_t *k, int64_t now)
{
    return k->retire_at != 0 && now > k->retire_at;
}

/* Removes keys[i], keeping the order, and wipes the slot that falls free. */
static void
s_remove(auth_keyset_t *self, size_t i)
{
    YARD_ASSERT(i < self->n);
    memmove(&self->keys[i], &self->keys[i + 1], (self->n - i - 1) * sizeof self->keys[0]);
    self->n--;
    sodium_memzero(&self->keys[self->n], sizeof self->keys[0]);
}

int
auth_keyset_new(auth_alg_t alg, int64_t now, auth_keyset_t **out)
{
    *out = NULL;
    if (!s_alg_valid(alg) || s_sodium_ready() != 0) {
        return -1;
    }
    auth_keyset_t *self = calloc(1, sizeof *self);
    if (!self) {
        abort();
    }
    s_key_make(&self->keys[0], alg, now);
    self->n = 1;
    *out = self;
    return 0;
}

void
auth_keyset_destroy(auth_keyset_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sodium_memzero(*self_p, sizeof **self_p);
    free(*self_p);
    *self_p = NULL;
}

int
auth_keyset_rotate(auth_keyset_t *self, auth_alg_t alg, int64_t now, int64_t keep_s)
{
    if (!s_alg_valid(alg) || s_sodium_ready() != 0) {
        return -1;
    }
    if (keep_s < 0) {
        keep_s = 0;
    }
    /* The old current key verifies what it signed for keep_s more seconds (never longer than
     * an earlier retire_at already promised). */
    int64_t until = keep_s > INT64_MAX - now ? INT64_MAX : now + keep_s;
    auth_key_t *cur = &self->keys[self->n - 1];
    if (cur->retire_at == 0 || cur->retire_at > until) {
        cur->retire_at = until;
    }
    for (size_t i = 0; i < self->n;) {
        if (s_retired(&self->keys[i], now)) {
            s_remove(self, i);
        } else {
            i++;
        }
    }
    if (self->n == AUTH_KEYS_MAX) {
        /* Full: drop the oldest key that has a retire_at (all but a set unpacked from
         * elsewhere), else simply the oldest. */
        size_t victim = 0;
        for (size_t i = 0; i < self->n; i++) {
            if (self->keys[i].retire_at != 0) {
                victim = i;
                break;
            }
        }
        s_remove(self, victim);
    }
    s_key_make(&self->keys[self->n], alg, now);
    self->n++;
    return 0;
}

const auth_key_t *
auth_keyset_current(const auth_keyset_t *self)
{
    return &self->keys[self->n - 1];
}

const auth_key_t *
auth_keyset_find(const auth_keyset_t *self, const char *kid, int64_t now)
{
    if (!kid) {
        return NULL;
    }
    for (size_t i = 0; i < self->n; i++) {
        const auth_key_t *k = &self->keys[i];
        if (strcmp(k->kid, kid) == 0) {
            return s_retired(k, now) ? NULL : k;
        }
    }
    return NULL;
}

size_t
auth_keyset_count(const auth_keyset_t *self)
{
    return self->n;
}

/* ---- msgpack ---------------------------------------------------------------------------- */

static void
s_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void
s_pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

int
auth_keyset_pack(const auth_keyset_t *self, char **out, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    sb.data = malloc(S_PACK_CAP);
    if (!sb.data) {
        abort();
    }
    sb.alloc = S_PACK_CAP;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    msgpack_pack_map(&pk, 2);
    s_pack_str(&pk, "v");
    msgpack_pack_int(&pk, S_VERSION);
    s_pack_str(&pk, "keys");
    msgpack_pack_array(&pk, self->n);
    for (size_t i = 0; i < self->n; i++) {
        const auth_key_t *k = &self->keys[i];
        bool ed = k->alg == AUTH_ALG_EDDSA;
        msgpack_pack_map(&pk, 6);
        s_pack_str(&pk, "kid");
        s_pack_str(&pk, k->kid);
        s_pack_str(&pk, "alg");
        msgpack_pack_int(&pk, (int)k->alg);
        s_pack_str(&pk, "secret");
        s_pack_bin(&pk, k->secret, ed ? 64 : 32);
        s_pack_str(&pk, "pub");
        s_pack_bin(&pk, k->pub, ed ? 32 : 0);
        s_pack_str(&pk, "created");
        msgpack_pack_int64(&pk, k->created);
        s_pack_str(&pk, "retire_at");
        msgpack_pack_int64(&pk, k->retire_at);
    }
    *len = sb.size;
    *out = msgpack_sbuffer_release(&sb);
    return 0;
}

static bool
s_is_key(const msgpack_object *o, const char *name)
{
    size_t n = strlen(name);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, name, n) == 0;
}

static bool
s_get_int64(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *v = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return true;
    }
    return false;
}

static bool
s_kid_valid(const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.size > AUTH_KID_MAX) {
        return false;
    }
    for (size_t i = 0; i < o->via.str.size; i++) {
        char c = o->via.str.ptr[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* One key map into *k; false for anything but exactly the six fields with the right types
 * and lengths. */
static bool
s_unpack_key(const msgpack_object *o, auth_key_t *k)
{
    enum { F_KID = 1, F_ALG = 2, F_SECRET = 4, F_PUB = 8, F_CREATED = 16, F_RETIRE = 32 };
    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size != 6) {
        return false;
    }
    const msgpack_object *secret = NULL, *pub = NULL;
    unsigned seen = 0;
    memset(k, 0, sizeof *k);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *key = &o->via.map.ptr[i].key;
        const msgpack_object *val = &o->via.map.ptr[i].val;
        unsigned f;
        if (s_is_key(key, "kid")) {
            f = F_KID;
            if (!s_kid_valid(val)) {
                return false;
            }
            memcpy(k->kid, val->via.str.ptr, val->via.str.size);
            k->kid[val->via.str.size] = '\0';
        } else if (s_is_key(key, "alg")) {
            f = F_ALG;
            if (val->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
                (val->via.u64 != AUTH_ALG_EDDSA && val->via.u64 != AUTH_ALG_HS256)) {
                return false;
            }
            k->alg = (auth_alg_t)val->via.u64;
        } else if (s_is_key(key, "secret")) {
            f = F_SECRET;
            secret = val;
        } else if (s_is_key(key, "pub")) {
            f = F_PUB;
            pub = val;
        } else if (s_is_key(key, "created")) {
            f = F_CREATED;
            if (!s_get_int64(val, &k->created)) {
                return false;
            }
        } else if (s_is_key(key, "retire_at")) {
            f = F_RETIRE;
            if (!s_get_int64(val, &k->retire_at) || k->retire_at < 0) {
                return false;
            }
        } else {
            return false;
        }
        if (seen & f) {
            return false;
        }
        seen |= f;
    }
    if (seen != 63u || secret->type != MSGPACK_OBJECT_BIN || pub->type != MSGPACK_OBJECT_BIN) {
        return false;
    }
    if (k->alg == AUTH_ALG_EDDSA) {
        /* libsodium's Ed25519 secret key is seed || public key: they must agree. */
        if (secret->via.bin.size != 64 || pub->via.bin.size != 32 ||
            memcmp(secret->via.bin.ptr + 32, pub->via.bin.ptr, 32) != 0) {
            return false;
        }
        memcpy(k->secret, secret->via.bin.ptr, 64);
        memcpy(k->pub, pub->via.bin.ptr, 32);
    } else {
        if (secret->via.bin.size != 32 || pub->via.bin.size != 0) {
            return false;
        }
        memcpy(k->secret, secret->via.bin.ptr, 32);
    }
    return true;
}

int
auth_keyset_unpack(const void *data, size_t len, auth_keyset_t **out)
{
    *out = NULL;
    if (!data || len == 0 || s_sodium_ready() != 0) {
        return -1;
    }
    /* The bounded decoder (yard/mp.h): a stored blob's counts cannot make msgpack-c allocate
     * more than O(len). */
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 2048)) {
        abort();
    }
    msgpack_object obj;
    auth_keyset_t *self = NULL;
    int rc = -1;
    if (yard_mp_decode(data, len, &zone, &obj, NULL, 0) != 0) {
        goto cleanup;
    }
    const msgpack_object *root = &obj;
    if (root->type != MSGPACK_OBJECT_MAP || root->via.map.size != 2) {
        goto cleanup;
    }
    const msgpack_object *version = NULL, *keys = NULL;
    for (uint32_t i = 0; i < 2; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr[i];
        if (s_is_key(&kv->key, "v") && !version) {
            version = &kv->val;
        } else if (s_is_key(&kv->key, "keys") && !keys) {
            keys = &kv->val;
        } else {
            goto cleanup;
        }
    }
    if (version->type != MSGPACK_OBJECT_POSITIVE_INTEGER || version->via.u64 != S_VERSION ||
        keys->type != MSGPACK_OBJECT_ARRAY || keys->via.array.size == 0 ||
        keys->via.array.size > AUTH_KEYS_MAX) {
        goto cleanup;
    }
    self = calloc(1, sizeof *self);
    if (!self) {
        abort();
    }
    for (uint32_t i = 0; i < keys->via.array.size; i++) {
        if (!s_unpack_key(&keys->via.array.ptr[i], &self->keys[i])) {
            goto cleanup;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(self->keys[j].kid, self->keys[i].kid) == 0) {
                goto cleanup;
            }
        }
        self->n++;
    }
    *out = self;
    self = NULL;
    rc = 0;
cleanup:
    auth_keyset_destroy(&self);
    msgpack_zone_destroy(&zone);
    return rc;
}
