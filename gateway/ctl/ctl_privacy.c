/* ctl_privacy.c — skagerrakctl export-seeker / erase-seeker (GDPR art. 15 and 17).
 *
 *   export-seeker (--address CHANNEL:ADDR | --conv TOKEN-or-JID | --session WEBCHAT-SID)
 *                 [--out FILE]
 *   erase-seeker  (same selectors) [--force] [--dry-run]
 *
 * The store does the finding, exporting and erasing (store/store_privacy.c); this file
 * the desk closes the seeker's open conversations and asks partners (desk/privacy.c); this
 * file parses the command line and renders the text a person reads.  docs/erasure.md is the user's
 * description. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/i18n.h"
#include "ctl/ctl.h"
#include "desk/core.h"
#include "desk/privacy.h"
#include "host/plugin_api.h"
#include "io/log.h"
#include "store/store.h"
#include "store/store_privacy.h"

struct sel {
    const char *address, *conv, *session, *out;
    int force, dry_run;
};

static int parse(const struct gw_ctl_req *rq, struct sel *s, int erase, struct gw_ctl_out *out)
{
    memset(s, 0, sizeof *s);
    int nsel = 0;
    for (int i = 1; i < rq->argc; i++) {
        const char *a = rq->argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--address") == 0)
            slot = &s->address;
        else if (strcmp(a, "--conv") == 0)
            slot = &s->conv;
        else if (strcmp(a, "--session") == 0)
            slot = &s->session;
        else if (!erase && strcmp(a, "--out") == 0)
            slot = &s->out;
        else if (erase && strcmp(a, "--force") == 0) {
            s->force = 1;
            continue;
        } else if (erase && strcmp(a, "--dry-run") == 0) {
            s->dry_run = 1;
            continue;
        } else
            return gw_ctl_fail(out, 2, "unknown option %s", a);
        if (i + 1 >= rq->argc || !*rq->argv[i + 1])
            return gw_ctl_fail(out, 2, "%s needs a value", a);
        *slot = rq->argv[++i];
        if (slot != &s->out)
            nsel++;
    }
    if (nsel != 1)
        return gw_ctl_fail(out, 2, "give exactly one of --address, --conv, --session");
    if (s->address && !strchr(s->address, ':'))
        return gw_ctl_fail(out, 2, "--address is CHANNEL:ADDRESS (sms:+4791234567)");
    return 0;
}

/* The seeker named by the selector; `what` gets a masked description for messages. */
static int64_t find(struct gw_core *c, const struct sel *s, char *what, size_t len)
{
    char m[300];
    if (s->address) {
        char ch[32];
        const char *colon = strchr(s->address, ':');
        snprintf(ch, sizeof ch, "%.*s", (int)(colon - s->address), s->address);
        snprintf(what, len, "%s %s", ch, gw_mask_address(colon + 1, m, sizeof m));
        return gw_store_privacy_by_address(c->store, ch, colon + 1);
    }
    if (s->conv) {
        snprintf(what, len, "conversation %s", s->conv);
        return gw_store_privacy_by_conv(c->store, s->conv);
    }
    snprintf(what, len, "web chat session %s", gw_mask_address(s->session, m, sizeof m));
    return gw_store_privacy_by_session(c->store, s->session);
}

static int not_found(struct gw_ctl_out *out, int64_t id, const char *what)
{
    if (id == GW_ENOTFOUND)
        return gw_ctl_fail(out, 1, "nothing stored for %s", what);
    return gw_ctl_fail(out, 1, "could not read the store for %s", what);
}

/* ---- the text rendering (in the seeker's language) ---- */

static void when(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static void line(struct gw_ctl_out *o, struct gw_core *c, const char *lang, const char *key,
                 const char *const *vars)
{
    char buf[2048];
    gw_i18n_format(c->i18n, lang, key, buf, sizeof buf, vars);
    gw_ctl_printf(o, "%s\n", buf);
}

static void render(struct gw_core *c, json_t *doc, struct gw_ctl_out *o)
{
    json_t *sk = json_object_get(doc, "seeker");
    const char *lang = jstr(sk, "lang");
    if (!gw_i18n_has_lang(c->i18n, lang))
        lang = "en";
    char t1[32], t2[32];
    line(o, c, lang, "export_heading",
         (const char *const[]){"channel", jstr(sk, "channel"), "address", jstr(sk, "address"),
                               NULL});
    size_t i, j;
    json_t *cv, *m;
    json_array_foreach(json_object_get(doc, "conversations"), i, cv)
    {
        when(json_integer_value(json_object_get(cv, "created")), t1, sizeof t1);
        when(json_integer_value(json_object_get(cv, "closed_at")), t2, sizeof t2);
        gw_ctl_printf(o, "\n");
        line(o, c, lang, "export_conversation",
             (const char *const[]){"queue", jstr(cv, "queue"), "start", t1, "end", t2, NULL});
        json_array_foreach(json_object_get(cv, "messages"), j, m)
        {
            const char *dir = jstr(m, "dir");
            const char *who = strcmp(dir, "in") == 0     ? "transcript_you"
                              : strcmp(dir, "out") == 0  ? "transcript_counsellor"
                              : strcmp(dir, "note") == 0 ? "export_from_note"
                                                         : "transcript_service";
            when(json_integer_value(json_object_get(m, "created")), t1, sizeof t1);
            gw_ctl_printf(o, "  [%s] %s: %s\n", t1, gw_i18n_text(c->i18n, lang, who),
                          jstr(m, "body"));
        }
        if (json_array_size(json_object_get(cv, "messages")) == 0)
            line(o, c, lang, "export_no_messages", NULL);
        json_t *fb = json_object_get(cv, "feedback");
        if (json_is_object(fb)) {
            char r[16];
            snprintf(r, sizeof r, "%lld",
                     (long long)json_integer_value(json_object_get(fb, "rating")));
            line(o, c, lang, "export_feedback",
                 (const char *const[]){"rating", r, "comment", jstr(fb, "comment"), NULL});
        }
    }
    json_t *p;
    json_array_foreach(json_object_get(doc, "partners"), i, p)
    {
        if (i == 0)
            gw_ctl_printf(o, "\n");
        line(o, c, lang, "export_partner",
             (const char *const[]){"partner", jstr(p, "partner"), NULL});
    }
}

/* Write `data` to a new file (never an existing one, never through a symlink; mode 0600:
 * the export is the seeker's personal data). */
static int write_new(const char *path, const char *data, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(data), off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            close(fd);
            unlink(path);
            return -1;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

static int cmd_export(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    struct sel s;
    int rc = parse(rq, &s, 0, out);
    if (rc)
        return rc;
    if (s.out && s.out[0] != '/')
        return gw_ctl_fail(out, 2, "--out needs an absolute path (the daemon writes it)");
    char what[400];
    int64_t id = find(c, &s, what, sizeof what);
    if (id < 0)
        return not_found(out, id, what);
    json_t *doc = gw_store_privacy_export(c->store, id);
    if (!doc)
        return gw_ctl_fail(out, 1, "could not read the store for %s", what);
    GW_INFO("ctl: export of %s for %s", what, rq->peer ? rq->peer : "?");
    size_t nconv = json_array_size(json_object_get(doc, "conversations")), nmsg = 0, i;
    json_t *cv;
    json_array_foreach(json_object_get(doc, "conversations"), i, cv)
    {
        /* The read audit: one row per conversation whose texts leave the daemon. */
        size_t n = json_array_size(json_object_get(cv, "messages"));
        struct gw_conv_row row;
        const char *tok = json_string_value(json_object_get(cv, "token"));
        if (tok && gw_store_conv_by_token(c->store, tok, &row) == GW_OK)
            gw_audit_ctl(c, rq->peer, row.id, "export", (int)n, NULL);
        nmsg += n;
    }
    if (s.out) {
        char *js = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        struct gw_ctl_out txt = {0};
        render(c, doc, &txt);
        char txtpath[1100], err[600] = "";
        snprintf(txtpath, sizeof txtpath, "%s.txt", s.out);
        int bad = !js || write_new(s.out, js, err, sizeof err) < 0 ||
                  write_new(txtpath, txt.text ? txt.text : "", err, sizeof err) < 0;
        free(js);
        free(txt.text);
        if (bad) {
            json_decref(doc);
            return gw_ctl_fail(out, 1, "could not write the export: %s", err);
        }
        out->result = json_pack("{s:s, s:s, s:I, s:I}", "file", s.out, "text_file", txtpath,
                                "conversations", (json_int_t)nconv, "messages", (json_int_t)nmsg);
        gw_ctl_printf(out, "wrote %s and %s: %zu conversations, %zu messages of %s\n", s.out,
                      txtpath, nconv, nmsg, what);
        json_decref(doc);
        return 0;
    }
    if (!rq->json)
        render(c, doc, out);
    out->result = doc;
    return 0;
}

/* ---- erase ---- */

static int cmd_erase(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    struct sel s;
    int rc = parse(rq, &s, 1, out);
    if (rc)
        return rc;
    char what[400];
    int64_t id = find(c, &s, what, sizeof what);
    if (id < 0)
        return not_found(out, id, what);
    long long fl = gw_store_privacy_in_flight(c->store, id);
    if (fl < 0)
        return gw_ctl_fail(out, 1, "could not read the store for %s", what);
    if (fl > 0 && !s.force && !s.dry_run)
        return gw_ctl_fail(out, 1,
                           "%lld message(s) to %s are still on their way; try again later, or"
                           " --force to erase them undelivered",
                           fl, what);
    struct gw_erase_counts n;
    int partners = 0;
    char actor[300];
    snprintf(actor, sizeof actor, "ctl %s", rq->peer ? rq->peer : "?");
    if (gw_privacy_erase(c, id, actor, s.dry_run ? GW_ERASE_DRY_RUN : 0, &n, &partners) != GW_OK)
        return gw_ctl_fail(out, 1, "not erased: the store failed (nothing was changed)");
    if (!s.dry_run)
        GW_INFO("ctl: erased %s for %s: %lld conversations, %lld messages, %d partner(s) asked",
                what, rq->peer ? rq->peer : "?", n.conversations, n.messages, partners);
    out->result = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "dry_run",
                            s.dry_run, "conversations", (json_int_t)n.conversations, "messages",
                            (json_int_t)n.messages, "dedup", (json_int_t)n.dedup, "outbox",
                            (json_int_t)n.outbox, "events", (json_int_t)n.events, "feedback",
                            (json_int_t)n.feedback, "sessions", (json_int_t)n.sessions, "in_flight",
                            (json_int_t)n.in_flight, "partners", partners);
    gw_ctl_printf(out,
                  "%s %s: %lld conversation(s) made anonymous, %lld message(s), %lld outbox"
                  " row(s) (%lld in flight), %lld dedup key(s), %lld session(s), %lld"
                  " feedback comment(s); %d partner(s) %s\n",
                  s.dry_run ? "would erase" : "erased", what, n.conversations, n.messages, n.outbox,
                  n.in_flight, n.dedup, n.sessions, n.feedback, partners,
                  s.dry_run ? "would be asked to erase their copy"
                            : "asked to erase their copy (erase-pending shows the answers)");
    return 0;
}

/* ---- erase requests waiting for a partner ---- */

struct pending_ctx {
    json_t *list;
    struct gw_ctl_out *out;
};

static int pending_one(void *arg, const char *partner, int64_t asked_at, int attempts,
                       const char *last_error)
{
    struct pending_ctx *p = arg;
    char t[32];
    when(asked_at, t, sizeof t);
    json_array_append_new(p->list, json_pack("{s:s, s:I, s:i, s:s}", "partner", partner, "asked_at",
                                             (json_int_t)asked_at, "attempts", attempts,
                                             "last_error", last_error));
    gw_ctl_printf(p->out, "%-30s asked %s, %d attempt(s)%s%s\n", partner, t, attempts,
                  *last_error ? ", last: " : "", last_error);
    return 0;
}

static int cmd_pending(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    if (rq->argc > 1)
        return gw_ctl_fail(out, 2, "usage: erase-pending");
    struct pending_ctx p = {json_array(), out};
    int n = gw_privacy_erase_pending(c, pending_one, &p);
    if (n < 0) {
        json_decref(p.list);
        return gw_ctl_fail(out, 1, "could not read the store");
    }
    if (n == 0)
        gw_ctl_printf(out, "no erase request waits for a partner\n");
    out->result = json_pack("{s:o}", "pending", p.list);
    return 0;
}

const struct gw_ctl_cmd gw_ctl_privacy_cmds[] = {
    {"export-seeker",
     "export-seeker (--address CHANNEL:ADDR | --conv TOKEN-or-JID | --session SID) [--out FILE]",
     "everything stored about one seeker, as JSON and as text (GDPR art. 15)", cmd_export},
    {"erase-seeker",
     "erase-seeker (--address CHANNEL:ADDR | --conv TOKEN-or-JID | --session SID) [--force]"
     " [--dry-run]",
     "erase one seeker's texts and addresses, keep the statistics (GDPR art. 17)", cmd_erase},
    {"erase-pending", "erase-pending",
     "erase requests to partners not yet answered (retried through the outbox)", cmd_pending},
    {NULL, NULL, NULL, NULL},
};
