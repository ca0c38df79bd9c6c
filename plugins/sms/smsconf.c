/* smsconf.c — reads the `sms` group: top-level settings and one group per number. */
#include "smsconf.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const top_keys[] = {"public_url",      "numbers",           "stop_words",
                                       "start_words",     "inbound_per_minute", "outbound_per_hour",
                                       "http_timeout_ms", "mask_numbers",       "skip_auto",
                                       NULL};

static const char *const number_keys[] = {"id",       "number",   "country",    "provider",
                                          "queue",    "lang",     "max_parts",  "translit",
                                          "base_url", "public_url", NULL};

static const char *const default_stop[] = {"STOP", "STOPP", "AFMELD", "AFMELD ALT"};
static const char *const default_start[] = {"START"};

static void wipe_free(char **s)
{
    if (*s) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

static void number_release(struct sms_number *n)
{
    free(n->queue);
    free(n->lang);
    free(n->base_url);
    free(n->public_url);
    free(n->user);
    wipe_free(&n->secret);
    wipe_free(&n->hook_secret);
    free(n->hook_user);
    wipe_free(&n->hook_password);
    free(n->sender);
    free(n->platform_id);
    free(n->platform_partner_id);
    free(n->gate_id);
    free(n->smsc);
    for (size_t i = 0; i < n->nallow; i++)
        free(n->allow[i]);
    free(n->allow);
    memset(n, 0, sizeof *n);
}

static void free_words(char ***w, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*w)[i]);
    free(*w);
    *w = NULL;
    *n = 0;
}

void sms_conf_free(struct sms_conf **cp)
{
    if (!cp || !*cp)
        return;
    struct sms_conf *c = *cp;
    for (size_t i = 0; i < c->n; i++)
        number_release(&c->numbers[i]);
    free(c->numbers);
    free(c->public_url);
    free_words(&c->stop_words, &c->nstop);
    free_words(&c->start_words, &c->nstart);
    free_words(&c->skip_auto, &c->nskip);
    free(c);
    *cp = NULL;
}

/* Normalise a word for comparison: trim, squeeze spaces, drop trailing . and !, upper. */
static void norm_word(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    int space = 0;
    while (*in && isspace((unsigned char)*in))
        in++;
    for (; *in && o + 1 < outlen; in++) {
        unsigned char c = (unsigned char)*in;
        if (isspace(c)) {
            space = 1;
            continue;
        }
        if (space && o) {
            out[o++] = ' ';
            if (o + 1 >= outlen)
                break;
        }
        space = 0;
        out[o++] = (char)(c < 0x80 ? toupper(c) : c);
    }
    while (o && (out[o - 1] == '.' || out[o - 1] == '!' || out[o - 1] == ' '))
        o--;
    out[o] = '\0';
}

int sms_conf_is_word(char *const *words, size_t n, const char *text)
{
    char t[64];
    if (!text || strlen(text) >= sizeof t)
        return 0;
    norm_word(text, t, sizeof t);
    for (size_t i = 0; i < n; i++)
        if (strcmp(words[i], t) == 0)
            return 1;
    return 0;
}

static int load_words(const config_setting_t *conf, const char *key, const char *const *defs,
                      size_t ndefs, const struct gw_host_api *api, struct gw_host *h,
                      char ***out, size_t *nout)
{
    const config_setting_t *l = config_setting_get_member(conf, key);
    int extra = 0;
    if (l) {
        if (!config_setting_is_array(l) && !config_setting_is_list(l)) {
            api->cfg_error(h, l, "`%s` must be a list of words, e.g. [\"SLUTT\"]", key);
            return GW_EINVAL;
        }
        extra = config_setting_length(l);
    }
    *out = calloc(ndefs + (size_t)extra + 1, sizeof **out);
    if (!*out)
        return GW_ENOMEM;
    char w[64];
    for (size_t i = 0; i < ndefs; i++) {
        norm_word(defs[i], w, sizeof w);
        if (!((*out)[(*nout)++] = strdup(w)))
            return GW_ENOMEM;
    }
    for (int i = 0; i < extra; i++) {
        const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
        const char *v = e ? config_setting_get_string(e) : NULL;
        if (!v || !*v || strlen(v) >= sizeof w) {
            api->cfg_error(h, e ? e : l, "`%s`: each word must be a string of 1..63 bytes", key);
            return GW_EINVAL;
        }
        norm_word(v, w, sizeof w);
        if (!((*out)[(*nout)++] = strdup(w)))
            return GW_ENOMEM;
    }
    return GW_OK;
}

static int url_ok(const char *u)
{
    return u && (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) &&
           !strpbrk(u, " \t\r\n?#");
}

static char *strip_slash(char *u)
{
    size_t l = strlen(u);
    while (l && u[l - 1] == '/')
        u[--l] = '\0';
    return u;
}

static int load_number(struct sms_conf *c, struct sms_number *n, const config_setting_t *s,
                       const struct gw_host_api *api, struct gw_host *h)
{
    const char *prov = NULL, *num = NULL, *id = NULL, *country = NULL, *v = NULL;
    if (!config_setting_is_group(s)) {
        api->cfg_error(h, s, "each entry of `numbers` must be a group { number = ...; ... }");
        return GW_EINVAL;
    }
    if (api->cfg_string(h, s, "provider", NULL, &prov) != GW_OK)
        return GW_EINVAL;
    n->prov = sms_provider_find(prov);
    if (!n->prov) {
        api->cfg_error(h, s, "`provider` must be \"gatewayapi\", \"link\", \"twilio\" or \"kannel\"");
        return GW_EINVAL;
    }
    /* Strict keys: the common ones plus this provider's. */
    const char *known[64];
    size_t k = 0;
    for (size_t i = 0; number_keys[i]; i++)
        known[k++] = number_keys[i];
    for (size_t i = 0; n->prov->keys[i] && k + 1 < sizeof known / sizeof known[0]; i++)
        known[k++] = n->prov->keys[i];
    known[k] = NULL;
    if (api->cfg_known_keys(h, s, known) != GW_OK)
        return GW_EINVAL;

    if (api->cfg_string(h, s, "number", NULL, &num) != GW_OK ||
        api->cfg_string(h, s, "country", NULL, &country) != GW_OK ||
        api->cfg_string(h, s, "id", NULL, &id) != GW_OK)
        return GW_EINVAL;
    if (!num) {
        api->cfg_error(h, s, "missing `number` (E.164, e.g. \"+4790000000\", or a short code)");
        return GW_EINVAL;
    }
    size_t dl = strspn(num, "0123456789");
    if (num[0] != '+' && dl == strlen(num) && dl >= 3 && dl <= 6) {
        snprintf(n->number, sizeof n->number, "%s", num); /* a short code */
    } else if (sms_msisdn_normalise(num, NULL, SMS_MSISDN_NATIONAL, n->number,
                                    sizeof n->number) != GW_OK) {
        api->cfg_error(h, s, "`number` is not an E.164 number or short code: %s", num);
        return GW_EINVAL;
    }
    if (country) {
        if (!*country || strlen(country) > 3 || strspn(country, "0123456789") != strlen(country)) {
            api->cfg_error(h, s, "`country` must be a calling code such as \"47\" or \"45\"");
            return GW_EINVAL;
        }
        snprintf(n->cc, sizeof n->cc, "%s", country);
    } else if (strncmp(n->number, "+47", 3) == 0 || strncmp(n->number, "+45", 3) == 0) {
        snprintf(n->cc, sizeof n->cc, "%.2s", n->number + 1);
    }
    if (id) {
        size_t il = strlen(id);
        if (il == 0 || il >= sizeof n->id ||
            strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != il) {
            api->cfg_error(h, s, "`id` must be 1..31 letters, digits, '_' or '-'");
            return GW_EINVAL;
        }
        snprintf(n->id, sizeof n->id, "%s", id);
    } else {
        snprintf(n->id, sizeof n->id, "%s", sms_digits(n->number));
    }
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->numbers[i].id, n->id) == 0) {
            api->cfg_error(h, s, "two numbers with id \"%s\": give one an `id`", n->id);
            return GW_EINVAL;
        }
    }

    const char *def_lang = strcmp(n->cc, "47") == 0 ? "nb" : strcmp(n->cc, "45") == 0 ? "da" : "en";
    int translit = 1;
    if (api->cfg_string(h, s, "lang", def_lang, &v) != GW_OK)
        return GW_EINVAL;
    if (strcmp(v, "nb") && strcmp(v, "nn") && strcmp(v, "da") && strcmp(v, "en")) {
        api->cfg_error(h, s, "`lang` must be \"nb\", \"nn\", \"da\" or \"en\"");
        return GW_EINVAL;
    }
    if (!(n->lang = strdup(v)))
        return GW_ENOMEM;
    if (sms_cfg_strdup(s, "queue", 0, api, h, &n->queue) != GW_OK ||
        api->cfg_int(h, s, "max_parts", 4, 1, 20, &n->max_parts) != GW_OK ||
        api->cfg_bool(h, s, "translit", 1, &translit) != GW_OK)
        return GW_EINVAL;
    n->translit = translit;
    if (api->cfg_string(h, s, "base_url", n->prov->default_base_url, &v) != GW_OK)
        return GW_EINVAL;
    if (!url_ok(v)) {
        api->cfg_error(h, s, "`base_url` must be an http(s) URL without query: %s", v);
        return GW_EINVAL;
    }
    if (!(n->base_url = strdup(v)))
        return GW_ENOMEM;
    strip_slash(n->base_url);
    if (api->cfg_string(h, s, "public_url", c->public_url, &v) != GW_OK)
        return GW_EINVAL;
    if (!url_ok(v)) {
        api->cfg_error(h, s, "`public_url` must be an http(s) URL without query");
        return GW_EINVAL;
    }
    if (!(n->public_url = strdup(v)))
        return GW_ENOMEM;
    strip_slash(n->public_url);
    return n->prov->configure(n, s, api, h);
}

int sms_conf_load(const config_setting_t *conf, const struct gw_host_api *api,
                  struct gw_host *h, struct sms_conf **out, char *err, size_t errlen)
{
    struct sms_conf *c = calloc(1, sizeof *c);
    const char *pu = NULL;
    int mask = 1, rc = GW_EINVAL;
    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return GW_ENOMEM;
    }
    if (api->cfg_known_keys(h, conf, top_keys) != GW_OK)
        goto fail;
    if (api->cfg_string(h, conf, "public_url", NULL, &pu) != GW_OK ||
        api->cfg_int(h, conf, "inbound_per_minute", 20, 0, 100000, &c->in_per_minute) != GW_OK ||
        api->cfg_int(h, conf, "outbound_per_hour", 60, 0, 100000, &c->out_per_hour) != GW_OK ||
        api->cfg_int(h, conf, "http_timeout_ms", 15000, 500, 120000, &c->timeout_ms) != GW_OK ||
        api->cfg_bool(h, conf, "mask_numbers", 1, &mask) != GW_OK)
        goto fail;
    c->mask_numbers = mask;
    if (!pu || !url_ok(pu)) {
        api->cfg_error(h, conf, "`public_url` is required: the http(s) base URL providers use "
                                "to reach this gateway, e.g. \"https://chat.example.no\"");
        goto fail;
    }
    if (!(c->public_url = strdup(pu))) {
        rc = GW_ENOMEM;
        goto fail;
    }
    strip_slash(c->public_url);
    if ((rc = load_words(conf, "stop_words", default_stop, 4, api, h, &c->stop_words,
                         &c->nstop)) != GW_OK ||
        (rc = load_words(conf, "start_words", default_start, 1, api, h, &c->start_words,
                         &c->nstart)) != GW_OK ||
        (rc = load_words(conf, "skip_auto", NULL, 0, api, h, &c->skip_auto, &c->nskip)) != GW_OK)
        goto fail;
    rc = GW_EINVAL;
    const config_setting_t *nl = conf ? config_setting_get_member(conf, "numbers") : NULL;
    if (!nl || !config_setting_is_list(nl) || config_setting_length(nl) == 0) {
        api->cfg_error(h, nl ? nl : conf, "`numbers` must be a non-empty list of groups: "
                                          "( { number = \"+4790000000\"; provider = ...; } )");
        goto fail;
    }
    int cnt = config_setting_length(nl);
    c->numbers = calloc((size_t)cnt, sizeof *c->numbers);
    if (!c->numbers) {
        rc = GW_ENOMEM;
        goto fail;
    }
    for (int i = 0; i < cnt; i++) {
        struct sms_number *n = &c->numbers[c->n];
        rc = load_number(c, n, config_setting_get_elem(nl, (unsigned)i), api, h);
        if (rc != GW_OK) {
            number_release(n);
            goto fail;
        }
        c->n++;
    }
    *out = c;
    return GW_OK;
fail:
    snprintf(err, errlen, "invalid sms configuration");
    sms_conf_free(&c);
    return rc;
}

int sms_conf_skip_auto(const struct sms_conf *c, const char *type)
{
    char t[64];
    if (!type || strlen(type) >= sizeof t)
        return 0;
    norm_word(type, t, sizeof t);
    for (size_t i = 0; i < c->nskip; i++)
        if (strcmp(c->skip_auto[i], t) == 0)
            return 1;
    return 0;
}

struct sms_number *sms_conf_number(const struct sms_conf *c, const char *prov, const char *id)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (strcmp(c->numbers[i].id, id) == 0 && (!prov || strcmp(c->numbers[i].prov->name, prov) == 0))
            return &c->numbers[i];
    return NULL;
}
