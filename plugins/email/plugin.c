/* plugin.c — the email channel plugin: config, lifecycle, and the exported descriptor. */
#include "email.h"
#include "util.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every key of the plugin's config group (docs/email.md explains each). */
static const char *const known_keys[] = {
    "address", "from_name", "envelope_from", "token_separator", "queue", "lang",
    "imap_url", "imap_user", "imap_password", "imap_password_file", "imap_tls", "imap_mailbox",
    "processed", "processed_mailbox", "poll_interval_s", "max_message_kb", "fetch_batch",
    "smtp_url", "smtp_user", "smtp_password", "smtp_password_file", "smtp_tls", "timeout_s",
    "max_body_bytes", "batch_window_s", "batch_max_s", "auto_window_s", "auto_interval_h",
    "attachments_note", "inject_token", "inject_token_file", NULL};

/* Integer keys with defaults and bounds. */
static const struct {
    const char *key;
    long long def, min, max;
    size_t off;
} int_keys[] = {
    {"poll_interval_s", 60, 1, 86400, offsetof(struct mail_conf, poll_s)},
    {"max_message_kb", 25600, 16, 1048576, offsetof(struct mail_conf, max_message_kb)},
    {"fetch_batch", 20, 1, 500, offsetof(struct mail_conf, fetch_batch)},
    {"max_body_bytes", 20000, 1000, 1000000, offsetof(struct mail_conf, max_body_bytes)},
    {"batch_window_s", 60, 0, 3600, offsetof(struct mail_conf, batch_window_s)},
    {"batch_max_s", 300, 0, 86400, offsetof(struct mail_conf, batch_max_s)},
    {"auto_window_s", 5, 0, 600, offsetof(struct mail_conf, auto_window_s)},
    {"auto_interval_h", 12, 0, 720, offsetof(struct mail_conf, auto_interval_h)},
};

static void conf_release(struct mail_conf *cf)
{
    free(cf->address);
    free(cf->local);
    free(cf->domain);
    free(cf->from_name);
    free(cf->envelope_from);
    free(cf->queue);
    free(cf->lang);
    free(cf->mailbox);
    free(cf->move_to);
    if (cf->inject_token)
        memset(cf->inject_token, 0, strlen(cf->inject_token));
    free(cf->inject_token);
    struct mail_server *s[] = {&cf->imap, &cf->smtp};
    for (int i = 0; i < 2; i++) {
        free(s[i]->url);
        free(s[i]->user);
        if (s[i]->password)
            memset(s[i]->password, 0, strlen(s[i]->password));
        free(s[i]->password);
    }
    memset(cf, 0, sizeof *cf);
}

static int is_loopback_url(const char *url)
{
    const char *h = strstr(url, "://");
    if (!h)
        return 0;
    h += 3;
    return !strncmp(h, "127.", 4) || !strncasecmp(h, "localhost", 9) || !strncmp(h, "[::1]", 5);
}

/* Copy an optional string key (NULL when absent or ""). */
static int opt_str(struct mail_ctx *c, const config_setting_t *g, const char *key, const char *def,
                   char **out)
{
    const char *v = NULL;
    if (c->api->cfg_string(c->h, g, key, def, &v) != GW_OK)
        return GW_EINVAL;
    *out = (v && *v) ? strdup(v) : NULL;
    return (v && *v && !*out) ? GW_ENOMEM : GW_OK;
}

static int server(struct mail_ctx *c, const config_setting_t *g, const char *proto,
                  struct mail_server *s, long long timeout_s)
{
    char key[32];
    snprintf(key, sizeof key, "%s_url", proto);
    if (opt_str(c, g, key, NULL, &s->url) != GW_OK)
        return GW_EINVAL;
    if (!s->url)
        return GW_OK;
    size_t n = strlen(s->url);
    while (n && s->url[n - 1] == '/')
        s->url[--n] = '\0';
    char plain[16], tls[16];
    snprintf(plain, sizeof plain, "%s://", proto);
    snprintf(tls, sizeof tls, "%ss://", proto);
    const config_setting_t *where = g ? config_setting_get_member(g, key) : NULL;
    if (strncasecmp(s->url, plain, strlen(plain)) && strncasecmp(s->url, tls, strlen(tls))) {
        c->api->cfg_error(c->h, where, "%s must start with %s or %s", key, plain, tls);
        return GW_EINVAL;
    }
    if (strchr(s->url + strlen(tls), '/')) {
        c->api->cfg_error(c->h, where, "%s: give only scheme, host and port (no path)", key);
        return GW_EINVAL;
    }
    snprintf(key, sizeof key, "%s_tls", proto);
    const char *t = NULL;
    if (c->api->cfg_string(c->h, g, key, "required", &t) != GW_OK)
        return GW_EINVAL;
    if (!strcmp(t, "required"))
        s->tls = MAIL_TLS_REQUIRED;
    else if (!strcmp(t, "try"))
        s->tls = MAIL_TLS_TRY;
    else if (!strcmp(t, "off"))
        s->tls = MAIL_TLS_OFF;
    else {
        c->api->cfg_error(c->h, g ? config_setting_get_member(g, key) : NULL,
                          "%s must be \"required\", \"try\" or \"off\"", key);
        return GW_EINVAL;
    }
    if (s->tls != MAIL_TLS_REQUIRED && !is_loopback_url(s->url) &&
        strncasecmp(s->url, tls, strlen(tls))) {
        /* passwords and seekers' mail never cross a network in clear text */
        c->api->cfg_error(c->h, g ? config_setting_get_member(g, key) : NULL,
                          "%s = \"%s\" is only allowed for a loopback server", key, t);
        return GW_EINVAL;
    }
    snprintf(key, sizeof key, "%s_user", proto);
    if (opt_str(c, g, key, NULL, &s->user) != GW_OK)
        return GW_EINVAL;
    if (s->user) {
        snprintf(key, sizeof key, "%s_password", proto);
        s->password = c->api->cfg_secret(c->h, g, key);
        if (!s->password)
            return GW_EINVAL;
    }
    s->timeout_s = (long)timeout_s;
    return GW_OK;
}

static int conf_parse(struct mail_ctx *c, const config_setting_t *g, struct mail_conf *cf,
                      char *err, size_t errlen)
{
    memset(cf, 0, sizeof *cf);
    if (c->api->cfg_known_keys(c->h, g, known_keys) != GW_OK)
        return GW_EINVAL;
    int bad = 0;
    if (opt_str(c, g, "address", NULL, &cf->address) != GW_OK)
        bad = 1;
    const char *at = cf->address ? strrchr(cf->address, '@') : NULL;
    if (!bad && (!at || at == cf->address || !at[1] || strpbrk(cf->address, " <>\"\r\n,;"))) {
        snprintf(err, errlen, "email: address must be the service's plain address "
                              "(veiledning@example.no)");
        bad = 1;
    }
    if (!bad) {
        cf->local = strndup(cf->address, (size_t)(at - cf->address));
        cf->domain = strdup(at + 1);
    }
    const char *sep = NULL;
    if (c->api->cfg_string(c->h, g, "token_separator", "+", &sep) != GW_OK)
        bad = 1;
    else if (strlen(sep) != 1 || !strchr("+-_.=", sep[0])) {
        c->api->cfg_error(c->h, g ? config_setting_get_member(g, "token_separator") : NULL,
                          "token_separator must be one of + - _ . =");
        bad = 1;
    } else {
        cf->sep = sep[0];
    }
    if (opt_str(c, g, "from_name", NULL, &cf->from_name) != GW_OK ||
        opt_str(c, g, "envelope_from", cf->address, &cf->envelope_from) != GW_OK ||
        opt_str(c, g, "queue", NULL, &cf->queue) != GW_OK ||
        opt_str(c, g, "lang", NULL, &cf->lang) != GW_OK ||
        opt_str(c, g, "imap_mailbox", "INBOX", &cf->mailbox) != GW_OK ||
        opt_str(c, g, "processed_mailbox", "Processed", &cf->move_to) != GW_OK)
        bad = 1;
    if (cf->lang && strcmp(cf->lang, "nb") && strcmp(cf->lang, "nn") && strcmp(cf->lang, "da") &&
        strcmp(cf->lang, "en")) {
        c->api->cfg_error(c->h, g ? config_setting_get_member(g, "lang") : NULL,
                          "lang must be nb, nn, da or en");
        bad = 1;
    }
    const char *proc = NULL;
    if (c->api->cfg_string(c->h, g, "processed", "seen", &proc) != GW_OK)
        bad = 1;
    else if (strcmp(proc, "seen") && strcmp(proc, "move")) {
        c->api->cfg_error(c->h, g ? config_setting_get_member(g, "processed") : NULL,
                          "processed must be \"seen\" or \"move\"");
        bad = 1;
    } else {
        cf->move = !strcmp(proc, "move");
    }
    for (size_t i = 0; i < sizeof int_keys / sizeof int_keys[0]; i++) {
        long long *dst = (long long *)((char *)cf + int_keys[i].off);
        if (c->api->cfg_int(c->h, g, int_keys[i].key, int_keys[i].def, int_keys[i].min,
                            int_keys[i].max, dst) != GW_OK)
            bad = 1;
    }
    long long timeout = 60;
    if (c->api->cfg_int(c->h, g, "timeout_s", 60, 5, 600, &timeout) != GW_OK)
        bad = 1;
    if (c->api->cfg_bool(c->h, g, "attachments_note", 1, &cf->attachments_note) != GW_OK)
        bad = 1;
    if (server(c, g, "imap", &cf->imap, timeout) != GW_OK ||
        server(c, g, "smtp", &cf->smtp, timeout) != GW_OK)
        bad = 1;
    cf->imap_enabled = cf->imap.url != NULL;
    if (g && (config_setting_get_member(g, "inject_token") ||
              config_setting_get_member(g, "inject_token_file"))) {
        cf->inject_token = c->api->cfg_secret(c->h, g, "inject_token");
        if (!cf->inject_token)
            bad = 1;
        else if (strlen(cf->inject_token) < 16) {
            c->api->cfg_error(c->h, config_setting_get_member(g, "inject_token") ?
                                  config_setting_get_member(g, "inject_token") :
                                  config_setting_get_member(g, "inject_token_file"),
                              "inject_token must have at least 16 characters");
            bad = 1;
        }
    }
    if (!bad && !cf->smtp.url) {
        snprintf(err, errlen, "email: smtp_url is required");
        bad = 1;
    }
    if (!bad && cf->batch_max_s < cf->batch_window_s)
        cf->batch_max_s = cf->batch_window_s;
    if (bad) {
        conf_release(cf);
        return GW_EINVAL;
    }
    return GW_OK;
}

static enum mail_imap_verdict on_mail(void *arg, uint32_t uid, const char *raw, size_t len)
{
    struct mail_ctx *c = arg;
    MAIL_LOG(c, GW_LOG_DEBUG, "IMAP UID %u: %zu bytes", (unsigned)uid, len);
    return mail_inbound(c, raw, len);
}

static void ctx_free(struct mail_ctx *c)
{
    mail_xfers_release(&c->xs); /* first: the callbacks still need the poller */
    mail_imap_free(&c->imap);
    mail_out_release(c);
    conf_release(&c->conf);
    free(c);
    g_mime_shutdown();
}

static int email_init(void **self, const config_setting_t *conf, const struct gw_host_api *api,
                      struct gw_host *h, char *err, size_t errlen)
{
    *self = NULL;
    if (!api || api->size < offsetof(struct gw_host_api, transcript_text)) {
        snprintf(err, errlen, "email: the core's host API is too old");
        return GW_EINVAL;
    }
    struct mail_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "email: out of memory");
        return GW_ENOMEM;
    }
    g_mime_init();
    c->api = api;
    c->h = h;
    mail_xfers_init(&c->xs, api, h);
    TAILQ_INIT(&c->batches);
    if (conf_parse(c, conf, &c->conf, err, errlen) != GW_OK) {
        ctx_free(c);
        return GW_EINVAL;
    }
    *self = c;
    return GW_OK;
}

static int email_start(void *self)
{
    struct mail_ctx *c = self;
    c->started = 1;
    int rc = mail_inject_start(c);
    if (rc != GW_OK)
        return rc;
    if (!c->conf.imap_enabled) {
        if (!c->conf.inject_token)
            MAIL_LOG(c, GW_LOG_WARN, "neither imap_url nor inject_token: no mail comes in");
        else
            MAIL_LOG(c, GW_LOG_INFO, "no imap_url: mail only arrives through skagerrak-inject");
        return GW_OK;
    }
    struct mail_imap_conf ic = {
        .mailbox = c->conf.mailbox,
        .move = c->conf.move,
        .move_to = c->conf.move_to,
        .poll_ms = (uint64_t)c->conf.poll_s * 1000,
        .max_bytes = (size_t)c->conf.max_message_kb * 1024,
        .batch = (unsigned)c->conf.fetch_batch,
    };
    c->imap = mail_imap_new(&c->xs, &c->conf.imap, &ic, on_mail, c);
    if (!c->imap)
        return GW_ENOMEM;
    return mail_imap_poll(c->imap);
}

static void email_stop(void *self)
{
    if (self)
        ctx_free(self);
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Behaviour settings apply at once; server and address changes need a restart (a transfer
 * may be running with the old ones). */
static int email_reload(void *self, const config_setting_t *conf, char *err, size_t errlen)
{
    struct mail_ctx *c = self;
    struct mail_conf n;
    if (conf_parse(c, conf, &n, err, errlen) != GW_OK)
        return GW_EINVAL;
    struct mail_conf *o = &c->conf;
    if (!same(o->address, n.address) || o->sep != n.sep || !same(o->imap.url, n.imap.url) ||
        !same(o->imap.user, n.imap.user) || !same(o->imap.password, n.imap.password) ||
        !same(o->smtp.url, n.smtp.url) || !same(o->smtp.user, n.smtp.user) ||
        !same(o->smtp.password, n.smtp.password) || o->imap.tls != n.imap.tls ||
        o->smtp.tls != n.smtp.tls || !same(o->mailbox, n.mailbox) || o->move != n.move ||
        !same(o->move_to, n.move_to) || o->poll_s != n.poll_s ||
        o->max_message_kb != n.max_message_kb || o->fetch_batch != n.fetch_batch)
        MAIL_LOG(c, GW_LOG_WARN, "server, mailbox or address settings changed: they take "
                                 "effect after a restart");
    char *swap;
#define SWAP(f) (swap = o->f, o->f = n.f, n.f = swap)
    SWAP(from_name);
    SWAP(queue);
    SWAP(lang);
    SWAP(inject_token);
#undef SWAP
    o->max_body_bytes = n.max_body_bytes;
    o->batch_window_s = n.batch_window_s;
    o->batch_max_s = n.batch_max_s;
    o->auto_window_s = n.auto_window_s;
    o->auto_interval_h = n.auto_interval_h;
    o->attachments_note = n.attachments_note;
    conf_release(&n);
    return GW_OK;
}

static int email_deliver(void *self, const struct gw_msg *m, char *err, size_t errlen)
{
    return mail_out_deliver(self, m, err, errlen);
}

static int email_health(void *self, char *buf, size_t buflen)
{
    struct mail_ctx *c = self;
    char imap[200] = "null";
    int ok = 1;
    if (c->imap)
        ok = mail_imap_health(c->imap, imap, sizeof imap);
    unsigned pending = 0;
    struct mail_batch *b;
    TAILQ_FOREACH(b, &c->batches, link)
        pending++;
    snprintf(buf, buflen, "{\"inbound\":%s,\"sent\":%u,\"send_failed\":%u,\"batches\":%u}", imap,
             c->sent, c->failed, pending);
    return ok;
}

__attribute__((visibility("default"))) const struct gw_plugin skagerrak_plugin = {
    .abi = GW_PLUGIN_ABI,
    .size = sizeof(struct gw_plugin),
    .name = "email",
    .version = "0.1.0",
    .init = email_init,
    .start = email_start,
    .stop = email_stop,
    .reload = email_reload,
    .deliver = email_deliver,
    .health = email_health,
    .flags = GW_PLUGIN_F_PIPELINE, /* a conversation's lines go out as one mail (outbound.c) */
};
