/* privacy.c — erasing one seeker: memory, store, partners (see privacy.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/core.h"
#include "desk/privacy.h"
#include "io/log.h"
#include "store/store.h"
#include "store/store_privacy.h"

/* A partner to ask, noted before the store erase clears partner_ref. */
struct target {
    int64_t conv_id;
    char partner[256];
    char ref[64];
    char token[24];
};

struct ectx {
    struct gw_core *c;
    int flags;
    struct target *t;
    size_t n, cap;
    int failed;
};

static int visit(void *arg, const struct gw_conv_row *r)
{
    struct ectx *x = arg;
    struct gw_conv *cv = gw_conv_by_id(x->c, r->id);
    if (cv && !(x->flags & GW_ERASE_DRY_RUN))
        /* reason "partner": no fed-close relay; the erase request closes the partner's
         * copy as well (and a partner asking us to erase knows it is closed). */
        gw_conv_finish(x->c, cv, CS_CLOSED, "erased", NULL, "partner");
    int ask =
        r->partner[0] && r->partner_ref[0] && r->role == 1 && !(x->flags & GW_ERASE_NO_PARTNERS);
    if (x->n == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 8;
        struct target *nt = realloc(x->t, ncap * sizeof *nt);
        if (!nt) {
            x->failed = 1;
            return 1;
        }
        x->t = nt;
        x->cap = ncap;
    }
    struct target *t = &x->t[x->n++];
    memset(t, 0, sizeof *t);
    t->conv_id = r->id;
    snprintf(t->token, sizeof t->token, "%s", r->token);
    if (ask) {
        snprintf(t->partner, sizeof t->partner, "%s", r->partner);
        snprintf(t->ref, sizeof t->ref, "%s", r->partner_ref);
    }
    return 0;
}

static void scrub(void *arg)
{
    struct gw_core *c = arg;
    if (gw_store_scrub(c->store) != GW_OK)
        GW_WARN("privacy: the write-ahead log could not be truncated after an erase; the next"
                " checkpoint copies it over");
}

static const char scrub_owner = 0; /* tags this file's after-commit items */

/* Ask t->partner to erase its copy: a "sys" message (no text of the seeker: its meta names
 * the partner's conversation) on the erased conversation, sent through the outbox to the
 * federation channel, which turns it into the erase request (fed/fed_erase.c). */
static int ask_partner(struct gw_core *c, const struct target *t, int64_t now)
{
    json_t *m =
        json_pack("{s:s, s:s, s:s}", "type", "fed-erase", "partner", t->partner, "conv", t->ref);
    char *meta = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (!meta)
        return GW_ENOMEM;
    int64_t mid =
        gw_store_msg_insert(c->store, t->conv_id, "sys", "erase", NULL, now, "stored", NULL, meta);
    free(meta);
    if (mid <= 0 || gw_outbox_channel(c, mid, GW_FED_CHANNEL, GW_MSG_CLOSED) < 0)
        return GW_EIO;
    gw_store_event(c->store, t->conv_id, now, "partner-erase-asked", NULL, t->partner);
    return GW_OK;
}

int gw_privacy_erase(struct gw_core *c, int64_t seeker_id, const char *actor, int flags,
                     struct gw_erase_counts *n, int *partners)
{
    struct ectx x = {.c = c, .flags = flags};
    int asked = 0, rc = GW_OK;
    struct gw_seeker_row sk;
    if (gw_store_seeker_get(c->store, seeker_id, &sk) != GW_OK)
        return GW_EIO;
    if (gw_store_privacy_convs(c->store, seeker_id, visit, &x) < 0 || x.failed)
        rc = GW_EIO;
    for (size_t i = 0; i < x.n; i++)
        asked += x.t[i].partner[0] != 0;
    if (rc == GW_OK)
        rc = gw_store_privacy_erase(c->store, seeker_id, actor, gw_now_ms(c),
                                    flags & GW_ERASE_DRY_RUN, n);
    if (rc == GW_OK && !(flags & GW_ERASE_DRY_RUN)) {
        int64_t now = gw_now_ms(c);
        for (size_t i = 0; i < x.n && rc == GW_OK; i++) {
            if (x.t[i].partner[0])
                rc = ask_partner(c, &x.t[i], now);
            /* The plugin's memory of the conversation (a web chat session) goes too; its
             * stored copy went with the store erase. */
            if (c->channel_ops && c->channel_ops->forget)
                c->channel_ops->forget(c, sk.channel, x.t[i].token);
        }
        gw_outbox_rescan(c); /* rows it held may be gone */
        if (rc == GW_OK)
            gw_turn_after_commit(c, &scrub_owner, scrub, NULL, c);
    }
    free(x.t);
    if (partners)
        *partners = asked;
    return rc;
}

int gw_privacy_erase_pending(struct gw_core *c,
                             int (*cb)(void *arg, const char *partner, int64_t asked_at,
                                       int attempts, const char *last_error),
                             void *arg)
{
    return gw_store_privacy_erase_pending(c->store, cb, arg);
}
