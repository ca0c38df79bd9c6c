/* provider.c — adapter lookup and the small helpers adapters share. */
#include "provider.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct sms_provider *const providers[] = {
    &sms_provider_gatewayapi,
    &sms_provider_link,
    &sms_provider_twilio,
    &sms_provider_kannel,
};

const struct sms_provider *sms_provider_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof providers / sizeof providers[0]; i++)
        if (strcmp(providers[i]->name, name) == 0)
            return providers[i];
    return NULL;
}

static void free_secret(char **s)
{
    if (*s) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void sms_request_release(struct sms_request *r)
{
    if (!r)
        return;
    free(r->url);
    if (r->body) {
        /* A Kannel URL or a form can carry credentials: wipe what we built. */
        OPENSSL_cleanse(r->body, r->body_len);
        free(r->body);
    }
    free(r->user);
    free_secret(&r->password);
    memset(r, 0, sizeof *r);
}

void sms_event_release(struct sms_event *ev)
{
    if (!ev)
        return;
    free(ev->id);
    free(ev->from);
    free(ev->text);
    free(ev->reason);
    memset(ev, 0, sizeof *ev);
}

int sms_cfg_secret(const config_setting_t *s, const char *key, int required,
                   const struct gw_host_api *api, struct gw_host *h, char **out)
{
    char fkey[64];
    snprintf(fkey, sizeof fkey, "%s_file", key);
    *out = NULL;
    int have = config_setting_get_member(s, key) || config_setting_get_member(s, fkey);
    if (!have) {
        if (required) {
            api->cfg_error(h, s, "missing `%s` (or `%s`)", key, fkey);
            return GW_EINVAL;
        }
        return GW_OK;
    }
    *out = api->cfg_secret(h, s, key);
    if (!*out)
        return GW_EINVAL;
    if (!**out && required) {
        api->cfg_error(h, s, "`%s` is empty", key);
        free(*out);
        *out = NULL;
        return GW_EINVAL;
    }
    return GW_OK;
}

int sms_cfg_strdup(const config_setting_t *s, const char *key, int required,
                   const struct gw_host_api *api, struct gw_host *h, char **out)
{
    const char *v = NULL;
    *out = NULL;
    if (api->cfg_string(h, s, key, NULL, &v) != GW_OK)
        return GW_EINVAL;
    if (!v || !*v) {
        if (required) {
            api->cfg_error(h, s, "missing `%s`", key);
            return GW_EINVAL;
        }
        return GW_OK;
    }
    *out = strdup(v);
    return *out ? GW_OK : GW_ENOMEM;
}

char *sms_url_join(const char *base, const char *path)
{
    size_t bl = strlen(base), pl = strlen(path);
    while (bl && base[bl - 1] == '/')
        bl--;
    char *u = malloc(bl + pl + 2);
    if (!u)
        return NULL;
    memcpy(u, base, bl);
    size_t o = bl;
    if (pl && path[0] != '/')
        u[o++] = '/';
    memcpy(u + o, path, pl + 1);
    return u;
}

const char *sms_digits(const char *e164)
{
    return e164[0] == '+' ? e164 + 1 : e164;
}

char *sms_strdup0(const char *s)
{
    return s ? strdup(s) : NULL;
}
