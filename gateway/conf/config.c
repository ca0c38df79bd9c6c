/* config.c — the daemon's configuration: strict libconfig parsing into typed structs.
 *
 * Every key the daemon knows is listed in a table below; anything else is an error with
 * file:line, so a misspelt key can never be silently ignored.  Plugin groups are checked
 * by the plugins themselves (through the host API), since only they know their keys. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/calendar.h"
#include "conf/config.h"
#include "io/log.h"

const char *const gw_langs[GW_NLANG] = {"nb", "nn", "da", "en"};

int gw_lang_index(const char *lang)
{
    for (int i = 0; lang && i < GW_NLANG; i++)
        if (strcmp(lang, gw_langs[i]) == 0)
            return i;
    return -1;
}

void gw_cfg_errorf(struct gw_cfg_errors *e, const config_setting_t *s, const char *fmt, ...)
{
    char msg[512], line[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *file = s ? config_setting_source_file(s) : NULL;
    if (file)
        snprintf(line, sizeof line, "%s:%u: %s", file, config_setting_source_line(s), msg);
    else
        snprintf(line, sizeof line, "%s", msg);
    char **n = realloc(e->msgs, (size_t)(e->n + 1) * sizeof *n);
    if (!n)
        return;
    e->msgs = n;
    e->msgs[e->n] = strdup(line);
    if (e->msgs[e->n])
        e->n++;
}

void gw_cfg_errors_release(struct gw_cfg_errors *e)
{
    for (int i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    e->msgs = NULL;
    e->n = 0;
}

static const char *type_name(int t)
{
    switch (t) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a number";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "a value";
    }
}

static int type_ok(int want, int have)
{
    if (want == 0 || want == have)
        return 1;
    if (want == CONFIG_TYPE_INT && have == CONFIG_TYPE_INT64)
        return 1;
    /* An empty [] parses as an array; lists of strings may be written either way. */
    if (want == CONFIG_TYPE_ARRAY && have == CONFIG_TYPE_LIST)
        return 1;
    return 0;
}

int gw_cfg_check_keys(struct gw_cfg_errors *e, const config_setting_t *group,
                      const struct gw_cfg_key *keys, const char *where)
{
    int bad = 0;
    if (!group)
        return 0;
    for (int i = 0; i < config_setting_length(group); i++) {
        config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        const struct gw_cfg_key *k = keys;
        while (k->name && (!name || strcmp(k->name, name) != 0))
            k++;
        if (!k->name) {
            gw_cfg_errorf(e, s, "unknown key '%s' in %s", name ? name : "?", where);
            bad = 1;
        } else if (!type_ok(k->type, config_setting_type(s))) {
            gw_cfg_errorf(e, s, "'%s' in %s must be %s", name, where, type_name(k->type));
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

const char *gw_cfg_str(struct gw_cfg_errors *e, const config_setting_t *g, const char *key,
                       const char *def)
{
    config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;
    if (!s)
        return def;
    const char *v = config_setting_get_string(s);
    if (!v) {
        gw_cfg_errorf(e, s, "'%s' must be a string", key);
        return def;
    }
    return v;
}

long long gw_cfg_int(struct gw_cfg_errors *e, const config_setting_t *g, const char *key,
                     long long def, long long min, long long max)
{
    config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;
    if (!s)
        return def;
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
        gw_cfg_errorf(e, s, "'%s' must be an integer", key);
        return def;
    }
    long long v = config_setting_get_int64(s);
    if (v < min || v > max) {
        gw_cfg_errorf(e, s, "'%s' = %lld is out of range %lld..%lld", key, v, min, max);
        return def;
    }
    return v;
}

int gw_cfg_bool(struct gw_cfg_errors *e, const config_setting_t *g, const char *key, int def)
{
    config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;
    if (!s)
        return def;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        gw_cfg_errorf(e, s, "'%s' must be true or false", key);
        return def;
    }
    return config_setting_get_bool(s);
}

char *gw_cfg_secret(struct gw_cfg_errors *e, const config_setting_t *g, const char *key,
                    int required)
{
    char fkey[128];
    snprintf(fkey, sizeof fkey, "%s_file", key);
    config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;
    config_setting_t *f = g ? config_setting_get_member(g, fkey) : NULL;
    if (s && f) {
        gw_cfg_errorf(e, f, "give either '%s' or '%s', not both", key, fkey);
        return NULL;
    }
    if (s) {
        const char *v = config_setting_get_string(s);
        if (!v) {
            gw_cfg_errorf(e, s, "'%s' must be a string", key);
            return NULL;
        }
        return strdup(v);
    }
    if (f) {
        const char *path = config_setting_get_string(f);
        FILE *fp = path ? fopen(path, "r") : NULL;
        if (!fp) {
            gw_cfg_errorf(e, f, "cannot read %s '%s': %s", fkey, path ? path : "?",
                          strerror(errno));
            return NULL;
        }
        char buf[1024];
        char *r = NULL;
        if (fgets(buf, sizeof buf, fp)) {
            buf[strcspn(buf, "\r\n")] = 0;
            if (*buf)
                r = strdup(buf);
        }
        fclose(fp);
        if (!r)
            gw_cfg_errorf(e, f, "%s '%s' is empty", fkey, path);
        return r;
    }
    if (required)
        gw_cfg_errorf(e, g, "missing '%s' (or '%s')", key, fkey);
    return NULL;
}

/* A string array/list -> NULL-terminated array of borrowed strings (owned by cfg). */
static const char **str_list(struct gw_cfg_errors *e, const config_setting_t *g, const char *key,
                             int *n)
{
    *n = 0;
    config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;
    if (!s)
        return calloc(1, sizeof(char *));
    int len = config_setting_length(s);
    const char **out = calloc((size_t)len + 1, sizeof *out);
    if (!out)
        return NULL;
    for (int i = 0; i < len; i++) {
        config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
        const char *v = config_setting_get_string(el);
        if (!v) {
            gw_cfg_errorf(e, el, "'%s' must hold strings", key);
            continue;
        }
        out[(*n)++] = v;
    }
    return out;
}

static void check_lang(struct gw_cfg_errors *e, const config_setting_t *g, const char *key,
                       const char *v)
{
    if (v && gw_lang_index(v) < 0)
        gw_cfg_errorf(e, g ? config_setting_get_member(g, key) : NULL,
                      "'%s' = \"%s\": languages are nb, nn, da, en", key, v);
}

static const struct gw_cfg_key top_keys[] = {{"gateway", CONFIG_TYPE_GROUP},
                                             {"xmpp", CONFIG_TYPE_GROUP},
                                             {"http", CONFIG_TYPE_GROUP},
                                             {"service", CONFIG_TYPE_GROUP},
                                             {"queues", CONFIG_TYPE_LIST},
                                             {"counsellors", CONFIG_TYPE_LIST},
                                             {"groups", CONFIG_TYPE_GROUP},
                                             {"snippets", CONFIG_TYPE_GROUP},
                                             {"plugins", CONFIG_TYPE_GROUP},
                                             {"partners", CONFIG_TYPE_LIST},
                                             {NULL, 0}};
static const struct gw_cfg_key gateway_keys[] = {{"log_level", CONFIG_TYPE_STRING},
                                                 {"syslog", CONFIG_TYPE_BOOL},
                                                 {"database", CONFIG_TYPE_STRING},
                                                 {"catalogue_dir", CONFIG_TYPE_STRING},
                                                 {"plugin_path", CONFIG_TYPE_ARRAY},
                                                 {"timezone", CONFIG_TYPE_STRING},
                                                 {"max_message_bytes", CONFIG_TYPE_INT},
                                                 {"test_clock", CONFIG_TYPE_STRING},
                                                 {NULL, 0}};
static const struct gw_cfg_key xmpp_keys[] = {
    {"host", CONFIG_TYPE_STRING},        {"port", CONFIG_TYPE_INT},
    {"domain", CONFIG_TYPE_STRING},      {"secret", CONFIG_TYPE_STRING},
    {"secret_file", CONFIG_TYPE_STRING}, {"reconnect_max", CONFIG_TYPE_INT},
    {"name", CONFIG_TYPE_STRING},        {NULL, 0}};
static const struct gw_cfg_key http_keys[] = {{"address", CONFIG_TYPE_STRING},
                                              {"port", CONFIG_TYPE_INT},
                                              {"public_url", CONFIG_TYPE_STRING},
                                              {"max_body", CONFIG_TYPE_INT},
                                              {"max_connections", CONFIG_TYPE_INT},
                                              {"enabled", CONFIG_TYPE_BOOL},
                                              {NULL, 0}};
static const struct gw_cfg_key service_keys[] = {
    {"default_lang", CONFIG_TYPE_STRING},   {"default_queue", CONFIG_TYPE_STRING},
    {"position_interval", CONFIG_TYPE_INT}, {"counsellor_timeout", CONFIG_TYPE_INT},
    {"counsellor_grace", CONFIG_TYPE_INT},
    {"abandon_after", CONFIG_TYPE_INT},     {"abandon_after_channel", CONFIG_TYPE_GROUP},
    {"outcomes", CONFIG_TYPE_ARRAY},        {"wait_window", CONFIG_TYPE_INT},
    {"retention_days", CONFIG_TYPE_INT},    {"retry_max", CONFIG_TYPE_INT},
    {"control_socket", CONFIG_TYPE_STRING},
    {NULL, 0}};
static const struct gw_cfg_key queue_keys[] = {{"id", CONFIG_TYPE_STRING},
                                               {"names", CONFIG_TYPE_GROUP},
                                               {"counsellors", CONFIG_TYPE_ARRAY},
                                               {"languages", CONFIG_TYPE_ARRAY},
                                               {"priority", CONFIG_TYPE_INT},
                                               {"max_wait", CONFIG_TYPE_INT},
                                               {"mode", CONFIG_TYPE_STRING},
                                               {"offer_timeout", CONFIG_TYPE_INT},
                                               {"hours", CONFIG_TYPE_GROUP},
                                               {"shared_with", CONFIG_TYPE_ARRAY},
                                               {"overflow_after", CONFIG_TYPE_INT},
                                               {"overflow_to", CONFIG_TYPE_ARRAY},
                                               {NULL, 0}};
static const struct gw_cfg_key counsellor_keys[] = {
    {"jid", CONFIG_TYPE_STRING},   {"name", CONFIG_TYPE_STRING},     {"lang", CONFIG_TYPE_STRING},
    {"capacity", CONFIG_TYPE_INT}, {"supervisor", CONFIG_TYPE_BOOL}, {NULL, 0}};
static const struct gw_cfg_key partner_keys[] = {{"domain", CONFIG_TYPE_STRING},
                                                 {"name", CONFIG_TYPE_STRING},
                                                 {"accept_escalations", CONFIG_TYPE_BOOL},
                                                 {"send_transcript", CONFIG_TYPE_BOOL},
                                                 {"fields", CONFIG_TYPE_ARRAY},
                                                 {NULL, 0}};

static int valid_jid(const char *j)
{
    const char *at = strchr(j, '@');
    return at && at != j && at[1] && !strchr(j, '/') && !strchr(j, ' ');
}

/* Expand "@group" entries of a counsellor list through the groups section. */
static const char **expand_groups(struct gw_cfg_errors *e, config_setting_t *groups,
                                  const config_setting_t *q, const char **list, int *n)
{
    int cap = *n + 1, cnt = 0;
    const char **out = calloc((size_t)cap, sizeof *out);
    if (!out)
        return list;
    for (int i = 0; i < *n; i++) {
        if (list[i][0] != '@') {
            if (!valid_jid(list[i]))
                gw_cfg_errorf(e, q, "counsellor '%s' is not a bare JID", list[i]);
            out[cnt++] = list[i];
            continue;
        }
        config_setting_t *g = groups ? config_setting_get_member(groups, list[i] + 1) : NULL;
        if (!g) {
            gw_cfg_errorf(e, q, "unknown counsellor group '%s'", list[i] + 1);
            continue;
        }
        int gl = config_setting_length(g);
        const char **bigger = realloc(out, (size_t)(cap + gl) * sizeof *out);
        if (!bigger)
            break;
        out = bigger;
        cap += gl;
        for (int k = 0; k < gl; k++) {
            const char *v = config_setting_get_string_elem(g, k);
            if (v)
                out[cnt++] = v;
        }
    }
    out[cnt] = NULL;
    free(list);
    *n = cnt;
    return out;
}

static void parse_queue(struct gw_cfg_errors *e, struct gw_config *c, config_setting_t *qs,
                        struct gw_queue_conf *q)
{
    gw_cfg_check_keys(e, qs, queue_keys, "a queue");
    q->id = gw_cfg_str(e, qs, "id", NULL);
    if (!q->id || !*q->id) {
        gw_cfg_errorf(e, qs, "a queue needs an 'id'");
        q->id = "";
    } else {
        for (const char *p = q->id; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) {
                gw_cfg_errorf(e, qs, "queue id '%s': use a-z, 0-9, '-' and '_' only", q->id);
                break;
            }
    }
    config_setting_t *names = config_setting_get_member(qs, "names");
    if (names) {
        static const struct gw_cfg_key lang_keys[] = {{"nb", CONFIG_TYPE_STRING},
                                                      {"nn", CONFIG_TYPE_STRING},
                                                      {"da", CONFIG_TYPE_STRING},
                                                      {"en", CONFIG_TYPE_STRING},
                                                      {NULL, 0}};
        gw_cfg_check_keys(e, names, lang_keys, "queue names");
        for (int i = 0; i < GW_NLANG; i++)
            q->names[i] = gw_cfg_str(e, names, gw_langs[i], NULL);
    }
    q->counsellors = str_list(e, qs, "counsellors", &q->ncounsellors);
    q->counsellors =
        expand_groups(e, config_lookup(&c->cfg, "groups"), qs, q->counsellors, &q->ncounsellors);
    q->langs = str_list(e, qs, "languages", &q->nlangs);
    for (int i = 0; i < q->nlangs; i++)
        if (gw_lang_index(q->langs[i]) < 0)
            gw_cfg_errorf(e, config_setting_get_member(qs, "languages"),
                          "unknown language '%s' (nb, nn, da, en)", q->langs[i]);
    q->priority = (int)gw_cfg_int(e, qs, "priority", 0, -100, 100);
    q->max_wait_s = (int)gw_cfg_int(e, qs, "max_wait", 0, 0, 30 * 86400);
    const char *mode = gw_cfg_str(e, qs, "mode", "offer");
    if (strcmp(mode, "offer") == 0)
        q->mode = GW_ASSIGN_OFFER;
    else if (strcmp(mode, "pick") == 0)
        q->mode = GW_ASSIGN_PICK;
    else
        gw_cfg_errorf(e, config_setting_get_member(qs, "mode"),
                      "mode '%s': use \"offer\" or \"pick\"", mode);
    q->offer_timeout_s = (int)gw_cfg_int(e, qs, "offer_timeout", 60, 5, 3600);
    config_setting_t *hours = config_setting_get_member(qs, "hours");
    if (hours) {
        char err[512] = "";
        if (gw_hours_parse(hours, &q->hours, err, sizeof err) < 0)
            gw_cfg_errorf(e, NULL, "%s", err);
    }
    q->shared_with = str_list(e, qs, "shared_with", &q->nshared);
    q->overflow_after_s = (int)gw_cfg_int(e, qs, "overflow_after", 0, 0, 86400);
    q->overflow_to = str_list(e, qs, "overflow_to", &q->noverflow);
}

static void parse_sections(struct gw_config *c, struct gw_cfg_errors *e)
{
    config_setting_t *root = config_root_setting(&c->cfg);
    gw_cfg_check_keys(e, root, top_keys, "the top level");

    config_setting_t *g = config_lookup(&c->cfg, "gateway");
    gw_cfg_check_keys(e, g, gateway_keys, "gateway");
    const char *lvl = gw_cfg_str(e, g, "log_level", "info");
    c->log_level = gw_log_parse_level(lvl);
    if (c->log_level < 0) {
        gw_cfg_errorf(e, config_setting_get_member(g, "log_level"),
                      "log_level '%s': use error, warn, info or debug", lvl);
        c->log_level = GW_LOG_INFO;
    }
    c->use_syslog = gw_cfg_bool(e, g, "syslog", 0);
    c->database = gw_cfg_str(e, g, "database", "/var/lib/skagerrak/skagerrak.db");
    c->catalogue_dir = gw_cfg_str(e, g, "catalogue_dir", GW_SHAREDIR "/i18n");
    c->plugin_path = str_list(e, g, "plugin_path", &c->nplugin_path);
    c->timezone = gw_cfg_str(e, g, "timezone", "Europe/Oslo");
    c->max_body_bytes = (int)gw_cfg_int(e, g, "max_message_bytes", 32768, 64, 1 << 20);
    c->test_clock = gw_cfg_str(e, g, "test_clock", NULL);

    config_setting_t *x = config_lookup(&c->cfg, "xmpp");
    if (!x)
        gw_cfg_errorf(e, NULL, "%s: missing group 'xmpp'", c->path);
    gw_cfg_check_keys(e, x, xmpp_keys, "xmpp");
    c->xmpp_host = gw_cfg_str(e, x, "host", "127.0.0.1");
    c->xmpp_port = (int)gw_cfg_int(e, x, "port", 5347, 1, 65535);
    c->domain = gw_cfg_str(e, x, "domain", NULL);
    if (x && !c->domain)
        gw_cfg_errorf(e, x, "xmpp needs 'domain' (the component's domain)");
    if (x)
        c->secret = gw_cfg_secret(e, x, "secret", 1);
    c->reconnect_max_s = (int)gw_cfg_int(e, x, "reconnect_max", 60, 1, 3600);
    c->service_name = gw_cfg_str(e, x, "name", "Skagerrak");

    config_setting_t *h = config_lookup(&c->cfg, "http");
    gw_cfg_check_keys(e, h, http_keys, "http");
    c->http_addr = gw_cfg_str(e, h, "address", "127.0.0.1");
    c->http_port = (int)gw_cfg_int(e, h, "port", 8080, 0, 65535);
    if (!gw_cfg_bool(e, h, "enabled", 1))
        c->http_port = -1;
    c->public_url = gw_cfg_str(e, h, "public_url", NULL);
    c->http_max_body = (int)gw_cfg_int(e, h, "max_body", 65536, 1024, 16 << 20);
    c->http_max_conns = (int)gw_cfg_int(e, h, "max_connections", 20000, 16, 200000);

    config_setting_t *s = config_lookup(&c->cfg, "service");
    gw_cfg_check_keys(e, s, service_keys, "service");
    c->default_lang = gw_cfg_str(e, s, "default_lang", "nb");
    check_lang(e, s, "default_lang", c->default_lang);
    c->default_queue = gw_cfg_str(e, s, "default_queue", NULL);
    c->position_interval_s = (int)gw_cfg_int(e, s, "position_interval", 60, 0, 86400);
    c->counsellor_timeout_s = (int)gw_cfg_int(e, s, "counsellor_timeout", 600, 10, 86400);
    c->counsellor_grace_s = (int)gw_cfg_int(e, s, "counsellor_grace", 60, 0, 3600);
    c->abandon_s = (int)gw_cfg_int(e, s, "abandon_after", 3600, 60, 60 * 86400);
    /* Per channel: a web chat seeker who is silent for 15 minutes has left; an email seeker
     * answers days later.  Keys are channel names, values seconds. */
    c->abandon_channel = s ? config_setting_get_member(s, "abandon_after_channel") : NULL;
    for (int i = 0; c->abandon_channel && i < config_setting_length(c->abandon_channel); i++) {
        config_setting_t *el = config_setting_get_elem(c->abandon_channel, (unsigned)i);
        gw_cfg_int(e, c->abandon_channel, config_setting_name(el), 0, 60, 60 * 86400);
    }
    c->outcomes = str_list(e, s, "outcomes", &c->noutcomes);
    if (c->noutcomes == 0) {
        static const char *defaults[] = {"resolved", "referred", "info", "no-show", NULL};
        free(c->outcomes);
        c->outcomes = calloc(5, sizeof(char *));
        if (c->outcomes)
            for (c->noutcomes = 0; defaults[c->noutcomes]; c->noutcomes++)
                c->outcomes[c->noutcomes] = defaults[c->noutcomes];
    }
    c->wait_window = (int)gw_cfg_int(e, s, "wait_window", 20, 1, 1000);
    c->retention_days = (int)gw_cfg_int(e, s, "retention_days", 90, 0, 3650);
    c->retry_max_s = (int)gw_cfg_int(e, s, "retry_max", 60, 1, 3600);
    /* On by default, next to the database (a directory only the daemon's user and group
     * reach): an agency should not have to opt in to being able to operate its service. */
    const char *cs_path = gw_cfg_str(e, s, "control_socket", NULL);
    if (cs_path) {
        c->control_socket = strdup(cs_path);
    } else {
        char def[4096];
        c->control_socket = strdup(gw_config_ctl_default(c->database, def, sizeof def));
    }
    if (c->control_socket && strlen(c->control_socket) >= GW_CTL_PATH_MAX)
        gw_cfg_errorf(e, s ? config_setting_get_member(s, "control_socket") : NULL,
                      "control_socket '%s' is longer than %d bytes (a UNIX socket path)",
                      c->control_socket, GW_CTL_PATH_MAX - 1);

    c->snippets = config_lookup(&c->cfg, "snippets");
    c->plugins = config_lookup(&c->cfg, "plugins");

    config_setting_t *cs = config_lookup(&c->cfg, "counsellors");
    int nc = cs ? config_setting_length(cs) : 0;
    c->counsellors = calloc((size_t)nc + 1, sizeof *c->counsellors);
    for (int i = 0; c->counsellors && i < nc; i++) {
        config_setting_t *one = config_setting_get_elem(cs, (unsigned)i);
        struct gw_counsellor_conf *k = &c->counsellors[c->ncounsellors++];
        gw_cfg_check_keys(e, one, counsellor_keys, "a counsellor");
        k->jid = gw_cfg_str(e, one, "jid", "");
        if (!valid_jid(k->jid))
            gw_cfg_errorf(e, one, "counsellor jid '%s' is not a bare JID", k->jid);
        k->name = gw_cfg_str(e, one, "name", NULL);
        k->lang = gw_cfg_str(e, one, "lang", c->default_lang);
        check_lang(e, one, "lang", k->lang);
        k->capacity = (int)gw_cfg_int(e, one, "capacity", 3, 1, 100);
        k->supervisor = gw_cfg_bool(e, one, "supervisor", 0);
    }

    config_setting_t *qs = config_lookup(&c->cfg, "queues");
    int nq = qs ? config_setting_length(qs) : 0;
    if (nq == 0)
        gw_cfg_errorf(e, NULL, "%s: at least one queue is needed in 'queues'", c->path);
    c->queues = calloc((size_t)nq + 1, sizeof *c->queues);
    for (int i = 0; c->queues && i < nq; i++) {
        config_setting_t *one = config_setting_get_elem(qs, (unsigned)i);
        parse_queue(e, c, one, &c->queues[c->nqueues]);
        for (int j = 0; j < c->nqueues; j++)
            if (strcmp(c->queues[j].id, c->queues[c->nqueues].id) == 0)
                gw_cfg_errorf(e, one, "duplicate queue id '%s'", c->queues[j].id);
        c->nqueues++;
    }
    if (!c->default_queue && c->nqueues)
        c->default_queue = c->queues[0].id;
    else if (c->default_queue && !gw_config_queue(c, c->default_queue))
        gw_cfg_errorf(e, config_setting_get_member(s, "default_queue"),
                      "default_queue '%s' is not a configured queue", c->default_queue);

    config_setting_t *ps = config_lookup(&c->cfg, "partners");
    int np = ps ? config_setting_length(ps) : 0;
    c->partners = calloc((size_t)np + 1, sizeof *c->partners);
    for (int i = 0; c->partners && i < np; i++) {
        config_setting_t *one = config_setting_get_elem(ps, (unsigned)i);
        struct gw_partner_conf *p = &c->partners[c->npartners++];
        gw_cfg_check_keys(e, one, partner_keys, "a partner");
        p->domain = gw_cfg_str(e, one, "domain", "");
        if (!*p->domain)
            gw_cfg_errorf(e, one, "a partner needs a 'domain'");
        p->name = gw_cfg_str(e, one, "name", p->domain);
        p->accept_escalations = gw_cfg_bool(e, one, "accept_escalations", 0);
        p->send_transcript = gw_cfg_bool(e, one, "send_transcript", 0);
        p->fields = str_list(e, one, "fields", &p->nfields);
    }
    for (int i = 0; i < c->nqueues; i++) {
        struct gw_queue_conf *q = &c->queues[i];
        for (int k = 0; k < q->nshared; k++)
            if (!gw_config_partner(c, q->shared_with[k]))
                gw_cfg_errorf(e, NULL, "queue '%s': shared_with '%s' is not a configured partner",
                              q->id, q->shared_with[k]);
        for (int k = 0; k < q->noverflow; k++)
            if (!gw_config_partner(c, q->overflow_to[k]))
                gw_cfg_errorf(e, NULL, "queue '%s': overflow_to '%s' is not a configured partner",
                              q->id, q->overflow_to[k]);
    }
}

struct gw_config *gw_config_load(const char *path, struct gw_cfg_errors *e)
{
    struct gw_config *c = calloc(1, sizeof *c);
    if (!c) {
        gw_cfg_errorf(e, NULL, "out of memory");
        return NULL;
    }
    config_init(&c->cfg);
    c->path = path;
    if (!config_read_file(&c->cfg, path)) {
        if (config_error_type(&c->cfg) == CONFIG_ERR_FILE_IO)
            gw_cfg_errorf(e, NULL, "%s: cannot read: %s", path, strerror(errno));
        else
            gw_cfg_errorf(e, NULL, "%s:%d: %s",
                          config_error_file(&c->cfg) ? config_error_file(&c->cfg) : path,
                          config_error_line(&c->cfg), config_error_text(&c->cfg));
        gw_config_free(&c);
        return NULL;
    }
    int before = e->n;
    parse_sections(c, e);
    if (e->n > before) {
        gw_config_free(&c);
        return NULL;
    }
    return c;
}

void gw_config_free(struct gw_config **cp)
{
    struct gw_config *c = cp ? *cp : NULL;
    if (!c)
        return;
    for (int i = 0; c->queues && i < c->nqueues + 1; i++) {
        struct gw_queue_conf *q = &c->queues[i];
        free(q->counsellors);
        free(q->langs);
        free(q->shared_with);
        free(q->overflow_to);
        gw_hours_free(&q->hours);
    }
    for (int i = 0; c->partners && i < c->npartners; i++)
        free(c->partners[i].fields);
    free(c->partners);
    free(c->queues);
    free(c->counsellors);
    free(c->plugin_path);
    free(c->outcomes);
    free(c->secret);
    free(c->control_socket);
    config_destroy(&c->cfg);
    free(c);
    *cp = NULL;
}

const struct gw_queue_conf *gw_config_queue(const struct gw_config *c, const char *id)
{
    for (int i = 0; id && i < c->nqueues; i++)
        if (strcmp(c->queues[i].id, id) == 0)
            return &c->queues[i];
    return NULL;
}

const struct gw_counsellor_conf *gw_config_counsellor(const struct gw_config *c,
                                                      const char *bare_jid)
{
    for (int i = 0; bare_jid && i < c->ncounsellors; i++)
        if (strcmp(c->counsellors[i].jid, bare_jid) == 0)
            return &c->counsellors[i];
    return NULL;
}

const struct gw_partner_conf *gw_config_partner(const struct gw_config *c, const char *domain)
{
    for (int i = 0; domain && i < c->npartners; i++)
        if (strcmp(c->partners[i].domain, domain) == 0)
            return &c->partners[i];
    return NULL;
}

int gw_queue_has_counsellor(const struct gw_queue_conf *q, const char *bare_jid)
{
    for (int i = 0; bare_jid && i < q->ncounsellors; i++)
        if (strcmp(q->counsellors[i], bare_jid) == 0)
            return 1;
    return 0;
}

int gw_config_abandon_s(const struct gw_config *c, const char *channel)
{
    config_setting_t *s = c->abandon_channel && channel
                              ? config_setting_get_member(c->abandon_channel, channel)
                              : NULL;
    long long v = s ? config_setting_get_int64(s) : 0;
    return v >= 60 ? (int)v : c->abandon_s;
}

const char *gw_config_snippet(const struct gw_config *c, const char *lang, const char *name)
{
    if (!c->snippets || !name)
        return NULL;
    const char *order[] = {lang, "en", "nb", "da", "nn"};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        config_setting_t *g = order[i] ? config_setting_get_member(c->snippets, order[i]) : NULL;
        config_setting_t *s = g ? config_setting_get_member(g, name) : NULL;
        if (s && config_setting_get_string(s))
            return config_setting_get_string(s);
    }
    return NULL;
}

const char *gw_config_ctl_default(const char *database, char *buf, size_t len)
{
    const char *slash = database ? strrchr(database, '/') : NULL;
    if (!slash)
        snprintf(buf, len, "skagerrak.ctl"); /* a relative database: the working directory */
    else if (slash == database)
        snprintf(buf, len, "/skagerrak.ctl");
    else
        snprintf(buf, len, "%.*s/skagerrak.ctl", (int)(slash - database), database);
    return buf;
}
