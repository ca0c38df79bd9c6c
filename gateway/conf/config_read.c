/* config_read.c — reading libconfig settings into typed values, with every problem
 * collected as "file:line: message" (struct gw_cfg_errors) instead of stopping at the
 * first: the typed getters, the unknown-key check, secrets from files, languages.  The
 * sections themselves (which keys exist, what each means, cross-checks) are in config.c;
 * plugins use the same getters through the host API. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
const char **gw_cfg_str_list(struct gw_cfg_errors *e, const config_setting_t *g, const char *key,
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

void gw_cfg_check_lang(struct gw_cfg_errors *e, const config_setting_t *g, const char *key,
                       const char *v)
{
    if (v && gw_lang_index(v) < 0)
        gw_cfg_errorf(e, g ? config_setting_get_member(g, key) : NULL,
                      "'%s' = \"%s\": languages are nb, nn, da, en", key, v);
}
