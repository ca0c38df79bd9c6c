/* desk.c — the desk's state as a whole: made and freed in one place, and the few views of
 * it that other rooms need (they never walk struct gw_desk themselves). */
#include "desk/core.h"
#include "io/hashmap.h"

#include <string.h>

int gw_desk_init(struct gw_core *c)
{
    struct gw_desk *d = &c->desk;
    TAILQ_INIT(&d->convs);
    TAILQ_INIT(&d->presence);
    d->conv_by_token = gw_map_new();
    d->conv_by_seeker = gw_map_new();
    d->ready = 1;
    return d->conv_by_token && d->conv_by_seeker ? 0 : -1;
}

void gw_desk_release(struct gw_core *c)
{
    struct gw_desk *d = &c->desk;
    if (!d->ready)
        return;
    gw_conv_free_all(c);
    gw_queues_release(c);
    gw_presence_release(c);
    gw_retention_release(c);
    gw_map_free(&d->conv_by_token);
    gw_map_free(&d->conv_by_seeker);
    d->ready = 0;
}

size_t gw_conv_count(const struct gw_core *c)
{
    return c->desk.nconvs;
}

void gw_conv_each(struct gw_core *c, void (*cb)(void *arg, struct gw_conv *cv), void *arg)
{
    struct gw_conv *cv, *next;
    TAILQ_FOREACH_SAFE(cv, &c->desk.convs, all, next)
    cb(arg, cv);
}

struct gw_conv *gw_conv_by_partner_ref(struct gw_core *c, const char *partner, const char *ref)
{
    struct gw_conv *cv;
    TAILQ_FOREACH(cv, &c->desk.convs, all)
    if (cv->row.role == 1 && !strcmp(cv->row.partner, partner) &&
        !strcmp(cv->row.partner_ref, ref))
        return cv;
    return NULL;
}

struct gw_conv *gw_conv_first(struct gw_core *c)
{
    return TAILQ_FIRST(&c->desk.convs);
}

struct gw_conv *gw_conv_next(struct gw_core *c, struct gw_conv *cv)
{
    (void)c;
    return TAILQ_NEXT(cv, all);
}

const struct gw_presence *gw_presence_first(struct gw_core *c)
{
    return TAILQ_FIRST(&c->desk.presence);
}

const struct gw_presence *gw_presence_next(struct gw_core *c, const struct gw_presence *p)
{
    (void)c;
    return TAILQ_NEXT(p, link);
}
