/* i18n.c — message catalogues (nb, nn, da, en) loaded from conf/i18n/<lang>.cfg. */
#include "conf/i18n.h"

#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NLANG 4
#define EN 3 /* index of "en" in gw_i18n_langs */

const char *const gw_i18n_langs[] = {"nb", "nn", "da", "en", NULL};

struct entry {
    char *key;
    char *text;
    int line;
};

struct catalogue {
    struct entry *e; /* sorted by key */
    size_t n;
};

struct gw_i18n {
    struct catalogue cat[NLANG];
};

static int lang_index(const char *lang)
{
    if (!lang)
        return -1;
    for (int i = 0; i < NLANG; i++)
        if (!strcmp(lang, gw_i18n_langs[i]))
            return i;
    return -1;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

static const struct entry *find(const struct catalogue *c, const char *key)
{
    struct entry probe = {(char *)key, NULL, 0};
    return bsearch(&probe, c->e, c->n, sizeof *c->e, cmp_entry);
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void free_catalogue(struct catalogue *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].key);
        free(c->e[i].text);
    }
    free(c->e);
    c->e = NULL;
    c->n = 0;
}

void gw_i18n_free(struct gw_i18n **ip)
{
    if (!ip || !*ip)
        return;
    for (int i = 0; i < NLANG; i++)
        free_catalogue(&(*ip)->cat[i]);
    free(*ip);
    *ip = NULL;
}

static int load_one(const char *path, struct catalogue *c, char *err, size_t errlen)
{
    config_t cfg;
    config_init(&cfg);
    if (!config_read_file(&cfg, path)) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            seterr(err, errlen, "%s: cannot read catalogue", path);
        else
            seterr(err, errlen, "%s:%d: %s", path, config_error_line(&cfg),
                   config_error_text(&cfg));
        config_destroy(&cfg);
        return -1;
    }
    const config_setting_t *root = config_root_setting(&cfg);
    int n = config_setting_length(root);
    c->e = calloc(n > 0 ? (size_t)n : 1, sizeof *c->e);
    if (!c->e) {
        seterr(err, errlen, "%s: out of memory", path);
        config_destroy(&cfg);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
            seterr(err, errlen, "%s:%u: key '%s' must be a string", path,
                   config_setting_source_line(s), config_setting_name(s));
            config_destroy(&cfg);
            return -1;
        }
        struct entry *e = &c->e[c->n];
        e->key = strdup(config_setting_name(s));
        e->text = strdup(config_setting_get_string(s));
        e->line = (int)config_setting_source_line(s);
        c->n++;
        if (!e->key || !e->text) {
            seterr(err, errlen, "%s: out of memory", path);
            config_destroy(&cfg);
            return -1;
        }
    }
    config_destroy(&cfg);
    /* libconfig already rejects duplicate names within a group, so keys are unique. */
    qsort(c->e, c->n, sizeof *c->e, cmp_entry);
    return 0;
}

/* Next {name} placeholder at or after p: returns pointer to '{' and sets *nlen to the length
 * of name, or NULL.  A name is [A-Za-z0-9_]+. */
static const char *next_placeholder(const char *p, size_t *nlen)
{
    for (; (p = strchr(p, '{')) != NULL; p++) {
        size_t n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789_");
        if (n > 0 && p[1 + n] == '}') {
            *nlen = n;
            return p;
        }
    }
    return NULL;
}

/* 1 if every placeholder of a occurs in b. */
static int placeholders_within(const char *a, const char *b)
{
    size_t n, m;
    for (const char *p = next_placeholder(a, &n); p; p = next_placeholder(p + n + 2, &n)) {
        int found = 0;
        for (const char *q = next_placeholder(b, &m); q && !found;
             q = next_placeholder(q + m + 2, &m))
            found = m == n && !memcmp(p, q, n + 2);
        if (!found)
            return 0;
    }
    return 1;
}

static int cross_check(const struct gw_i18n *i, const char *dir, char *err, size_t errlen)
{
    const struct catalogue *en = &i->cat[EN];
    for (int l = 0; l < NLANG; l++) {
        if (l == EN)
            continue;
        const struct catalogue *c = &i->cat[l];
        for (size_t k = 0; k < en->n; k++) {
            const struct entry *e = find(c, en->e[k].key);
            if (!e) {
                seterr(err, errlen, "%s/%s.cfg: key '%s' is missing (en.cfg:%d has it)", dir,
                       gw_i18n_langs[l], en->e[k].key, en->e[k].line);
                return -1;
            }
            if (!placeholders_within(en->e[k].text, e->text) ||
                !placeholders_within(e->text, en->e[k].text)) {
                seterr(err, errlen, "%s/%s.cfg:%d: key '%s' must use the same {placeholders} "
                       "as en.cfg", dir, gw_i18n_langs[l], e->line, e->key);
                return -1;
            }
        }
        for (size_t k = 0; k < c->n; k++)
            if (!find(en, c->e[k].key)) {
                seterr(err, errlen, "%s/%s.cfg:%d: key '%s' is not in en.cfg", dir,
                       gw_i18n_langs[l], c->e[k].line, c->e[k].key);
                return -1;
            }
    }
    return 0;
}

struct gw_i18n *gw_i18n_load(const char *dir, char *err, size_t errlen)
{
    seterr(err, errlen, "%s", "");
    struct gw_i18n *i = calloc(1, sizeof *i);
    if (!i) {
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    for (int l = 0; l < NLANG; l++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s.cfg", dir, gw_i18n_langs[l]) >= (int)sizeof path) {
            seterr(err, errlen, "%s: catalogue directory name too long", dir);
            gw_i18n_free(&i);
            return NULL;
        }
        if (load_one(path, &i->cat[l], err, errlen)) {
            gw_i18n_free(&i);
            return NULL;
        }
    }
    if (cross_check(i, dir, err, errlen)) {
        gw_i18n_free(&i);
        return NULL;
    }
    return i;
}

int gw_i18n_has_lang(const struct gw_i18n *i, const char *lang)
{
    return i && lang_index(lang) >= 0;
}

const char *gw_i18n_text(const struct gw_i18n *i, const char *lang, const char *key)
{
    if (!key)
        return "";
    if (!i)
        return key;
    int l = lang_index(lang);
    const struct entry *e = l >= 0 ? find(&i->cat[l], key) : NULL;
    if (!e)
        e = find(&i->cat[EN], key);
    return e ? e->text : key;
}

/* Append n bytes of s to buf at *pos; on overflow mark *trunc and copy what fits. */
static void put(char *buf, size_t len, size_t *pos, int *trunc, const char *s, size_t n)
{
    if (*trunc)
        return;
    if (*pos + n >= len) {
        size_t room = len - 1 - *pos;
        memcpy(buf + *pos, s, room);
        *pos += room;
        *trunc = 1;
        return;
    }
    memcpy(buf + *pos, s, n);
    *pos += n;
}

int gw_i18n_expand(const char *tmpl, char *buf, size_t len, const char *const *vars)
{
    if (!buf || len == 0)
        return -1;
    size_t pos = 0, n;
    int trunc = 0;
    const char *p = tmpl ? tmpl : "";
    const char *ph;
    while (!trunc && (ph = next_placeholder(p, &n)) != NULL) {
        put(buf, len, &pos, &trunc, p, (size_t)(ph - p));
        const char *val = NULL;
        for (size_t v = 0; vars && vars[v] && vars[v + 1]; v += 2)
            if (strlen(vars[v]) == n && !memcmp(vars[v], ph + 1, n)) {
                val = vars[v + 1];
                break;
            }
        if (val)
            put(buf, len, &pos, &trunc, val, strlen(val));
        else
            put(buf, len, &pos, &trunc, ph, n + 2);
        p = ph + n + 2;
    }
    put(buf, len, &pos, &trunc, p, strlen(p));
    if (trunc) {
        /* Do not leave half a UTF-8 sequence at the end. */
        size_t end = pos;
        while (end > 0 && ((unsigned char)buf[end - 1] & 0xC0) == 0x80)
            end--;
        if (end > 0 && ((unsigned char)buf[end - 1] & 0x80)) {
            unsigned char lead = (unsigned char)buf[end - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (pos - (end - 1) < need)
                pos = end - 1;
        }
        buf[pos] = '\0';
        return -1;
    }
    buf[pos] = '\0';
    return (int)pos;
}

int gw_i18n_format(const struct gw_i18n *i, const char *lang, const char *key, char *buf,
                   size_t len, const char *const *vars)
{
    return gw_i18n_expand(gw_i18n_text(i, lang, key), buf, len, vars);
}
