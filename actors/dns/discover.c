/* Address discovery for one family: web sources (tried in order; `verify: N` needs N of them
 * to agree, and one that disagrees stops the family for this cycle), an interface
 * (getifaddrs), a command (its output bounded, its run bounded by command_timeout), or a
 * static address. Whatever the source, the answer must be exactly one address of the family
 * and pass the global-unicast check, or it is an error naming the source: never an update. */
#include "dns_internal.h"

#include "yard/error.h"
#include "yard/log.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The checks every source's answer goes through. */
static bool
s_accept(const char *text, size_t len, dns_fam_t fam, bool allow_private, char *addr, char *why,
         size_t whylen)
{
    if (dns_addr_parse(text, len, fam, addr, why, whylen) != 0) {
        return false;
    }
    return dns_addr_usable(addr, fam, allow_private, why, whylen);
}

/* --- web ---------------------------------------------------------------------------------- */

typedef struct {
    yard_ctx_t *ctx;
    const dns_source_t *src;
    dns_fam_t fam;
    const dns_opts_t *o;
    dns_disc_fn *cb;
    void *arg;
    size_t next;      /* the next URL to try */
    uint32_t agree;   /* answers equal to addr so far */
    size_t agreed_by; /* the URL that answered addr first */
    char addr[DNS_ADDR_MAX];
    char first_err[DNS_ERR_MAX]; /* the first failure, for when too few sources answer */
} s_web_t;

static void s_web_next(s_web_t *w);

static void
s_web_end(s_web_t *w, bool ok, const char *err)
{
    w->cb(w->ctx, w->fam, ok, ok ? w->addr : NULL, err, w->arg);
    free(w);
}

/* One source failed: log it (naming the source), remember the first reason, go on. */
static void
s_web_failed(s_web_t *w, const char *url, const char *why)
{
    yard_log(YARD_LOG_WARN, "dns: address source failed", YF_STR("family", dns_fam_name(w->fam)),
             YF_STR("source", url), YF_STR("error", why));
    if (!w->first_err[0]) {
        snprintf(w->first_err, sizeof w->first_err, "%.100s %.150s", url, why);
    }
    s_web_next(w);
}

static void
s_web_done(const yard_http_resp_t *resp, void *arg)
{
    s_web_t *w = arg;
    const char *url = w->src->web[w->next - 1];
    char why[DNS_ERR_MAX], addr[DNS_ADDR_MAX];
    int status = yard_http_resp_status(resp);
    size_t len = 0;
    const char *body = yard_http_resp_body(resp, &len);
    if (yard_http_resp_error(resp) == YARD_E_SHUTDOWN) {
        s_web_end(w, false, "stopping");
        return;
    }
    if (yard_http_resp_error(resp) != 0) {
        snprintf(why, sizeof why, "did not answer (%s)", yard_err_name(yard_http_resp_error(resp)));
        s_web_failed(w, url, why);
        return;
    }
    if (status != 200) {
        snprintf(why, sizeof why, "answered HTTP %d", status);
        s_web_failed(w, url, why);
        return;
    }
    if (len > DNS_ECHO_MAX) {
        snprintf(why, sizeof why, "answered %zu bytes, not one address", len);
        s_web_failed(w, url, why);
        return;
    }
    if (!s_accept(body, len, w->fam, w->o->allow_private, addr, why, sizeof why)) {
        s_web_failed(w, url, why);
        return;
    }
    if (w->agree > 0 && strcmp(addr, w->addr) != 0) {
        /* Sources disagree: neither can be trusted this cycle. */
        snprintf(why, sizeof why, "%s answered %s but %s answered %s (verify: %u)", url, addr,
                 w->src->web[w->agreed_by], w->addr, w->src->verify);
        yard_log(YARD_LOG_WARN, "dns: address sources disagree",
                 YF_STR("family", dns_fam_name(w->fam)), YF_STR("error", why));
        s_web_end(w, false, why);
        return;
    }
    if (w->agree++ == 0) {
        memcpy(w->addr, addr, sizeof addr);
        w->agreed_by = w->next - 1;
    }
    if (w->agree >= w->src->verify) {
        s_web_end(w, true, NULL);
        return;
    }
    s_web_next(w);
}

static void
s_web_next(s_web_t *w)
{
    char why[DNS_ERR_MAX];
    while (w->next < w->src->n_web) {
        const char *url = w->src->web[w->next++];
        yard_http_t *h = dns_http(w->ctx);
        yard_http_req_t *hr = NULL;
        if (!h) {
            s_web_end(w, false, "the replica is stopping");
            return;
        }
        if (dns_http_req(w->o, "GET", url, &hr) != 0) {
            s_web_failed(w, url, "is not a URL the HTTP engine takes");
            return;
        }
        if (yard_http_send(h, &hr, s_web_done, w) == 0) {
            return;
        }
        snprintf(why, sizeof why, "could not be asked (%.200s)", yard_http_last_error(h));
        yard_log(YARD_LOG_WARN, "dns: address source failed", YF_STR("source", url),
                 YF_STR("error", why));
        if (!w->first_err[0]) {
            snprintf(w->first_err, sizeof w->first_err, "%.100s %.150s", url, why);
        }
    }
    snprintf(why, sizeof why, "%u of %u web sources needed agree on an address; %.180s", w->agree,
             w->src->verify, w->first_err[0] ? w->first_err : "none answered");
    s_web_end(w, false, why);
}

/* --- interface ---------------------------------------------------------------------------- */

static bool
s_interface(const char *name, dns_fam_t fam, bool allow_private, char *addr, char *why,
            size_t whylen)
{
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) != 0) {
        snprintf(why, whylen, "interface %s: getifaddrs failed: %s", name, strerror(errno));
        return false;
    }
    int af = fam == DNS_FAM_V6 ? AF_INET6 : AF_INET;
    bool found = false, seen = false;
    char last[DNS_ERR_MAX] = "";
    for (struct ifaddrs *i = list; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != af || strcmp(i->ifa_name, name) != 0) {
            continue;
        }
        seen = true;
        const void *bin = af == AF_INET6
                              ? (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr
                              : (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr;
        char text[DNS_ADDR_MAX];
        if (inet_ntop(af, bin, text, sizeof text) &&
            s_accept(text, strlen(text), fam, allow_private, addr, last, sizeof last)) {
            found = true;
        }
    }
    freeifaddrs(list);
    if (!found) {
        snprintf(why, whylen, "interface %s has no %s address%s%s", name,
                 fam == DNS_FAM_V6 ? "IPv6" : "IPv4", seen ? " that may be published: " : "",
                 seen ? last : "");
    }
    return found;
}

/* --- command ------------------------------------------------------------------------------ */

/* Runs cmd with /bin/sh, its output read up to DNS_CMD_OUT_MAX bytes, for at most timeout_ms:
 * past it the command's whole process group is killed. Blocks the replica's thread that long
 * at most (a command that prints an address returns in milliseconds). */
static bool
s_command(const char *cmd, uint32_t timeout_ms, char *out, size_t *out_len, char *why,
          size_t whylen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "command: pipe failed: %s", strerror(errno));
        return false;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        snprintf(why, whylen, "command: fork failed: %s", strerror(errno));
        return false;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(fds[1], 1);
        dup2(null, 2);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    close(fds[1]);
    size_t n = 0;
    bool timed_out = false, too_long = false;
    int64_t deadline = yard_loop_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - yard_loop_now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            timed_out = rc == 0;
            break;
        }
        char buf[512];
        ssize_t r = read(fds[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        size_t take = (size_t)r;
        if (n + take > DNS_CMD_OUT_MAX) {
            too_long = true;
            break;
        }
        memcpy(out + n, buf, take);
        n += take;
    }
    close(fds[0]);
    if (timed_out || too_long) {
        kill(-pid, SIGKILL);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    *out_len = n;
    if (timed_out) {
        snprintf(why, whylen, "command did not finish within %u ms (killed)", timeout_ms);
        return false;
    }
    if (too_long) {
        snprintf(why, whylen, "command printed more than %d bytes (killed)", DNS_CMD_OUT_MAX);
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, whylen, "command failed (exit status %d)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return false;
    }
    return true;
}

/* --- one family --------------------------------------------------------------------------- */

void
dns_discover(yard_ctx_t *ctx, const dns_source_t *src, dns_fam_t fam, const dns_opts_t *o,
             dns_disc_fn *cb, void *arg)
{
    char addr[DNS_ADDR_MAX] = "", why[DNS_ERR_MAX] = "", tmp[DNS_ERR_MAX] = "";
    bool ok = false;
    switch (src->kind) {
    case DNS_SRC_WEB: {
        s_web_t *w = calloc(1, sizeof *w);
        if (!w) {
            abort();
        }
        *w = (s_web_t){.ctx = ctx, .src = src, .fam = fam, .o = o, .cb = cb, .arg = arg};
        s_web_next(w);
        return;
    }
    case DNS_SRC_INTERFACE:
        ok = s_interface(src->iface, fam, o->allow_private, addr, why, sizeof why);
        break;
    case DNS_SRC_COMMAND: {
        char *out = malloc(DNS_CMD_OUT_MAX + 1);
        size_t len = 0;
        if (!out) {
            abort();
        }
        ok = s_command(src->command, o->command_timeout, out, &len, why, sizeof why) &&
             s_accept(out, len, fam, o->allow_private, addr, tmp, sizeof tmp);
        if (!ok && tmp[0]) {
            snprintf(why, sizeof why, "command %.240s", tmp);
        }
        free(out);
        break;
    }
    case DNS_SRC_STATIC:
        ok = s_accept(src->addr, strlen(src->addr), fam, o->allow_private, addr, tmp, sizeof tmp);
        if (!ok) {
            snprintf(why, sizeof why, "static %.240s", tmp);
        }
        break;
    default:
        snprintf(why, sizeof why, "no address source for %s (dns.ip.%s)", dns_fam_name(fam),
                 dns_fam_name(fam));
        break;
    }
    if (!ok && src->kind != DNS_SRC_NONE) {
        yard_log(YARD_LOG_WARN, "dns: address source failed", YF_STR("family", dns_fam_name(fam)),
                 YF_STR("error", why));
    }
    cb(ctx, fam, ok, ok ? addr : NULL, ok ? NULL : why, arg);
}
