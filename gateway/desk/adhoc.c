/* adhoc.c — XEP-0050 ad-hoc commands with XEP-0004 forms, for clients that have them.
 *
 * Each ad-hoc command maps onto the same text command (commands.c), so both paths behave
 * the same; the answer arrives as a chat message, and the IQ completes with a note. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/core.h"
#include "conf/i18n.h"
#include "io/log.h"
#include "io/xmpp.h"

#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_DATA "jabber:x:data"

struct adhoc_cmd {
    const char *node;
    const char *text;  /* the text command it runs */
    const char *field; /* one form field to ask for, or NULL */
    int outcomes;      /* field is a list-single of the configured outcomes */
};

static const struct adhoc_cmd cmds[] = {
    {"queue", "queue", NULL, 0},
    {"next", "next", NULL, 0},
    {"accept", "accept", NULL, 0},
    {"decline", "decline", NULL, 0},
    {"close", "close", "outcome", 1},
    {"transfer", "transfer", "target", 0},
    {"note", "note", "text", 0},
    {"help", "help", NULL, 0},
    {NULL, NULL, NULL, 0},
};

static xmpp_stanza_t *el(xmpp_ctx_t *ctx, const char *name, const char *ns)
{
    xmpp_stanza_t *e = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(e, name);
    if (ns)
        xmpp_stanza_set_ns(e, ns);
    return e;
}

static void add(xmpp_stanza_t *parent, xmpp_stanza_t *child)
{
    xmpp_stanza_add_child_ex(parent, child, 0);
}

static void add_text(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *text)
{
    xmpp_stanza_t *e = el(ctx, name, NULL), *t = xmpp_stanza_new(ctx);
    xmpp_stanza_set_text(t, text);
    add(e, t);
    add(parent, e);
}

static xmpp_stanza_t *result_for(struct gw_core *c, xmpp_stanza_t *iq)
{
    xmpp_stanza_t *r = xmpp_iq_new(gw_xmpp_ctx(c->xmpp), "result", xmpp_stanza_get_id(iq));
    xmpp_stanza_set_to(r, xmpp_stanza_get_from(iq));
    xmpp_stanza_set_from(r, xmpp_stanza_get_to(iq));
    return r;
}

static char *field_value(xmpp_stanza_t *cmd, const char *var)
{
    xmpp_stanza_t *x = xmpp_stanza_get_child_by_ns(cmd, NS_DATA);
    for (xmpp_stanza_t *f = x ? xmpp_stanza_get_children(x) : NULL; f;
         f = xmpp_stanza_get_next(f)) {
        const char *v = xmpp_stanza_is_tag(f) ? xmpp_stanza_get_attribute(f, "var") : NULL;
        if (v && !strcmp(v, var)) {
            xmpp_stanza_t *val = xmpp_stanza_get_child_by_name(f, "value");
            return val ? xmpp_stanza_get_text(val) : NULL;
        }
    }
    return NULL;
}

int gw_adhoc_iq(struct gw_core *c, xmpp_stanza_t *st)
{
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    const char *from = xmpp_stanza_get_from(st), *type = xmpp_stanza_get_type(st);
    char bare[256];
    const char *slash = from ? strchr(from, '/') : NULL;
    snprintf(bare, sizeof bare, "%.*s", slash ? (int)(slash - from) : (int)strlen(from ? from : ""),
             from ? from : "");
    const struct gw_counsellor_conf *who = gw_config_counsellor(c->cfg, bare);
    int member = who != NULL;
    for (int i = 0; i < c->cfg->nqueues; i++)
        member |= gw_queue_has_counsellor(&c->cfg->queues[i], bare);
    if (!member) {
        GW_WARN("ad-hoc command from %s refused: not a counsellor", bare);
        gw_xmpp_iq_error(c->xmpp, st, "auth", "forbidden");
        return 1;
    }
    const char *to = xmpp_stanza_get_to(st);
    char local[128] = "";
    const char *at = to ? strchr(to, '@') : NULL;
    if (at)
        snprintf(local, sizeof local, "%.*s", (int)(at - to), to);
    const char *lang = gw_counsellor_lang(c, bare);
    xmpp_stanza_t *items = xmpp_stanza_get_child_by_ns(st, NS_ITEMS);
    if (items && type && !strcmp(type, "get")) {
        xmpp_stanza_t *r = result_for(c, st), *q = el(ctx, "query", NS_ITEMS);
        xmpp_stanza_set_attribute(q, "node", NS_COMMANDS);
        for (const struct adhoc_cmd *a = cmds; a->node; a++) {
            xmpp_stanza_t *it = el(ctx, "item", NULL);
            xmpp_stanza_set_attribute(it, "jid", to);
            xmpp_stanza_set_attribute(it, "node", a->node);
            char key[32];
            snprintf(key, sizeof key, "help_%s", a->node);
            xmpp_stanza_set_attribute(
                it, "name", strcmp(a->node, "help") ? gw_i18n_text(c->i18n, lang, key) : "help");
            add(q, it);
        }
        add(r, q);
        gw_xmpp_send(c->xmpp, r);
        xmpp_stanza_release(r);
        return 1;
    }
    xmpp_stanza_t *cmd = xmpp_stanza_get_child_by_ns(st, NS_COMMANDS);
    if (!cmd || !type || strcmp(type, "set"))
        return 0;
    const char *node = xmpp_stanza_get_attribute(cmd, "node");
    const char *action = xmpp_stanza_get_attribute(cmd, "action");
    const struct adhoc_cmd *a = cmds;
    while (a->node && (!node || strcmp(a->node, node)))
        a++;
    if (!a->node) {
        gw_xmpp_iq_error(c->xmpp, st, "cancel", "item-not-found");
        return 1;
    }
    xmpp_stanza_t *r = result_for(c, st), *out = el(ctx, "command", NS_COMMANDS);
    xmpp_stanza_set_attribute(out, "node", a->node);
    xmpp_stanza_set_attribute(out, "sessionid",
                              xmpp_stanza_get_id(st) ? xmpp_stanza_get_id(st) : "s");
    char *value = a->field ? field_value(cmd, a->field) : NULL;
    if (action && !strcmp(action, "cancel")) {
        xmpp_stanza_set_attribute(out, "status", "canceled");
    } else if (a->field && !value) {
        /* First step: the form. */
        xmpp_stanza_set_attribute(out, "status", "executing");
        xmpp_stanza_t *acts = el(ctx, "actions", NULL);
        xmpp_stanza_set_attribute(acts, "execute", "complete");
        add(acts, el(ctx, "complete", NULL));
        add(out, acts);
        xmpp_stanza_t *x = el(ctx, "x", NS_DATA);
        xmpp_stanza_set_type(x, "form");
        char key[32];
        snprintf(key, sizeof key, "help_%s", a->node);
        add_text(ctx, x, "title", gw_i18n_text(c->i18n, lang, key));
        xmpp_stanza_t *f = el(ctx, "field", NULL);
        xmpp_stanza_set_attribute(f, "var", a->field);
        xmpp_stanza_set_attribute(f, "type", a->outcomes ? "list-single" : "text-single");
        xmpp_stanza_set_attribute(f, "label", a->field);
        add(f, el(ctx, "required", NULL));
        for (int i = 0; a->outcomes && i < c->cfg->noutcomes; i++) {
            xmpp_stanza_t *o = el(ctx, "option", NULL);
            xmpp_stanza_set_attribute(o, "label", c->cfg->outcomes[i]);
            add_text(ctx, o, "value", c->cfg->outcomes[i]);
            add(f, o);
        }
        add(x, f);
        add(out, x);
    } else {
        char text[1200];
        snprintf(text, sizeof text, "%s%s%s", a->text, value ? " " : "", value ? value : "");
        gw_command(c, from, local[0] ? local : NULL, text);
        xmpp_stanza_set_attribute(out, "status", "completed");
        xmpp_stanza_t *note = el(ctx, "note", NULL);
        xmpp_stanza_set_attribute(note, "type", "info");
        xmpp_stanza_t *t = xmpp_stanza_new(ctx);
        xmpp_stanza_set_text(t, gw_i18n_text(c->i18n, lang, "adhoc_done"));
        add(note, t);
        add(out, note);
    }
    if (value)
        xmpp_free(ctx, value);
    add(r, out);
    gw_xmpp_send(c->xmpp, r);
    xmpp_stanza_release(r);
    return 1;
}
