/* conf.c — parse and validate the webchat config group (see docs/webchat.md, "Config"). */
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef GW_SHAREDIR
#define GW_SHAREDIR "/usr/local/share/skagerrak"
#endif

static const char *const known_keys[] = {
    "static_dir",
    "allowed_origins",
    "queue",
    "queues",
    "languages",
    "default_lang",
    "timezone",
    "privacy_url",
    "storage",
    "session_ttl_s",
    "max_message_chars",
    "rate_session",
    "rate_session_period_s",
    "rate_ip",
    "rate_ip_period_s",
    "rate_ip_sessions",
    "rate_ip_sessions_period_s",
    "rate_typing",
    "rate_max_keys",
    "max_streams_per_session",
    "max_streams",
    "heartbeat_s",
    "transcript_email",
    "feedback",
    "trust_proxy",
    "prechat",
    NULL,
};
static const char *const field_keys[] = {"id",    "type",    "required", "maxlen",
                                         "label", "options", NULL};
static const char *const option_keys[] = {"value", "label", NULL};
static const char *const all_langs[] = {"nb", "nn", "da", "en", NULL};

struct loader {
    const struct gw_host_api *api;
    struct gw_host *h;
    int bad;
};

static int is_lang(const char *s)
{
    for (size_t i = 0; all_langs[i]; i++)
        if (strcmp(s, all_langs[i]) == 0)
            return 1;
    return 0;
}

static int ident_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static char *dup_or_flag(struct loader *L, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        L->bad = 1;
    return d;
}

static void str_opt(struct loader *L, const config_setting_t *conf, const char *key,
                    const char *def, char **out)
{
    const char *v = def;
    if (L->api->cfg_string(L->h, conf, key, def, &v) != GW_OK) {
        L->bad = 1;
        v = def;
    }
    *out = dup_or_flag(L, v);
}

static long long int_opt(struct loader *L, const config_setting_t *conf, const char *key,
                         long long def, long long min, long long max)
{
    long long v = def;
    if (L->api->cfg_int(L->h, conf, key, def, min, max, &v) != GW_OK) {
        L->bad = 1;
        v = def;
    }
    return v;
}

static int bool_opt(struct loader *L, const config_setting_t *conf, const char *key, int def)
{
    int v = def;
    if (L->api->cfg_bool(L->h, conf, key, def, &v) != GW_OK) {
        L->bad = 1;
        v = def;
    }
    return v;
}

/* A list/array of strings; each passes `check` (may be NULL).  Missing key: *out stays NULL. */
static void str_list(struct loader *L, const config_setting_t *conf, const char *key,
                     int (*check)(const char *), const char *what, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    config_setting_t *s = conf ? config_setting_get_member(conf, key) : NULL;
    if (!s)
        return;
    if (!config_setting_is_aggregate(s) || config_setting_is_group(s)) {
        L->api->cfg_error(L->h, s, "%s must be a list of strings", key);
        L->bad = 1;
        return;
    }
    int len = config_setting_length(s);
    *out = calloc((size_t)len + 1, sizeof(char *));
    if (!*out) {
        L->bad = 1;
        return;
    }
    for (int i = 0; i < len; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *v = config_setting_get_string(e);
        if (!v || (check && !check(v))) {
            L->api->cfg_error(L->h, e ? e : s, "%s: element %d is not %s", key, i + 1, what);
            L->bad = 1;
            continue;
        }
        (*out)[(*n)++] = dup_or_flag(L, v);
    }
}

static int origin_ok(const char *s)
{
    /* scheme://host[:port], no path, no trailing slash: what browsers send as Origin */
    const char *p = NULL;
    if (strncmp(s, "https://", 8) == 0)
        p = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        p = s + 7;
    if (!p || !*p)
        return 0;
    for (; *p; p++)
        if (*p == '/' || *p == ' ' || *p == '*' || (unsigned char)*p < 0x21)
            return 0;
    return 1;
}

static int queue_ok(const char *s)
{
    return ident_ok(s, 63);
}

/* A group {nb = "..."; en = "..."} as a JSON object; NULL (and L->bad) on errors. */
static json_t *label_group(struct loader *L, const config_setting_t *g)
{
    if (!config_setting_is_group(g)) {
        L->api->cfg_error(
            L->h, g,
            "label must be a group of texts per language, e.g. { nb = \"...\"; en = \"...\"; }");
        L->bad = 1;
        return NULL;
    }
    json_t *o = json_object();
    if (!o) {
        L->bad = 1;
        return NULL;
    }
    int len = config_setting_length(g);
    for (int i = 0; i < len; i++) {
        config_setting_t *e = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(e);
        const char *v = config_setting_get_string(e);
        if (!name || !is_lang(name) || !v) {
            L->api->cfg_error(L->h, e, "label: expected nb/nn/da/en = \"text\"");
            L->bad = 1;
            continue;
        }
        json_object_set_new(o, name, json_string(v));
    }
    return o;
}

static void load_field(struct loader *L, const config_setting_t *g, struct web_field *f,
                       json_t *arr)
{
    if (!config_setting_is_group(g)) {
        L->api->cfg_error(L->h, g, "prechat: each field is a group { id = ...; type = ...; }");
        L->bad = 1;
        return;
    }
    if (L->api->cfg_known_keys(L->h, g, field_keys) != GW_OK)
        L->bad = 1;
    const char *id = NULL, *type = NULL;
    if (L->api->cfg_string(L->h, g, "id", NULL, &id) != GW_OK || !id ||
        !ident_ok(id, WEB_FIELD_ID_MAX)) {
        L->api->cfg_error(L->h, g, "prechat field: id must be 1-32 of [a-z0-9_-]");
        L->bad = 1;
        return;
    }
    snprintf(f->id, sizeof(f->id), "%s", id);
    if (L->api->cfg_string(L->h, g, "type", "select", &type) != GW_OK)
        L->bad = 1;
    if (type && strcmp(type, "text") == 0) {
        f->type = WEB_FIELD_TEXT;
    } else if (!type || strcmp(type, "select") == 0) {
        f->type = WEB_FIELD_SELECT;
    } else {
        L->api->cfg_error(L->h, g, "prechat field %s: type must be \"select\" or \"text\"", f->id);
        L->bad = 1;
    }
    f->required = bool_opt(L, g, "required", 0);
    f->maxlen = (unsigned)int_opt(L, g, "maxlen", 200, 1, 2000);

    json_t *jf = json_pack("{s:s, s:s, s:b}", "id", f->id, "type",
                           f->type == WEB_FIELD_TEXT ? "text" : "select", "required", f->required);
    if (!jf) {
        L->bad = 1;
        return;
    }
    json_array_append_new(arr, jf);
    if (f->type == WEB_FIELD_TEXT)
        json_object_set_new(jf, "maxlen", json_integer(f->maxlen));
    config_setting_t *lab = config_setting_get_member(g, "label");
    if (lab) {
        json_t *jl = label_group(L, lab);
        if (jl)
            json_object_set_new(jf, "label", jl);
    }

    config_setting_t *opts = config_setting_get_member(g, "options");
    if (f->type == WEB_FIELD_SELECT) {
        if (!opts || !config_setting_is_list(opts) || config_setting_length(opts) == 0) {
            L->api->cfg_error(L->h, opts ? opts : g,
                              "prechat field %s: a select needs options = ( \"a\", { value = "
                              "\"b\"; label = {...}; } )",
                              f->id);
            L->bad = 1;
            return;
        }
        int len = config_setting_length(opts);
        f->options = calloc((size_t)len, sizeof(char *));
        json_t *jo = json_array();
        if (!f->options || !jo) {
            json_decref(jo);
            L->bad = 1;
            return;
        }
        json_object_set_new(jf, "options", jo);
        for (int i = 0; i < len; i++) {
            config_setting_t *e = config_setting_get_elem(opts, (unsigned)i);
            const char *v = config_setting_get_string(e);
            json_t *jlab = NULL;
            if (!v && config_setting_is_group(e)) {
                if (L->api->cfg_known_keys(L->h, e, option_keys) != GW_OK)
                    L->bad = 1;
                if (L->api->cfg_string(L->h, e, "value", NULL, &v) != GW_OK)
                    L->bad = 1;
                config_setting_t *ol = config_setting_get_member(e, "label");
                if (ol)
                    jlab = label_group(L, ol);
            }
            if (!v || !ident_ok(v, 63)) {
                L->api->cfg_error(L->h, e,
                                  "prechat field %s: option %d needs a value of [a-z0-9_-]", f->id,
                                  i + 1);
                L->bad = 1;
                json_decref(jlab);
                continue;
            }
            f->options[f->n_options++] = dup_or_flag(L, v);
            json_t *o = json_pack("{s:s}", "value", v);
            if (o && jlab)
                json_object_set_new(o, "label", jlab);
            else
                json_decref(jlab);
            json_array_append_new(jo, o);
        }
    } else if (opts) {
        L->api->cfg_error(L->h, opts, "prechat field %s: options only for type \"select\"", f->id);
        L->bad = 1;
    }
}

static void load_fields(struct loader *L, const config_setting_t *conf, struct web_conf *c)
{
    c->fields_json = json_array();
    if (!c->fields_json) {
        L->bad = 1;
        return;
    }
    config_setting_t *s = conf ? config_setting_get_member(conf, "prechat") : NULL;
    if (!s)
        return;
    if (!config_setting_is_list(s)) {
        L->api->cfg_error(L->h, s, "prechat must be a list of groups: ( { ... }, { ... } )");
        L->bad = 1;
        return;
    }
    int len = config_setting_length(s);
    c->fields = calloc((size_t)len + 1, sizeof(*c->fields));
    if (!c->fields) {
        L->bad = 1;
        return;
    }
    for (int i = 0; i < len; i++) {
        config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
        struct web_field *f = &c->fields[c->n_fields];
        load_field(L, g, f, c->fields_json);
        if (!f->id[0])
            continue;
        for (size_t j = 0; j < c->n_fields; j++)
            if (strcmp(c->fields[j].id, f->id) == 0) {
                L->api->cfg_error(L->h, g, "prechat: field id %s appears twice", f->id);
                L->bad = 1;
            }
        c->n_fields++;
    }
}

int web_conf_load(struct web_conf *c, const config_setting_t *conf, const struct gw_host_api *api,
                  struct gw_host *h, char *err, size_t errlen)
{
    struct loader L = {api, h, 0};
    memset(c, 0, sizeof(*c));
    if (conf && api->cfg_known_keys(h, conf, known_keys) != GW_OK)
        L.bad = 1;

    str_opt(&L, conf, "static_dir", GW_SHAREDIR "/webchat", &c->static_dir);
    str_list(&L, conf, "allowed_origins", origin_ok, "an origin like \"https://www.example.no\"",
             &c->origins, &c->n_origins);

    /* queues: the default queue first, then the others a page may name */
    char *def_queue = NULL;
    str_opt(&L, conf, "queue", "general", &def_queue);
    char **more = NULL;
    size_t n_more = 0;
    str_list(&L, conf, "queues", queue_ok, "a queue id", &more, &n_more);
    c->queues = calloc(n_more + 2, sizeof(char *));
    if (!c->queues || !def_queue) {
        L.bad = 1;
        free(def_queue);
    } else {
        if (!queue_ok(def_queue)) {
            api->cfg_error(h, conf ? config_setting_get_member(conf, "queue") : NULL,
                           "queue must be a queue id of [a-z0-9_-]");
            L.bad = 1;
        }
        c->queues[c->n_queues++] = def_queue;
        for (size_t i = 0; i < n_more; i++) {
            if (strcmp(more[i], def_queue) == 0) {
                free(more[i]);
                continue;
            }
            c->queues[c->n_queues++] = more[i];
        }
    }
    free(more);

    char **langs = NULL;
    size_t n_langs = 0;
    str_list(&L, conf, "languages", is_lang, "one of nb, nn, da, en", &langs, &n_langs);
    if (!langs) {
        for (size_t i = 0; all_langs[i]; i++)
            snprintf(c->langs[c->n_langs++], sizeof(c->langs[0]), "%s", all_langs[i]);
    } else {
        for (size_t i = 0; i < n_langs; i++) {
            if (c->n_langs < WEB_MAX_LANGS && !web_conf_has_lang(c, langs[i]))
                snprintf(c->langs[c->n_langs++], sizeof(c->langs[0]), "%s", langs[i]);
            free(langs[i]);
        }
        free(langs);
        if (c->n_langs == 0) {
            api->cfg_error(h, config_setting_get_member(conf, "languages"),
                           "languages: name at least one");
            L.bad = 1;
        }
    }
    const char *dl = NULL;
    if (api->cfg_string(h, conf, "default_lang", c->n_langs ? c->langs[0] : "nb", &dl) != GW_OK)
        L.bad = 1;
    if (dl && web_conf_has_lang(c, dl)) {
        snprintf(c->default_lang, sizeof(c->default_lang), "%s", dl);
    } else {
        api->cfg_error(h, conf ? config_setting_get_member(conf, "default_lang") : NULL,
                       "default_lang must be one of the languages");
        L.bad = 1;
    }

    str_opt(&L, conf, "timezone", "Europe/Oslo", &c->timezone);
    str_opt(&L, conf, "privacy_url", "", &c->privacy_url);
    if (c->privacy_url && c->privacy_url[0] && strncmp(c->privacy_url, "https://", 8) != 0 &&
        strncmp(c->privacy_url, "http://", 7) != 0 && c->privacy_url[0] != '/') {
        api->cfg_error(h, config_setting_get_member(conf, "privacy_url"),
                       "privacy_url must be an http(s) URL or a path");
        L.bad = 1;
    }
    str_opt(&L, conf, "storage", "local", &c->storage);
    if (c->storage && strcmp(c->storage, "local") != 0 && strcmp(c->storage, "session") != 0) {
        api->cfg_error(h, config_setting_get_member(conf, "storage"),
                       "storage must be \"local\" or \"session\"");
        L.bad = 1;
    }

    c->session_ttl_ms = int_opt(&L, conf, "session_ttl_s", 7200, 60, 7 * 86400) * 1000;
    c->max_chars = (unsigned)int_opt(&L, conf, "max_message_chars", 2000, 1, 20000);
    /* a character is at most 4 bytes of UTF-8, and at most 6 in JSON (\uXXXX) */
    c->max_body = (size_t)c->max_chars * 6 + 4096;
    c->rate_session = (unsigned)int_opt(&L, conf, "rate_session", 20, 0, 100000);
    c->rate_session_ms = int_opt(&L, conf, "rate_session_period_s", 60, 1, 86400) * 1000;
    c->rate_ip = (unsigned)int_opt(&L, conf, "rate_ip", 300, 0, 1000000);
    c->rate_ip_ms = int_opt(&L, conf, "rate_ip_period_s", 60, 1, 86400) * 1000;
    c->rate_ip_sessions = (unsigned)int_opt(&L, conf, "rate_ip_sessions", 60, 0, 1000000);
    c->rate_ip_sessions_ms = int_opt(&L, conf, "rate_ip_sessions_period_s", 3600, 1, 86400) * 1000;
    c->rate_typing = (unsigned)int_opt(&L, conf, "rate_typing", 60, 0, 100000);
    c->rate_max_keys = (size_t)int_opt(&L, conf, "rate_max_keys", 100000, 100, 10000000);
    c->max_streams_per_session = (unsigned)int_opt(&L, conf, "max_streams_per_session", 5, 1, 100);
    c->max_streams = (unsigned)int_opt(&L, conf, "max_streams", 20000, 1, 1000000);
    c->heartbeat_ms = int_opt(&L, conf, "heartbeat_s", 25, 1, 300) * 1000;
    c->transcript_email = bool_opt(&L, conf, "transcript_email", 0);
    c->feedback = bool_opt(&L, conf, "feedback", 1);
    c->trust_proxy = bool_opt(&L, conf, "trust_proxy", 0);
    load_fields(&L, conf, c);

    if (L.bad) {
        snprintf(err, errlen, "webchat: invalid configuration (see the lines above)");
        web_conf_release(c);
        return GW_EINVAL;
    }
    return GW_OK;
}

static void free_list(char ***lp, size_t n)
{
    if (!*lp)
        return;
    for (size_t i = 0; i < n; i++)
        free((*lp)[i]);
    free(*lp);
    *lp = NULL;
}

void web_conf_release(struct web_conf *c)
{
    if (!c)
        return;
    free(c->static_dir);
    free_list(&c->origins, c->n_origins);
    free_list(&c->queues, c->n_queues);
    free(c->timezone);
    free(c->privacy_url);
    free(c->storage);
    if (c->fields) {
        /* load_field may have filled options of a field it then rejected (no id) */
        for (size_t i = 0; i <= c->n_fields; i++)
            free_list(&c->fields[i].options, c->fields[i].n_options);
        free(c->fields);
    }
    json_decref(c->fields_json);
    memset(c, 0, sizeof(*c));
}

int web_conf_has_lang(const struct web_conf *c, const char *lang)
{
    if (!lang)
        return 0;
    for (size_t i = 0; i < c->n_langs; i++)
        if (strcmp(c->langs[i], lang) == 0)
            return 1;
    return 0;
}

int web_conf_has_queue(const struct web_conf *c, const char *queue)
{
    if (!queue)
        return 0;
    for (size_t i = 0; i < c->n_queues; i++)
        if (strcmp(c->queues[i], queue) == 0)
            return 1;
    return 0;
}

int web_conf_origin_allowed(const struct web_conf *c, const char *origin)
{
    if (!origin)
        return 0;
    for (size_t i = 0; i < c->n_origins; i++)
        if (strcasecmp(c->origins[i], origin) == 0)
            return 1;
    return 0;
}

const struct web_field *web_conf_field(const struct web_conf *c, const char *id)
{
    for (size_t i = 0; i < c->n_fields; i++)
        if (strcmp(c->fields[i].id, id) == 0)
            return &c->fields[i];
    return NULL;
}
