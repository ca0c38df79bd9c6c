/* store.c — the fake host's store side: submit(), conversations, delivery confirmations and
 * reports, history, blocking, texts, address masking, kv. */

#include "priv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- conversations and messages ------------------------------------------------------- */

static struct fh_conv *conv_find(struct fakehost *fh, const char *token)
{
    struct fakehost_priv *p = fh->priv;
    for (size_t i = 0; token && i < p->convs.n; i++)
        if (!strcmp(p->convs.v[i].token, token))
            return &p->convs.v[i];
    return NULL;
}

static struct fh_conv *conv_open_for(struct fakehost *fh, const char *address)
{
    struct fakehost_priv *p = fh->priv;
    for (size_t i = p->convs.n; address && i-- > 0;)
        if (p->convs.v[i].address && !strcmp(p->convs.v[i].address, address) &&
            strcmp(p->convs.v[i].state, "closed"))
            return &p->convs.v[i];
    return NULL;
}

static int is_blocked(struct fakehost *fh, const char *address)
{
    for (size_t i = 0; address && i < fh->priv->blocked.n; i++)
        if (!strcmp(fh->priv->blocked.v[i], address))
            return 1;
    return 0;
}

static int64_t hist_add(struct fakehost *fh, const char *conv, const char *dir, const char *body,
                        const char *state)
{
    struct fh_hist *it = &PUSH(fh->priv->hist);
    it->id = fh->priv->next_msg_id++;
    it->conv = fh_xdup(conv);
    it->dir = fh_xdup(dir);
    it->body = fh_xdup(body ? body : "");
    it->state = fh_xdup(state ? state : "stored");
    it->created_ms = fh->now_ms;
    return it->id;
}

static int fh_submit(struct gw_host *h, const struct gw_inbound *in, struct gw_submitted *out,
                     char *err, size_t errlen)
{
    struct fakehost *fh = fh_of(h);
    struct fakehost_submit *r = &RECORD(fh, submits, nsubmits, cap_submits);
    r->channel_msg_id = fh_xdup(in->channel_msg_id);
    r->address = fh_xdup(in->address);
    r->display = fh_xdup(in->display);
    r->body = fh_xdup(in->body);
    r->lang = fh_xdup(in->lang);
    r->queue = fh_xdup(in->queue);
    r->conv = fh_xdup(in->conv);
    r->meta_json = fh_xdup(in->meta_json);
    r->new_conversation = in->new_conversation;
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    if (fh->submit_rc) {
        r->rc = fh->submit_rc;
        if (err && errlen)
            snprintf(err, errlen, "%s", fh->submit_err[0] ? fh->submit_err : "fake failure");
        return r->rc;
    }
    if (!in->address || !in->body) {
        if (err && errlen)
            snprintf(err, errlen, "address and body are required");
        return r->rc = GW_EINVAL;
    }
    if (is_blocked(fh, in->address)) {
        if (err && errlen)
            snprintf(err, errlen, "seeker is blocked");
        return r->rc = GW_EPERM;
    }
    /* Dedup by channel_msg_id: the first record with the same id and GW_OK wins. */
    for (size_t i = 0; in->channel_msg_id && i + 1 < fh->nsubmits; i++) {
        const struct fakehost_submit *o = &fh->submits[i];
        if (o->rc == GW_OK && !o->out.duplicate && o->channel_msg_id &&
            !strcmp(o->channel_msg_id, in->channel_msg_id)) {
            *out = o->out;
            out->duplicate = 1;
            r->out = *out;
            return r->rc = GW_OK;
        }
    }
    struct fh_conv *c = in->conv ? conv_find(fh, in->conv) : NULL;
    if (in->conv && !c) {
        if (err && errlen)
            snprintf(err, errlen, "unknown conversation %s", in->conv);
        return r->rc = GW_ENOTFOUND;
    }
    if (!c && !in->new_conversation)
        c = conv_open_for(fh, in->address);
    if (!c) {
        c = &PUSH(fh->priv->convs);
        snprintf(c->token, sizeof c->token, "conv-%d", ++fh->priv->next_conv);
        c->address = fh_xdup(in->address);
        snprintf(c->state, sizeof c->state, "queued");
    }
    out->msg_id = hist_add(fh, c->token, "in", in->body, "stored");
    snprintf(out->conv, sizeof out->conv, "%s", c->token);
    r->out = *out;
    return r->rc = GW_OK;
}

static int fh_seeker_event(struct gw_host *h, const char *conv, enum gw_seeker_event ev)
{
    struct fakehost *fh = fh_of(h);
    struct fakehost_event *e = &RECORD(fh, events, nevents, cap_events);
    e->conv = fh_xdup(conv);
    e->ev = ev;
    return conv_find(fh, conv) ? GW_OK : GW_ENOTFOUND;
}

static struct fh_ref *ref_find(const struct fakehost *fh, const char *ref)
{
    for (size_t i = 0; ref && i < fh->priv->refs.n; i++)
        if (!strcmp(fh->priv->refs.v[i].ref, ref))
            return &fh->priv->refs.v[i];
    return NULL;
}

void fakehost_ref_add(struct fakehost *fh, const char *channel_ref, const char *conv)
{
    struct fh_ref *r = ref_find(fh, channel_ref);
    if (!r) {
        r = &PUSH(fh->priv->refs);
        r->ref = fh_xdup(channel_ref);
    }
    free(r->conv);
    r->conv = fh_xdup(conv);
}

enum gw_dlr fakehost_ref_state(const struct fakehost *fh, const char *channel_ref)
{
    const struct fh_ref *r = ref_find(fh, channel_ref);
    return r ? r->state : (enum gw_dlr)0;
}

static void fh_deliver_done(struct gw_host *h, int64_t msg_id, int status, const char *channel_ref,
                            const char *reason)
{
    struct fakehost *fh = fh_of(h);
    struct fakehost_done *d = &RECORD(fh, dones, ndones, cap_dones);
    d->msg_id = msg_id;
    d->status = status;
    d->channel_ref = fh_xdup(channel_ref);
    d->reason = fh_xdup(reason);
    if (status == GW_OK && channel_ref) {
        const char *conv = NULL;
        for (size_t i = 0; i < fh->priv->sent.n; i++)
            if (fh->priv->sent.v[i].id == msg_id)
                conv = fh->priv->sent.v[i].conv;
        fakehost_ref_add(fh, channel_ref, conv);
        ref_find(fh, channel_ref)->state = GW_DLR_SENT;
    }
}

static int fh_delivery_report(struct gw_host *h, const char *channel_ref, enum gw_dlr state,
                              const char *reason)
{
    struct fakehost *fh = fh_of(h);
    struct fakehost_dlr *d = &RECORD(fh, dlrs, ndlrs, cap_dlrs);
    d->channel_ref = fh_xdup(channel_ref);
    d->state = state;
    d->reason = fh_xdup(reason);
    struct fh_ref *r = ref_find(fh, channel_ref);
    if (!r)
        return d->rc = GW_ENOTFOUND;
    int final = r->state == GW_DLR_DELIVERED || r->state == GW_DLR_FAILED;
    if (!final)
        r->state = state;
    return d->rc = GW_OK;
}

static int fh_conv_by_ref(struct gw_host *h, const char *channel_ref, char *conv, size_t convlen)
{
    const struct fh_ref *r = ref_find(fh_of(h), channel_ref);
    if (!r || !r->conv)
        return GW_ENOTFOUND;
    snprintf(conv, convlen, "%s", r->conv);
    return GW_OK;
}

static int fh_conv_info(struct gw_host *h, const char *conv, char *address, size_t addrlen,
                        char *state, size_t statelen)
{
    const struct fh_conv *c = conv_find(fh_of(h), conv);
    if (!c)
        return GW_ENOTFOUND;
    if (address)
        snprintf(address, addrlen, "%s", c->address ? c->address : "");
    if (state)
        snprintf(state, statelen, "%s", c->state);
    return GW_OK;
}

int fakehost_conv_state(struct fakehost *fh, const char *conv, const char *state)
{
    struct fh_conv *c = conv_find(fh, conv);
    if (!c)
        return GW_ENOTFOUND;
    snprintf(c->state, sizeof c->state, "%s", state);
    return GW_OK;
}

int64_t fakehost_history_add(struct fakehost *fh, const char *conv, const char *dir,
                             const char *body, const char *state)
{
    return hist_add(fh, conv, dir, body, state);
}

static int fh_history(struct gw_host *h, const char *conv, int64_t after_id, gw_history_cb cb,
                      void *arg)
{
    struct fakehost *fh = fh_of(h);
    if (!conv_find(fh, conv))
        return GW_ENOTFOUND;
    for (size_t i = 0; i < fh->priv->hist.n; i++) {
        const struct fh_hist *it = &fh->priv->hist.v[i];
        if (strcmp(it->conv, conv) || it->id <= after_id)
            continue;
        struct gw_history_item item = {it->id, it->dir, it->body, it->created_ms, it->state, NULL};
        if (cb(arg, &item))
            break;
    }
    return GW_OK;
}

static int fh_seeker_block(struct gw_host *h, const char *address, int blocked, const char *why)
{
    struct fakehost *fh = fh_of(h);
    struct fakehost_block *b = &RECORD(fh, blocks, nblocks, cap_blocks);
    b->address = fh_xdup(address);
    b->blocked = blocked;
    b->why = fh_xdup(why);
    struct fakehost_priv *p = fh->priv;
    for (size_t i = 0; i < p->blocked.n; i++)
        if (!strcmp(p->blocked.v[i], address)) {
            if (!blocked) {
                free(p->blocked.v[i]);
                p->blocked.v[i] = p->blocked.v[--p->blocked.n];
            }
            return GW_OK;
        }
    if (blocked) {
        PUSH(p->blocked) = fh_xdup(address);
        struct fh_conv *c = conv_open_for(fh, address);
        if (c)
            snprintf(c->state, sizeof c->state, "closed");
    }
    return GW_OK;
}

static int fh_seeker_blocked(struct gw_host *h, const char *address)
{
    return is_blocked(fh_of(h), address);
}

/* ---- texts, masking, kv --------------------------------------------------------------- */

void fakehost_set_text(struct fakehost *fh, const char *lang, const char *key, const char *text)
{
    struct fh_text *t = &PUSH(fh->priv->texts);
    t->lang = fh_xdup(lang);
    t->key = fh_xdup(key);
    t->text = fh_xdup(text);
}

static const char *fh_text(struct gw_host *h, const char *lang, const char *key)
{
    struct fakehost_priv *p = fh_of(h)->priv;
    if (!key)
        return "";
    /* Newest first, so a later fakehost_set_text() overrides; exact language beats any. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = p->texts.n; i-- > 0;) {
            const struct fh_text *t = &p->texts.v[i];
            if (strcmp(t->key, key))
                continue;
            if (pass == 0 ? (t->lang && lang && !strcmp(t->lang, lang)) : !t->lang)
                return t->text;
        }
    char *s = NULL;
    if (asprintf(&s, "[%s:%s]", lang ? lang : "en", key) < 0)
        abort();
    /* Interned as an exact-language entry so the pointer lives until fakehost_free. */
    struct fh_text *t = &PUSH(p->texts);
    t->lang = fh_xdup(lang ? lang : "en");
    t->key = fh_xdup(key);
    t->text = s;
    return s;
}

static const char *fh_mask_address(const char *addr, char *buf, size_t buflen)
{
    if (!buf || !buflen)
        return "";
    if (!addr) {
        snprintf(buf, buflen, "?");
        return buf;
    }
    const char *at = strchr(addr, '@');
    if (at && at > addr) {
        /* First character (a whole UTF-8 sequence) + dots + domain. */
        size_t first = 1;
        while (addr + first < at && ((unsigned char)addr[first] & 0xC0) == 0x80)
            first++;
        snprintf(buf, buflen, "%.*s\xC2\xB7\xC2\xB7\xC2\xB7%s", (int)first, addr, at);
        return buf;
    }
    size_t n = strlen(addr);
    snprintf(buf, buflen, "\xC2\xB7\xC2\xB7%s", n > 4 ? addr + n - 4 : addr);
    return buf;
}

static char *fh_kv_get(struct gw_host *h, const char *key)
{
    struct fakehost_priv *p = fh_of(h)->priv;
    for (size_t i = 0; i < p->kv.n; i++)
        if (!strcmp(p->kv.v[i].key, key))
            return fh_xdup(p->kv.v[i].value);
    return NULL;
}

static int fh_kv_set(struct gw_host *h, const char *key, const char *value)
{
    struct fakehost_priv *p = fh_of(h)->priv;
    for (size_t i = 0; i < p->kv.n; i++)
        if (!strcmp(p->kv.v[i].key, key)) {
            free(p->kv.v[i].value);
            p->kv.v[i].value = fh_xdup(value);
            return GW_OK;
        }
    struct fh_kv *e = &PUSH(p->kv);
    e->key = fh_xdup(key);
    e->value = fh_xdup(value);
    return GW_OK;
}

/* The fake host commits every submit at once (it has no turns): run the effect now. */
static int fh_after_commit(struct gw_host *h, void (*cb)(void *arg), void (*drop)(void *arg),
                           void *arg)
{
    (void)h;
    (void)drop;
    cb(arg);
    return GW_OK;
}

static int fh_kv_del(struct gw_host *h, const char *key)
{
    struct fakehost_priv *p = fh_of(h)->priv;
    for (size_t i = 0; i < p->kv.n; i++)
        if (!strcmp(p->kv.v[i].key, key)) {
            free(p->kv.v[i].key);
            free(p->kv.v[i].value);
            p->kv.v[i] = p->kv.v[--p->kv.n];
            return GW_OK;
        }
    return GW_OK;
}

void fh_api_store(struct gw_host_api *api)
{
    api->submit = fh_submit;
    api->seeker_event = fh_seeker_event;
    api->deliver_done = fh_deliver_done;
    api->delivery_report = fh_delivery_report;
    api->conv_by_ref = fh_conv_by_ref;
    api->conv_info = fh_conv_info;
    api->history = fh_history;
    api->seeker_block = fh_seeker_block;
    api->seeker_blocked = fh_seeker_blocked;
    api->text = fh_text;
    api->mask_address = fh_mask_address;
    api->kv_get = fh_kv_get;
    api->kv_set = fh_kv_set;
    api->kv_del = fh_kv_del;
    api->after_commit = fh_after_commit;
}
