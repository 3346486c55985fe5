/* A replica's outbound HTTP engine (yard_ctx_http(), see yard/http.h): one per replica, kept
 * in the context's YARD__SLOT_HTTP slot and turned by the replica loop as a loop source. The
 * source's destroy (the runtime's, before fini) frees the engine and clears the slot, so a
 * later yard_ctx_http() never returns a freed engine. */
#include "ctx_internal.h"
#include "http_internal.h"
#include "yard/error.h"
#include "yard/log.h"

yard_http_t *
yard_ctx_http_with(yard_ctx_t *ctx, const yard_http_opts_t *opts)
{
    void **slot = yard__ctx_slot(ctx, YARD__SLOT_HTTP);
    if (!slot) {
        return NULL;
    }
    if (*slot) {
        return *slot;
    }
    /* The operator's CA bundle (the section's http_ca_file) holds unless the actor names its
     * own: an actor tuning transfers must not drop the trust the operator configured. */
    yard_http_opts_t o = opts ? *opts : (yard_http_opts_t){0};
    if (!o.ca_file) {
        o.ca_file = ctx->http_ca_file;
    }
    yard_http_t *h = NULL;
    int rc = yard_http_new(&o, &h);
    if (rc != 0) {
        yard_log(YARD_LOG_ERROR, "http: could not make the replica's engine",
                 YF_STR("error", yard_strerror(rc)));
        return NULL;
    }
    yard_loop_source_t src = yard_http_source(h);
    rc = yard_ctx_add_source(ctx, &src);
    if (rc != 0) {
        /* on error the runtime never calls the source: the engine is still ours to free */
        yard_log(YARD_LOG_WARN, "http: the replica takes no new loop sources",
                 YF_STR("error", yard_strerror(rc)));
        yard_http_destroy(&h);
        return NULL;
    }
    yard__http_set_slot(h, slot);
    *slot = h;
    return h;
}

yard_http_t *
yard_ctx_http(yard_ctx_t *ctx)
{
    return yard_ctx_http_with(ctx, NULL); /* the operator's CA bundle, defaults for the rest */
}

const char *
yard_ctx_http_ca_file(const yard_ctx_t *ctx)
{
    return ctx ? ctx->http_ca_file : NULL;
}
