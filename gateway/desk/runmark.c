/* runmark.c — knowing after a restart whether, and when, the previous run died.
 *
 * XEP-0114 has no acknowledgement: a counsellor's message the server wrote to our socket in
 * the moment before a kill -9 was never read, so never stored, and nobody knows it is gone.
 * The gateway cannot get it back, but it can tell the counsellors it may concern.  The
 * store's kv table holds, for owner "core":
 *   run       "running" from start-up, "stopped" once a stop closed the stream cleanly;
 *   alive_at  unix ms of the last heartbeat, written by the 1 s checkpoint timer (it rides
 *             that timer's commit: nothing on the message path);
 *   crash_at  unix ms of an unclean stop whose notice has not been queued yet (kept across
 *             further restarts until the link is up and the notices are in the outbox).
 * A start that finds "running" knows the previous run died at about alive_at. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "desk/core.h"
#include "conf/i18n.h"
#include "io/log.h"

#define OWNER "core"

static int64_t kv_ms(struct gw_core *c, const char *key)
{
    char *v = gw_store_kv_get(c->store, OWNER, key);
    int64_t ms = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    return ms;
}

static void kv_set_ms(struct gw_core *c, const char *key, int64_t ms)
{
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)ms);
    gw_store_kv_set(c->store, OWNER, key, v);
}

/* "HH:MM" of ms in the service's time zone (main.c sets TZ from the configuration). */
static void hhmm(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(buf, len, "%H:%M", &tm))
        gw_copy(buf, len, "?");
}

void gw_run_begin(struct gw_core *c)
{
    char *run = gw_store_kv_get(c->store, OWNER, "run");
    int unclean = run && !strcmp(run, "running");
    free(run);
    int64_t now = gw_now_ms(c);
    if (unclean) {
        int64_t alive = kv_ms(c, "alive_at");
        if (!alive)
            alive = now; /* died before its first heartbeat: within a second of its start */
        char t[8];
        hhmm(alive, t, sizeof t);
        /* An earlier crash still waiting for its notice keeps its time: that run had the
         * link up (this one never got as far as telling anyone). */
        if (!kv_ms(c, "crash_at"))
            kv_set_ms(c, "crash_at", alive);
        GW_WARN("the previous run did not stop cleanly (last sign of life %s); counsellors with "
                "open conversations will be told once the link is up",
                t);
    }
    c->desk.crashed_at = kv_ms(c, "crash_at");
    gw_store_kv_set(c->store, OWNER, "run", "running");
    kv_set_ms(c, "alive_at", now);
    c->desk.alive_written_at = now;
    c->desk.run_marked = 1;
}

void gw_run_alive(struct gw_core *c)
{
    int64_t now = gw_now_ms(c);
    /* The timer fires every second; this only keeps a late or doubled tick from writing
     * twice in a row. */
    if (!c->desk.run_marked || now - c->desk.alive_written_at < 500)
        return;
    kv_set_ms(c, "alive_at", now);
    c->desk.alive_written_at = now;
}

/* One plain line per open conversation, from the conversation's JID: it lands in the very
 * chat window where the unconfirmed message is, next to it, and a client that shows receipts
 * shows there which messages lack one.  To the bare JID: the server hands it to whichever
 * clients are signed in, or keeps it for the next login (offline storage). */
void gw_run_link_up(struct gw_core *c)
{
    if (!c->desk.crashed_at)
        return;
    char t[8];
    hhmm(c->desk.crashed_at, t, sizeof t);
    const char *v[] = {"time", t, NULL};
    int n = 0;
    struct gw_conv *cv;
    TAILQ_FOREACH(cv, &c->desk.convs, all)
    {
        /* role 1: served by a partner's counsellor, whose own gateway tells them */
        if (cv->state != CS_ACTIVE || cv->row.role == 1 || !cv->row.counsellor[0])
            continue;
        char text[800];
        gw_i18n_format(c->i18n, gw_counsellor_lang(c, cv->row.counsellor), "crash_notice", text,
                       sizeof text, v);
        if (gw_conv_notify_counsellor(c, cv, cv->row.counsellor, text) == GW_OK)
            n++;
    }
    /* Removed in the same transaction that stores the notices in the outbox: a crash before
     * that commit leaves both undone, and the next start tells them. */
    gw_store_kv_del(c->store, OWNER, "crash_at");
    c->desk.crashed_at = 0;
    GW_INFO("told %d open conversation(s) that messages sent shortly before %s may be lost", n, t);
}

void gw_run_end(struct gw_core *c, int clean)
{
    if (!c->desk.run_marked)
        return;
    kv_set_ms(c, "alive_at", gw_now_ms(c));
    if (clean)
        gw_store_kv_set(c->store, OWNER, "run", "stopped");
    else
        GW_WARN("the link did not close cleanly at shutdown: the next start tells counsellors "
                "that messages sent just now may not have arrived");
}
