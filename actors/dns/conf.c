/* Records and address sources from the config file (`dns: {ip: ..., records: [...]}`).
 * Every mistake names the file, the line and the key; secrets (password, token, or their
 * _file forms) are read by the runtime (yard_config_node_secret: the KEY_file rules, and
 * registered with the logger so no line can show them), and enter only the record's
 * fingerprint (a BLAKE2b hash), never the state or a reply. */
#include "dns_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
dns_prov_name(dns_prov_t p)
{
    switch (p) {
    case DNS_PROV_CLOUDFLARE:
        return "cloudflare";
    case DNS_PROV_DUCKDNS:
        return "duckdns";
    default:
        return "dyndns2";
    }
}

const char *
dns_rec_type(const dns_record_t *r)
{
    return r->fam == DNS_FAM_V6 ? "AAAA" : "A";
}

/* "path:line: " for node's line. */
static int
s_where(const yard_config_t *cfg, int line, char *err, size_t errlen)
{
    return snprintf(err, errlen, "%s:%d: ", yard_config_path(cfg), line);
}

#define S_FAIL(cfg, line, ...)                                                                     \
    do {                                                                                           \
        int n_ = s_where(cfg, line, err, errlen);                                                  \
        snprintf(err + (n_ > 0 && (size_t)n_ < errlen ? n_ : 0),                                   \
                 errlen - (n_ > 0 && (size_t)n_ < errlen ? (size_t)n_ : 0), __VA_ARGS__);          \
    } while (0)

static char *
s_dup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        abort();
    }
    return d;
}

/* A duration field (30s, 5m, 25d or milliseconds) of a record. */
static int
s_ms(const yard_config_t *cfg, yard_config_node_t v, const char *key, int line, uint32_t *out,
     char *err, size_t errlen)
{
    char why[160];
    const char *text = yard_config_node_text(v);
    if (!text || yard_option_parse(YARD_OPT_MS, text, out, why, sizeof why) != 0) {
        S_FAIL(cfg, line, "dns.records: %s: %s", key, text ? why : "must be a duration");
        return YARD_E_CONFIG;
    }
    return 0;
}

static bool
s_bool(const char *t, bool *out)
{
    bool v;
    char why[64];
    if (!t || yard_option_parse(YARD_OPT_BOOL, t, &v, why, sizeof why) != 0) {
        return false;
    }
    *out = v;
    return true;
}

static bool
s_hostname_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_') {
            return false;
        }
    }
    return true;
}

static void
s_trim_slash(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/') {
        s[--n] = '\0';
    }
}

/* The record's configuration as the provider sees it, so that a change (a fixed password, a
 * new token) lifts a hold. The fingerprint sits in the store, which other people may read:
 * the secret enters it only through Argon2id with a salt of the record's identity, so that
 * guessing a weak password from it costs a password hash per guess, per record. */
static int
s_fingerprint(dns_record_t *r)
{
    const char *parts[] = {dns_prov_name(r->prov), r->name,
                           dns_rec_type(r),        r->base,
                           r->zone ? r->zone : "", r->username ? r->username : ""};
    crypto_generichash_state h;
    unsigned char salt[crypto_pwhash_SALTBYTES], secret[16], out[16];
    crypto_generichash_init(&h, (const unsigned char *)"yard-dns-fp", 11, sizeof salt);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        crypto_generichash_update(&h, (const unsigned char *)parts[i], strlen(parts[i]) + 1);
    }
    crypto_generichash_final(&h, salt, sizeof salt);
    /* small limits: it runs once per record at start, and still makes each guess a hash */
    const char *pw = r->secret ? r->secret : "";
    if (crypto_pwhash(secret, sizeof secret, pw, strlen(pw), salt,
                      crypto_pwhash_OPSLIMIT_INTERACTIVE, 8u << 20,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        return YARD_E_INTERNAL; /* out of memory */
    }
    crypto_generichash(out, sizeof out, secret, sizeof secret, salt, sizeof salt);
    sodium_memzero(secret, sizeof secret);
    sodium_bin2hex(r->fp, sizeof r->fp, out, sizeof out);
    return 0;
}

static const char *const s_rec_keys[] = {
    "name",          "type",     "provider",     "zone",
    "server",        "api_base", "username",     "password",
    "password_file", "token",    "token_file",   "create",
    "ttl",           "proxied",  "min_interval", "min_error_interval",
    "max_interval",  NULL};

static bool
s_known(const char *const *keys, const char *k)
{
    for (size_t i = 0; keys[i]; i++) {
        if (strcmp(keys[i], k) == 0) {
            return true;
        }
    }
    return false;
}

static const char *
s_text(yard_config_node_t m, const char *key)
{
    return yard_config_node_text(yard_config_node_get(m, key));
}

/* The provider's own settings of r, with their defaults. */
static int
s_provider(const yard_config_t *cfg, yard_config_node_t m, dns_record_t *r, char *err,
           size_t errlen)
{
    const char *p = s_text(m, "provider");
    const char *base = NULL;
    if (p && strcmp(p, "dyndns2") == 0) {
        r->prov = DNS_PROV_DYNDNS2;
        base = s_text(m, "server") ? s_text(m, "server") : "https://members.dyndns.org";
        const char *u = s_text(m, "username");
        if (!u || !*u) {
            S_FAIL(cfg, r->line, "dns.records: %s: dyndns2 needs username", r->name);
            return YARD_E_CONFIG;
        }
        r->username = s_dup(u);
        if (yard_config_node_secret(m, "password", &r->secret, err, errlen) != 0) {
            return YARD_E_CONFIG;
        }
    } else if (p && (strcmp(p, "cloudflare") == 0 || strcmp(p, "duckdns") == 0)) {
        bool cf = p[0] == 'c';
        r->prov = cf ? DNS_PROV_CLOUDFLARE : DNS_PROV_DUCKDNS;
        base = s_text(m, "api_base");
        base = base ? base
               : cf ? "https://api.cloudflare.com/client/v4"
                    : "https://www.duckdns.org";
        if (cf) {
            const char *z = s_text(m, "zone");
            if (!z || !s_hostname_ok(z)) {
                S_FAIL(cfg, r->line, "dns.records: %s: cloudflare needs zone (the domain name)",
                       r->name);
                return YARD_E_CONFIG;
            }
            r->zone = s_dup(z);
        }
        if (yard_config_node_secret(m, "token", &r->secret, err, errlen) != 0) {
            return YARD_E_CONFIG;
        }
    } else {
        S_FAIL(cfg, r->line, "dns.records: %s: provider must be dyndns2, cloudflare or duckdns",
               r->name);
        return YARD_E_CONFIG;
    }
    if (!r->secret || !*r->secret) {
        S_FAIL(cfg, r->line, "dns.records: %s: %s needs %s (or %s_file)", r->name, p,
               r->prov == DNS_PROV_DYNDNS2 ? "password" : "token",
               r->prov == DNS_PROV_DYNDNS2 ? "password" : "token");
        return YARD_E_CONFIG;
    }
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
        S_FAIL(cfg, r->line, "dns.records: %s: %s must be an http:// or https:// URL", r->name,
               r->prov == DNS_PROV_DYNDNS2 ? "server" : "api_base");
        return YARD_E_CONFIG;
    }
    r->base = s_dup(base);
    s_trim_slash(r->base);
    return 0;
}

/* Keys that belong to one provider only: given to another, they are a mistake. */
static const char *const s_dyn_only[] = {"server", "username", "password", "password_file", NULL};
static const char *const s_cf_only[] = {"zone", "create", "ttl", "proxied", NULL};
static const char *const s_token_keys[] = {"token", "token_file", "api_base", NULL};

static int
s_foreign_keys(const yard_config_t *cfg, yard_config_node_t m, const dns_record_t *r, char *err,
               size_t errlen)
{
    for (size_t i = 0; i < yard_config_node_len(m); i++) {
        int line = 0;
        const char *k = yard_config_node_key(m, i, NULL, &line);
        bool foreign = (r->prov != DNS_PROV_DYNDNS2 && s_known(s_dyn_only, k)) ||
                       (r->prov != DNS_PROV_CLOUDFLARE && s_known(s_cf_only, k)) ||
                       (r->prov == DNS_PROV_DYNDNS2 && s_known(s_token_keys, k));
        if (foreign) {
            S_FAIL(cfg, line, "dns.records: %s: '%s' is not a %s setting", r->name, k,
                   dns_prov_name(r->prov));
            return YARD_E_CONFIG;
        }
    }
    return 0;
}

static int
s_record(const yard_config_t *cfg, yard_config_node_t m, const dns_opts_t *o, dns_record_t *r,
         char *err, size_t errlen)
{
    r->line = yard_config_node_line(m);
    if (yard_config_node_kind(m) != YARD_CONFIG_MAP) {
        S_FAIL(cfg, r->line, "dns.records: each record must be a map");
        return YARD_E_CONFIG;
    }
    for (size_t i = 0; i < yard_config_node_len(m); i++) {
        int line = 0;
        const char *k = yard_config_node_key(m, i, NULL, &line);
        if (!k || !s_known(s_rec_keys, k)) {
            S_FAIL(cfg, line, "dns.records: unknown key '%s'", k ? k : "?");
            return YARD_E_CONFIG;
        }
    }
    const char *name = s_text(m, "name");
    if (!name || !s_hostname_ok(name)) {
        S_FAIL(cfg, r->line, "dns.records: name must be a host name (letters, digits, . - _)");
        return YARD_E_CONFIG;
    }
    r->name = s_dup(name);
    const char *type = s_text(m, "type");
    if (!type || strcmp(type, "A") == 0) {
        r->fam = DNS_FAM_V4;
    } else if (strcmp(type, "AAAA") == 0) {
        r->fam = DNS_FAM_V6;
    } else {
        S_FAIL(cfg, r->line, "dns.records: %s: type must be A or AAAA", name);
        return YARD_E_CONFIG;
    }
    if (s_provider(cfg, m, r, err, errlen) != 0 || s_foreign_keys(cfg, m, r, err, errlen) != 0) {
        return YARD_E_CONFIG;
    }
    r->create = true;
    r->ttl = 1;
    const char *t = s_text(m, "create");
    if (t && !s_bool(t, &r->create)) {
        S_FAIL(cfg, r->line, "dns.records: %s: create must be true or false", name);
        return YARD_E_CONFIG;
    }
    t = s_text(m, "proxied");
    if (t && !s_bool(t, &r->proxied)) {
        S_FAIL(cfg, r->line, "dns.records: %s: proxied must be true or false", name);
        return YARD_E_CONFIG;
    }
    t = s_text(m, "ttl");
    if (t) {
        char *end = NULL;
        long long v = strtoll(t, &end, 10);
        if (*end || (v != 1 && (v < 30 || v > 86400))) {
            S_FAIL(cfg, r->line, "dns.records: %s: ttl must be 1 (automatic) or 30..86400", name);
            return YARD_E_CONFIG;
        }
        r->ttl = v;
    }
    r->min_interval = o->min_interval;
    r->min_error_interval = o->min_error_interval;
    r->max_interval = o->max_interval;
    struct {
        const char *k;
        uint32_t *f;
    } ivs[] = {{"min_interval", &r->min_interval},
               {"min_error_interval", &r->min_error_interval},
               {"max_interval", &r->max_interval}};
    for (size_t i = 0; i < 3; i++) {
        yard_config_node_t v = yard_config_node_get(m, ivs[i].k);
        if (yard_config_node_kind(v) != YARD_CONFIG_ABSENT &&
            s_ms(cfg, v, ivs[i].k, yard_config_node_line(v), ivs[i].f, err, errlen) != 0) {
            return YARD_E_CONFIG;
        }
    }
    snprintf(r->key, sizeof r->key, "dns:rec:%s:%s:%s", dns_prov_name(r->prov), type ? type : "A",
             name);
    snprintf(r->lease, sizeof r->lease, "dns:lease:%s:%s:%s", dns_prov_name(r->prov),
             type ? type : "A", name);
    return s_fingerprint(r);
}

static int
s_source(const yard_config_t *cfg, yard_config_node_t m, dns_fam_t fam, dns_source_t *src,
         char *err, size_t errlen)
{
    static const char *const keys[] = {"web", "verify", "interface", "command", "static", NULL};
    int line = yard_config_node_line(m);
    const char *f = dns_fam_name(fam);
    if (yard_config_node_kind(m) != YARD_CONFIG_MAP) {
        S_FAIL(cfg, line, "dns.ip.%s: must be a map (web, interface, command or static)", f);
        return YARD_E_CONFIG;
    }
    int kinds = 0;
    for (size_t i = 0; i < yard_config_node_len(m); i++) {
        int kl = 0;
        const char *k = yard_config_node_key(m, i, NULL, &kl);
        if (!k || !s_known(keys, k)) {
            S_FAIL(cfg, kl, "dns.ip.%s: unknown key '%s'", f, k ? k : "?");
            return YARD_E_CONFIG;
        }
        kinds += strcmp(k, "verify") != 0;
    }
    if (kinds != 1) {
        S_FAIL(cfg, line, "dns.ip.%s: give exactly one of web, interface, command, static", f);
        return YARD_E_CONFIG;
    }
    yard_config_node_t web = yard_config_node_get(m, "web");
    src->verify = 1;
    if (yard_config_node_kind(web) == YARD_CONFIG_SCALAR) {
        src->kind = DNS_SRC_WEB;
        src->web[src->n_web++] = s_dup(yard_config_node_text(web));
    } else if (yard_config_node_kind(web) == YARD_CONFIG_LIST) {
        src->kind = DNS_SRC_WEB;
        size_t n = yard_config_node_len(web);
        if (n == 0 || n > DNS_WEB_MAX) {
            S_FAIL(cfg, line, "dns.ip.%s: web must list 1 to %d URLs", f, DNS_WEB_MAX);
            return YARD_E_CONFIG;
        }
        for (size_t i = 0; i < n; i++) {
            const char *u = yard_config_node_text(yard_config_node_item(web, i));
            if (!u || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)) {
                S_FAIL(cfg, line, "dns.ip.%s: web: each item must be an http(s):// URL", f);
                return YARD_E_CONFIG;
            }
            src->web[src->n_web++] = s_dup(u);
        }
    } else if (s_text(m, "interface")) {
        src->kind = DNS_SRC_INTERFACE;
        src->iface = s_dup(s_text(m, "interface"));
    } else if (s_text(m, "command")) {
        src->kind = DNS_SRC_COMMAND;
        src->command = s_dup(s_text(m, "command"));
    } else if (s_text(m, "static")) {
        char why[160];
        const char *a = s_text(m, "static");
        if (dns_addr_parse(a, strlen(a), fam, src->addr, why, sizeof why) != 0) {
            S_FAIL(cfg, line, "dns.ip.%s: static %s", f, why);
            return YARD_E_CONFIG;
        }
        src->kind = DNS_SRC_STATIC;
    } else {
        S_FAIL(cfg, line, "dns.ip.%s: web, interface, command or static needs a value", f);
        return YARD_E_CONFIG;
    }
    const char *v = s_text(m, "verify");
    if (v) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || (size_t)n > src->n_web) {
            S_FAIL(cfg, line,
                   "dns.ip.%s: verify must be between 1 and the number of web URLs (%zu)", f,
                   src->n_web);
            return YARD_E_CONFIG;
        }
        src->verify = (uint32_t)n;
    }
    return 0;
}

static int
s_records(const yard_config_t *cfg, const dns_opts_t *o, dns_conf_t *out, char *err, size_t errlen)
{
    yard_config_node_t list = yard_config_node(cfg, "dns.records");
    yard_config_kind_t k = yard_config_node_kind(list);
    if (k == YARD_CONFIG_ABSENT || k == YARD_CONFIG_NULL) {
        return 0;
    }
    size_t n = yard_config_node_len(list);
    if (k != YARD_CONFIG_LIST || n > DNS_RECORDS_MAX) {
        S_FAIL(cfg, yard_config_node_line(list), "dns.records: must be a list of at most %d",
               DNS_RECORDS_MAX);
        return YARD_E_CONFIG;
    }
    out->rec = calloc(n ? n : 1, sizeof *out->rec);
    if (!out->rec) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        dns_record_t *r = &out->rec[i];
        out->n_rec = i + 1;
        if (s_record(cfg, yard_config_node_item(list, i), o, r, err, errlen) != 0) {
            return YARD_E_CONFIG;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(out->rec[j].key, r->key) == 0) {
                S_FAIL(cfg, r->line, "dns.records: %s %s at %s is listed twice", r->name,
                       dns_rec_type(r), dns_prov_name(r->prov));
                return YARD_E_CONFIG;
            }
        }
    }
    return 0;
}

int
dns_conf_load(const yard_config_t *cfg, const dns_opts_t *o, dns_conf_t *out, char *err,
              size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!cfg) {
        return 0;
    }
    for (int f = 0; f < 2; f++) {
        yard_config_node_t m = yard_config_node(cfg, f ? "dns.ip.v6" : "dns.ip.v4");
        if (yard_config_node_kind(m) != YARD_CONFIG_ABSENT &&
            s_source(cfg, m, (dns_fam_t)f, &out->src[f], err, errlen) != 0) {
            return YARD_E_CONFIG;
        }
    }
    yard_config_node_t ip = yard_config_node(cfg, "dns.ip");
    for (size_t i = 0; i < yard_config_node_len(ip); i++) {
        int line = 0;
        const char *k = yard_config_node_key(ip, i, NULL, &line);
        if (!k || (strcmp(k, "v4") != 0 && strcmp(k, "v6") != 0)) {
            S_FAIL(cfg, line, "dns.ip: unknown key '%s' (v4 or v6)", k ? k : "?");
            return YARD_E_CONFIG;
        }
    }
    return s_records(cfg, o, out, err, errlen);
}

static void
s_wipe_free(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

void
dns_conf_free(dns_conf_t *c)
{
    for (int f = 0; f < 2; f++) {
        for (size_t i = 0; i < c->src[f].n_web; i++) {
            free(c->src[f].web[i]);
        }
        free(c->src[f].iface);
        free(c->src[f].command);
    }
    for (size_t i = 0; i < c->n_rec; i++) {
        dns_record_t *r = &c->rec[i];
        free(r->name);
        free(r->base);
        free(r->zone);
        free(r->username);
        s_wipe_free(r->secret);
    }
    free(c->rec);
    memset(c, 0, sizeof *c);
}
