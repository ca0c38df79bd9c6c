/* config.c — the fake host's log() and cfg_*() (plugin_api.h's contract on top of libconfig). */

#include "priv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- log, config -------------------------------------------------------------------------- */

static void fh_log(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fh_log(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...)
{
    struct fakehost *fh = fh_of(h);
    va_list ap;
    va_start(ap, fmt);
    char *line = fh_xvprintf(fmt, ap);
    va_end(ap);
    struct fakehost_log *l = &RECORD(fh, logs, nlogs, cap_logs);
    l->lvl = lvl;
    l->line = line;
    if (getenv("FAKEHOST_VERBOSE"))
        fprintf(stderr, "[fakehost %d] %s\n", (int)lvl, line);
}

static void fh_cfg_error(struct gw_host *h, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fh_cfg_error(struct gw_host *h, const config_setting_t *s, const char *fmt, ...)
{
    struct fakehost *fh = fh_of(h);
    va_list ap;
    va_start(ap, fmt);
    char *msg = fh_xvprintf(fmt, ap);
    va_end(ap);
    const char *file = s ? config_setting_source_file(s) : NULL;
    char *line = NULL;
    if (asprintf(&line, "%s:%u: %s", file ? file : "(config)",
                 s ? config_setting_source_line(s) : 0u, msg) < 0)
        abort();
    free(msg);
    RECORD(fh, cfg_errors, ncfg_errors, cap_cfg_errors) = line;
    if (getenv("FAKEHOST_VERBOSE"))
        fprintf(stderr, "[fakehost cfg] %s\n", line);
}

static int fh_cfg_string(struct gw_host *h, const config_setting_t *conf, const char *key,
                         const char *def, const char **out)
{
    const config_setting_t *s = conf ? config_setting_get_member(conf, key) : NULL;
    *out = def;
    if (!s)
        return GW_OK;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        fh_cfg_error(h, s, "'%s' must be a string", key);
        return GW_EINVAL;
    }
    *out = config_setting_get_string(s);
    return GW_OK;
}

static int fh_cfg_int(struct gw_host *h, const config_setting_t *conf, const char *key,
                      long long def, long long min, long long max, long long *out)
{
    const config_setting_t *s = conf ? config_setting_get_member(conf, key) : NULL;
    *out = def;
    if (!s)
        return GW_OK;
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
        fh_cfg_error(h, s, "'%s' must be an integer", key);
        return GW_EINVAL;
    }
    long long v = config_setting_get_int64(s);
    if (v < min || v > max) {
        fh_cfg_error(h, s, "'%s' must be between %lld and %lld", key, min, max);
        return GW_EINVAL;
    }
    *out = v;
    return GW_OK;
}

static int fh_cfg_bool(struct gw_host *h, const config_setting_t *conf, const char *key, int def,
                       int *out)
{
    const config_setting_t *s = conf ? config_setting_get_member(conf, key) : NULL;
    *out = def;
    if (!s)
        return GW_OK;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        fh_cfg_error(h, s, "'%s' must be true or false", key);
        return GW_EINVAL;
    }
    *out = config_setting_get_bool(s);
    return GW_OK;
}

static int fh_cfg_known_keys(struct gw_host *h, const config_setting_t *conf,
                             const char *const *known)
{
    int rc = GW_OK;
    if (!conf)
        return GW_OK;
    for (int i = 0; i < config_setting_length(conf); i++) {
        const config_setting_t *c = config_setting_get_elem(conf, (unsigned)i);
        const char *name = config_setting_name(c);
        int ok = 0;
        for (size_t k = 0; known && known[k] && !ok; k++)
            ok = name && !strcmp(name, known[k]);
        if (!ok) {
            fh_cfg_error(h, c, "unknown key '%s'", name ? name : "?");
            rc = GW_EINVAL;
        }
    }
    return rc;
}

static char *fh_cfg_secret(struct gw_host *h, const config_setting_t *conf, const char *key)
{
    char fkey[128];
    snprintf(fkey, sizeof fkey, "%s_file", key);
    const config_setting_t *v = conf ? config_setting_get_member(conf, key) : NULL;
    const config_setting_t *f = conf ? config_setting_get_member(conf, fkey) : NULL;
    if (v && f) {
        fh_cfg_error(h, f, "give either '%s' or '%s', not both", key, fkey);
        return NULL;
    }
    if (!v && !f) {
        fh_cfg_error(h, conf, "missing '%s' (or '%s')", key, fkey);
        return NULL;
    }
    const config_setting_t *s = v ? v : f;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        fh_cfg_error(h, s, "'%s' must be a string", v ? key : fkey);
        return NULL;
    }
    const char *val = config_setting_get_string(s);
    if (v) {
        if (!val[0]) {
            fh_cfg_error(h, s, "'%s' is empty", key);
            return NULL;
        }
        return fh_xdup(val);
    }
    FILE *fp = fopen(val, "r");
    if (!fp) {
        fh_cfg_error(h, s, "cannot read '%s' (%s)", fkey, val);
        return NULL;
    }
    char line[4096];
    char *r = fgets(line, sizeof line, fp);
    fclose(fp);
    if (r)
        line[strcspn(line, "\r\n")] = '\0';
    if (!r || !line[0]) {
        fh_cfg_error(h, s, "'%s' (%s) is empty", fkey, val);
        return NULL;
    }
    return fh_xdup(line);
}

void fh_api_config(struct gw_host_api *api)
{
    api->log = fh_log;
    api->cfg_string = fh_cfg_string;
    api->cfg_int = fh_cfg_int;
    api->cfg_bool = fh_cfg_bool;
    api->cfg_error = fh_cfg_error;
    api->cfg_known_keys = fh_cfg_known_keys;
    api->cfg_secret = fh_cfg_secret;
}
