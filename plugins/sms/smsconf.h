/* smsconf.h — the SMS plugin's configuration group: numbers, providers, words, limits. */
#ifndef SMS_SMSCONF_H
#define SMS_SMSCONF_H

#include <libconfig.h>
#include <stddef.h>

#include "plugin_api.h"
#include "provider.h"

struct sms_conf {
    char *public_url;          /* our public base URL (no trailing slash) */
    struct sms_number *numbers;
    size_t n;
    char **stop_words;         /* opt-out words (defaults + configured), upper case */
    size_t nstop;
    char **start_words;        /* opt-in words */
    size_t nstart;
    long long in_per_minute;   /* inbound texts per seeker number per minute (0 = off) */
    long long out_per_hour;    /* outbound texts per seeker number per hour (0 = off) */
    long long timeout_ms;      /* provider request timeout */
    int mask_numbers;          /* show counsellors "··4567" instead of the full number */
    char **skip_auto;          /* automatic text types not sent by SMS ("position", ...) */
    size_t nskip;
};

/* Parse and validate group `conf` (strict: unknown keys are errors with file:line).
 * On success returns 0 and a new configuration in *out (free with sms_conf_free()).
 * On failure returns GW_EINVAL/GW_ENOMEM; problems are reported via api->cfg_error()
 * and summarised in err. */
int sms_conf_load(const config_setting_t *conf, const struct gw_host_api *api,
                  struct gw_host *h, struct sms_conf **out, char *err, size_t errlen);

/* Free a configuration (secrets are wiped).  NULL-safe; sets *c = NULL. */
void sms_conf_free(struct sms_conf **c);

/* The number with URL id `id` served by provider `prov` (NULL = any), or NULL. */
struct sms_number *sms_conf_number(const struct sms_conf *c, const char *prov, const char *id);

/* 1 if an automatic text of type `type` (its meta_json "type") is not sent by SMS. */
int sms_conf_skip_auto(const struct sms_conf *c, const char *type);

/* 1 if `text` is one of the n words: surrounding spaces and trailing '.' or '!' are
 * ignored, runs of spaces count as one, ASCII letters compare case-insensitively. */
int sms_conf_is_word(char *const *words, size_t n, const char *text);

#endif
