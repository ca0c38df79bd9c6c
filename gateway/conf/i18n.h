/* i18n.h — message catalogues (nb, nn, da, en) loaded from conf/i18n/<lang>.cfg. */
#ifndef GW_I18N_H
#define GW_I18N_H

#include <stddef.h>

/* A loaded set of catalogues.  Immutable after loading; strings are owned by it and live
 * until gw_i18n_free().  Lookups are a binary search over a sorted array. */
struct gw_i18n;

/* The languages every installation has, in this order: "nb", "nn", "da", "en".
 * NULL-terminated; static. */
extern const char *const gw_i18n_langs[];

/* Load <dir>/nb.cfg, nn.cfg, da.cfg and en.cfg (libconfig syntax: `key = "text";`).
 * All four must exist and parse; every value must be a string; every key of en.cfg must be
 * in each other file and no file may have a key en.cfg lacks; the {placeholders} of a key
 * must be the same in every language.  Returns a new object (free with gw_i18n_free) or NULL
 * with "file:line: message" (naming the key where one is at fault) in err. */
struct gw_i18n *gw_i18n_load(const char *dir, char *err, size_t errlen);

/* Free and set *ip = NULL.  NULL-safe. */
void gw_i18n_free(struct gw_i18n **ip);

/* 1 if `lang` is one of the loaded languages, else 0 (also for NULL). */
int gw_i18n_has_lang(const struct gw_i18n *i, const char *lang);

/* The text of `key` in `lang`; falls back to en, then to `key` itself (so the result may be
 * the caller's `key` pointer); "" if key is NULL.  Never NULL.  i may be NULL (returns key).
 * Owned by i. */
const char *gw_i18n_text(const struct gw_i18n *i, const char *lang, const char *key);

/* Format `key` in `lang` into buf, replacing each {name} with the value from `vars`, a
 * NULL-terminated list of name, value pairs (vars may be NULL).  Placeholders without a
 * value are left as written.  Returns the length written (without the NUL), or -1 if buf was
 * too small — buf is then truncated at a UTF-8 character boundary and NUL-terminated
 * (unless len == 0). */
int gw_i18n_format(const struct gw_i18n *i, const char *lang, const char *key, char *buf,
                   size_t len, const char *const *vars);

/* Like gw_i18n_format() but on a template string instead of a catalogue key. */
int gw_i18n_expand(const char *tmpl, char *buf, size_t len, const char *const *vars);

#endif
