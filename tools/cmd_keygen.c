/* yard keygen NAME: a CURVE key pair in CZMQ's certificate format, NAME (public: give it to
 * the broker's keys_dir, or as a broker's key to its clients) and NAME_secret (mode 0600:
 * keep it). The permission flags write the key's permissions into the certificate's
 * metadata, which the broker reads from its copy in keys_dir (docs/security.md). */
#include "cli.h"
#include "yard/curve.h"
#include "yard/error.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define S_META_MAX 6

static const char s_usage[] =
    "usage: yard keygen NAME [--offer LIST] [--call LIST] [--publish LIST] [--subscribe LIST]\n"
    "                        [--sys yes|no] [--tap yes|no]\n"
    "Writes a CURVE key pair: NAME (public certificate) and NAME_secret (mode 0600).\n"
    "A LIST is comma-separated service names or subject patterns (* and >); \"\" allows none.\n"
    "A permission not given is not restricted. The broker reads them from its copy of NAME\n"
    "in keys_dir.\n"
    "  --offer LIST      services this key may serve (READY)\n"
    "  --call LIST       services it may call or send to\n"
    "  --publish LIST    subjects it may publish on\n"
    "  --subscribe LIST  subject patterns it may subscribe to\n"
    "  --sys yes|no      whether it may call $sys and watch $sys.events\n"
    "  --tap yes|no      whether it may tap the traffic (yard tap)\n";

static int
s_yes_no(const char *arg, const char **out)
{
    if (strcmp(arg, "yes") == 0 || strcmp(arg, "true") == 0) {
        *out = "yes";
    } else if (strcmp(arg, "no") == 0 || strcmp(arg, "false") == 0) {
        *out = "no";
    } else {
        return -1;
    }
    return 0;
}

int
yard__cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"offer", required_argument, NULL, 'o'},   {"call", required_argument, NULL, 'c'},
        {"publish", required_argument, NULL, 'p'}, {"subscribe", required_argument, NULL, 's'},
        {"sys", required_argument, NULL, 'S'},     {"tap", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *meta[2 * S_META_MAX + 1] = {0};
    size_t n = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        const char *key = NULL, *value = optarg;
        switch (ch) {
        case 'o':
            key = "offer";
            break;
        case 'c':
            key = "call";
            break;
        case 'p':
            key = "publish";
            break;
        case 's':
            key = "subscribe";
            break;
        case 'S':
        case 'T':
            key = ch == 'S' ? "sys" : "tap";
            if (s_yes_no(optarg, &value) != 0) {
                yard__opt_bad_value("yard keygen", optarg,
                                    ch == 'S' ? "--sys: yes or no" : "--tap: yes or no");
                return YARD_EXIT_USAGE;
            }
            break;
        case 'h':
            fputs(s_usage, stdout);
            return YARD_EXIT_OK;
        default:
            yard__opt_reject("yard keygen", ch, argv[optind - 1], s_usage);
            return YARD_EXIT_USAGE;
        }
        for (size_t i = 0; i < n; i += 2) { /* the last one given wins */
            if (strcmp(meta[i], key) == 0) {
                meta[i + 1] = value;
                key = NULL;
            }
        }
        if (key) {
            meta[n++] = key;
            meta[n++] = value;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "yard keygen: give exactly one NAME\n%s", s_usage);
        return YARD_EXIT_USAGE;
    }
    const char *name = argv[optind];
    char err[512];
    int rc = yard_curve_keygen(name, meta, err, sizeof err);
    if (rc) {
        fprintf(stderr, "yard keygen: %s\n", err);
        return rc == YARD_E_INVALID ? YARD_EXIT_USAGE : YARD_EXIT_ERROR;
    }
    printf("wrote %s (public: copy it to the broker's keys_dir) and %s_secret (keep it)\n", name,
           name);
    return YARD_EXIT_OK;
}
