/* Password hashes and random ids for the auth actor. Hashes are argon2id strings from
 * libsodium (they carry their own parameters, so raising the cost later leaves old hashes
 * verifiable). The invariant: a login for a user that does not exist does the same argon2
 * work as one with a wrong password, against a dummy hash made once per process. */
#include "password.h"
#include "yard/assert.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define S_OPSLIMIT 2ULL
#define S_MEMLIMIT ((size_t)19 * 1024 * 1024)
#define S_B64      sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define S_ID_MAX   256 /* bytes of entropy auth_random_id makes at most */

static pthread_once_t s_dummy_once = PTHREAD_ONCE_INIT;
static char s_dummy[AUTH_HASH_MAX]; /* written once under s_dummy_once, then only read */

static void
s_sodium_ready(void)
{
    /* Without a working CSPRNG and hash nothing here is safe to return. */
    if (sodium_init() < 0) {
        abort();
    }
}

static void
s_dummy_make(void)
{
    static const char pw[] = "switchyard: no such user";
    if (auth_password_hash(pw, s_dummy) != 0) {
        s_dummy[0] = '\0'; /* verify then fails fast: out of memory is not a timing oracle */
    }
}

int
auth_password_hash(const char *password, char out[AUTH_HASH_MAX])
{
    s_sodium_ready();
    if (!password) {
        return -1;
    }
    return crypto_pwhash_str_alg(out, password, strlen(password), S_OPSLIMIT, S_MEMLIMIT,
                                 crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : -1;
}

bool
auth_password_verify(const char *stored, const char *password)
{
    s_sodium_ready();
    if (!password) {
        password = "";
    }
    if (!stored) {
        pthread_once(&s_dummy_once, s_dummy_make);
        /* The result is always false; the work is the point. */
        volatile int sink = crypto_pwhash_str_verify(s_dummy, password, strlen(password));
        (void)sink;
        return false;
    }
    /* A stored string is at most crypto_pwhash_STRBYTES with its NUL; anything longer was
     * never one of ours. */
    if (strnlen(stored, AUTH_HASH_MAX) == AUTH_HASH_MAX) {
        return false;
    }
    return crypto_pwhash_str_verify(stored, password, strlen(password)) == 0;
}

const char *
auth_password_check(const char *password, size_t len)
{
    if (!password) {
        return "password missing";
    }
    if (len < AUTH_PASSWORD_MIN) {
        return "password too short (at least 8 bytes)";
    }
    if (len > AUTH_PASSWORD_MAX) {
        return "password too long (at most 256 bytes)";
    }
    if (memchr(password, '\0', len) != NULL) {
        return "password contains a NUL byte";
    }
    return NULL;
}

void
auth_random_id(char *out, size_t outlen, size_t n)
{
    YARD_ASSERT(n > 0 && n <= S_ID_MAX);
    YARD_ASSERT(outlen >= sodium_base64_ENCODED_LEN(n, S_B64));
    s_sodium_ready();
    unsigned char buf[S_ID_MAX];
    randombytes_buf(buf, n);
    sodium_bin2base64(out, outlen, buf, n, S_B64);
    sodium_memzero(buf, n);
}
