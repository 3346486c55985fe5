/* yard ping: is the bus (or one service's replica on it) serving? For scripts and for
 * Kubernetes exec probes, so it answers with its exit status and says why on stderr.
 *
 * Without --service it asks each broker of the list `$sys ping`; with --service it asks
 * `$sys replicas {service}` and looks for a replica, not draining, whose name (host/pid/index,
 * as the actor runtime names replicas) starts with --replica's prefix at a '/' boundary, so
 * that "web-1" matches "web-1/42/0" but not "web-10/42/0" (StatefulSet pods). Every broker is
 * asked at once (brokers.c), and one line per broker tells what it answered. */
#include "brokers.h"
#include "cli.h"

#include "yard/error.h"
#include "yard/mp.h"

#include <msgpack.h>

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_WHO "yard ping"

static const char s_usage[] =
    "usage: yard ping [--broker URLS] [--service NAME [--replica PREFIX | --local]] [--all]\n"
    "                 [--timeout MS] [--config FILE]\n"
    "Exits 0 when the bus is serving: a broker answers, or with --service, a broker has a\n"
    "replica of NAME registered that is not draining (and whose name starts with PREFIX).\n"
    "Each broker of the list is asked at once; one line per broker says what it answered.\n"
    "  --broker URLS     broker endpoints, comma-separated (default: $YARD_BROKER, else the\n"
    "                    config file's broker key, else " YARD_CLI_DEFAULT_BROKER ")\n"
    "  --service NAME    ask for a replica of service NAME, not just an answer\n"
    "  --replica PREFIX  only replicas whose name (HOST/PID/INDEX) starts with PREFIX, at a\n"
    "                    '/' boundary: a pod's hostname asks \"is THIS pod's actor serving\"\n"
    "  --local           --replica with this machine's hostname (no shell needed in a probe)\n"
    "  --all             every broker must be serving (default: at least one)\n"
    "  --timeout MS      how long each broker may take to answer (default 1000)\n"
    "  --config FILE     the config file to read broker from (default: $YARD_CONFIG)\n"
    "Exit status: 0 serving, 1 not serving (the reason on stderr), 2 usage.\n";

typedef struct {
    const char *broker, *config, *service, *prefix;
    char host[HOST_NAME_MAX + 1];
    uint32_t timeout_ms;
    bool all;
} s_opts_t;

/* Returns 0, 1 after --help, -1 after a usage error (printed). */
static int
s_parse(int argc, char **argv, s_opts_t *o)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},
        {"service", required_argument, NULL, 's'},
        {"replica", required_argument, NULL, 'r'},
        {"local", no_argument, NULL, 'l'},
        {"all", no_argument, NULL, 'a'},
        {"timeout", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->timeout_ms = 1000;
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v;
    bool local = false;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            fputs(s_usage, stdout);
            return 1;
        case 'b':
            o->broker = optarg;
            break;
        case 's':
            o->service = optarg;
            break;
        case 'r':
            o->prefix = optarg;
            break;
        case 'l':
            local = true;
            break;
        case 'a':
            o->all = true;
            break;
        case 't':
            if (yard__parse_u64(optarg, 1, 600000, &v)) {
                return yard__opt_bad_value(S_WHO, optarg, "--timeout: milliseconds, 1..600000");
            }
            o->timeout_ms = (uint32_t)v;
            break;
        case 'C':
            o->config = optarg;
            break;
        default:
            return yard__opt_reject(S_WHO, ch, argv[optind - 1], s_usage);
        }
    }
    if (optind < argc) {
        return yard__opt_operand(S_WHO, argv[optind], s_usage);
    }
    if (o->service && !*o->service) {
        fprintf(stderr, S_WHO ": --service: an empty name\n");
        return -1;
    }
    if ((o->prefix || local) && !o->service) {
        fprintf(stderr, S_WHO ": --replica and --local need --service\n%s", s_usage);
        return -1;
    }
    if (o->prefix && local) {
        fprintf(stderr, S_WHO ": --replica and --local exclude each other\n");
        return -1;
    }
    if (o->prefix && !*o->prefix) {
        fprintf(stderr, S_WHO ": --replica: an empty prefix\n");
        return -1;
    }
    if (local) {
        if (gethostname(o->host, sizeof o->host) != 0 || !o->host[0]) {
            fprintf(stderr, S_WHO ": --local: this machine's hostname is unknown\n");
            return -1;
        }
        o->host[sizeof o->host - 1] = '\0';
        o->prefix = o->host;
    }
    return 0;
}

/* True when name starts with prefix and the prefix ends at a '/' boundary of name. */
static bool
s_prefix_matches(const char *name, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    if (n > len || memcmp(name, prefix, n) != 0) {
        return false;
    }
    return n == len || prefix[n - 1] == '/' || name[n] == '/';
}

typedef struct {
    uint32_t registered, matching, draining; /* draining: matching ones that drain */
} s_count_t;

/* Counts the replicas of a `$sys replicas` reply. Returns 0, or -1 (not msgpack). */
static int
s_count(const yard_msg_t *reply, const char *prefix, s_count_t *c)
{
    memset(c, 0, sizeof *c);
    size_t size = 0;
    const void *body = yard_msg_body(reply, &size);
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 4096)) {
        abort();
    }
    msgpack_object root;
    int rc = yard_mp_decode(body, size, &zone, &root, NULL, 0) ? -1 : 0;
    const msgpack_object *reps = rc ? NULL : yard_mp_find(&root, "replicas");
    if (reps && reps->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < reps->via.array.size; i++) {
            const msgpack_object *r = &reps->via.array.ptr[i];
            const msgpack_object *name = yard_mp_find(r, "name");
            const msgpack_object *dr = yard_mp_find(r, "draining");
            c->registered++;
            if (!name || name->type != MSGPACK_OBJECT_STR ||
                (prefix && !s_prefix_matches(name->via.str.ptr, name->via.str.size, prefix))) {
                continue;
            }
            c->matching++;
            c->draining += dr && dr->type == MSGPACK_OBJECT_BOOLEAN && dr->via.boolean;
        }
    } else {
        rc = -1;
    }
    msgpack_zone_destroy(&zone);
    return rc;
}

/* One broker's line on stdout; why gets the reason it is not serving. Returns true when
 * the broker is serving. */
static bool
s_judge(const s_opts_t *o, const yard_broker_answer_t *a, char *why, size_t why_len)
{
    const char *ep = a->endpoint;
    if (a->rc == YARD_E_NOT_FOUND && o->service) {
        snprintf(why, why_len, "%s: no replica of '%s' is registered", ep, o->service);
    } else if (a->rc) {
        snprintf(why, why_len, "%s: %s: %s", ep, yard_err_name(a->rc), yard_strerror(a->rc));
    } else if (!o->service) {
        printf("%s: up\n", ep);
        return true;
    } else {
        s_count_t c;
        if (s_count(a->reply, o->prefix, &c)) {
            snprintf(why, why_len, "%s: the broker's replicas reply is not understood", ep);
        } else if (c.matching > c.draining) {
            printf("%s: up, %s: %u of %u replicas serving%s%s%s\n", ep, o->service,
                   c.matching - c.draining, c.registered, o->prefix ? " match '" : "",
                   o->prefix ? o->prefix : "", o->prefix ? "'" : "");
            return true;
        } else if (c.matching) {
            snprintf(why, why_len, "%s: %s: every replica%s%s%s is draining (%u)", ep, o->service,
                     o->prefix ? " matching '" : "", o->prefix ? o->prefix : "",
                     o->prefix ? "'" : "", c.matching);
        } else {
            snprintf(why, why_len, "%s: %s: no replica name starts with '%s' (%u registered)", ep,
                     o->service, o->prefix ? o->prefix : "", c.registered);
        }
    }
    bool down = a->rc == YARD_E_TIMEOUT || a->rc == YARD_E_UNREACHABLE;
    printf("%s: %s\n", ep, down ? "down" : "not serving");
    return false;
}

int
yard__cmd_ping(int argc, char **argv)
{
    s_opts_t o;
    int p = s_parse(argc, argv, &o);
    if (p) {
        return p > 0 ? YARD_EXIT_OK : YARD_EXIT_USAGE;
    }
    char *list = NULL;
    char err[512];
    if (yard__broker_resolve(o.broker, o.config, &list, err, sizeof err)) {
        fprintf(stderr, S_WHO ": %s\n", err);
        return YARD_EXIT_USAGE;
    }
    yard_broker_answers_t set;
    int rc = yard__brokers_split(list, &set, err, sizeof err);
    free(list);
    if (rc) {
        fprintf(stderr, S_WHO ": --broker: %s\n", err);
        return YARD_EXIT_USAGE;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (o.service) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        msgpack_pack_str_with_body(&pk, "service", 7);
        msgpack_pack_str_with_body(&pk, o.service, strlen(o.service));
    }
    yard__brokers_call(&set, o.service ? "replicas" : "ping", sb.data, sb.size, o.timeout_ms);
    msgpack_sbuffer_destroy(&sb);
    int serving = 0, code = YARD_EXIT_OK;
    for (int i = 0; i < set.n; i++) {
        if (set.a[i].rc == YARD_E_CONFIG) {
            fprintf(stderr, S_WHO ": --broker: '%s' is not an endpoint (tcp://HOST:PORT)\n",
                    set.a[i].endpoint);
            code = YARD_EXIT_USAGE;
            continue;
        }
        char why[700];
        if (s_judge(&o, &set.a[i], why, sizeof why)) {
            serving++;
        } else {
            fprintf(stderr, S_WHO ": not serving: %s\n", why);
        }
    }
    yard__brokers_free(&set);
    fflush(stdout);
    if (code != YARD_EXIT_OK) {
        return code;
    }
    bool ok = o.all ? serving == set.n : serving > 0;
    if (!ok) {
        fprintf(stderr, S_WHO ": not serving: %d of %d broker%s serving%s\n", serving, set.n,
                set.n == 1 ? "" : "s", o.all ? " (--all wants every one)" : "");
        return YARD_EXIT_ERROR;
    }
    return YARD_EXIT_OK;
}
