/* block.c — blocking a seeker on a channel: the counsellor's !block and skagerrakctl block /
 * unblock do the same thing through this one function. */
#include <string.h>

#include "conf/i18n.h"
#include "desk/core.h"

int gw_seeker_block(struct gw_core *c, int64_t seeker_id, int64_t conv_id, int blocked,
                    const char *why, const char *actor, const char *counsellor_key)
{
    struct gw_seeker_row sk;
    if (gw_store_seeker_get(c->store, seeker_id, &sk) != GW_OK)
        return GW_ENOTFOUND;
    int rc = gw_store_seeker_block(c->store, seeker_id, blocked,
                                   why && *why ? why : (blocked ? "counsellor" : NULL));
    if (rc != GW_OK)
        return rc;
    struct gw_conv *cv = gw_conv_for_seeker(c, sk.channel, sk.address);
    gw_store_event(c->store, cv ? cv->row.id : conv_id, gw_now_ms(c),
                   blocked ? "blocked" : "unblocked", actor, why);
    if (blocked && cv) {
        /* A counsellor who did not ask for it hears why their conversation ended. */
        if (counsellor_key && cv->state == CS_ACTIVE && cv->row.counsellor[0])
            gw_conv_notify_counsellor(
                c, cv, cv->row.counsellor,
                gw_i18n_text(c->i18n, gw_counsellor_lang(c, cv->row.counsellor), counsellor_key));
        gw_conv_finish(c, cv, CS_CLOSED, "blocked", "blocked", "blocked");
    }
    return GW_OK;
}
