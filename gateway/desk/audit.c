/* audit.c — the read audit: one row each time a person or tool reads stored content
 * (docs/privacy.md).  The callers are the read paths themselves: !history and !all
 * (commands.c), the transcript download and e-mail (host/host_api.c), a transcript sent to
 * a partner (fed/fed.c), skagerrakctl show --messages (ctl/).  The row joins the turn's
 * transaction, so it is committed with whatever else the read changed; the reader is
 * never refused because the audit could not be written (that is logged instead). */
#include <stdio.h>

#include "desk/core.h"
#include "io/log.h"

void gw_audit(struct gw_core *c, const char *who, int64_t conv_id, const char *what,
              const char *detail, const char *why)
{
    if (gw_store_audit_add(c->store, gw_now_ms(c), who, conv_id, what, detail, why) < 0)
        GW_ERROR("audit: could not record %s of conversation %lld by %s", what,
                 (long long)conv_id, who ? who : "?");
}

void gw_audit_ctl(struct gw_core *c, const char *peer, int64_t conv_id, const char *what,
                  int nmessages, const char *why)
{
    char who[300], detail[64];
    snprintf(who, sizeof who, "skagerrakctl %s", peer && *peer ? peer : "(unknown peer)");
    snprintf(detail, sizeof detail, "%d messages", nmessages);
    gw_audit(c, who, conv_id, what, detail, why);
}

void gw_audit_seeker_who(struct gw_core *c, int64_t seeker_id, char *buf, size_t len)
{
    struct gw_seeker_row sk;
    char m[128];
    if (gw_store_seeker_get(c->store, seeker_id, &sk) == GW_OK)
        snprintf(buf, len, "seeker (%s %s)", sk.channel, gw_mask_address(sk.address, m, sizeof m));
    else
        snprintf(buf, len, "seeker");
}
