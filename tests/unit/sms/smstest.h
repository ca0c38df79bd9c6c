/* smstest.h — shared setup for the SMS plugin tests: a fake host, a provider test server
 * and a configuration with one number per provider. */
#ifndef SMS_SMSTEST_H
#define SMS_SMSTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "fakehost.h"
#include "sig.h"
#include "testsrv.h"

extern const struct gw_plugin skagerrak_plugin;

struct smstest {
    struct fakehost *fh;
    struct testsrv srv;
};

static const char SMSTEST_CONF[] =
    "sms = {\n"
    "  public_url = \"https://gw.example.no/\";\n"
    "  inbound_per_minute = 5;\n"
    "  outbound_per_hour = 100;\n"
    "  stop_words = [\"SLUTT\"];\n"
    "  skip_auto = [\"position\"];\n"
    "  numbers = (\n"
    "    { id = \"dk\"; number = \"+45 60 00 00 00\"; provider = \"gatewayapi\";\n"
    "      queue = \"dk-general\"; token = \"gwtoken\"; webhook_secret = \"jwtsecret\";\n"
    "      base_url = \"http://127.0.0.1:%d\"; max_parts = 3; },\n"
    "    { id = \"link\"; number = \"+4790000001\"; provider = \"link\"; username = \"lu\";\n"
    "      password = \"lp\"; platform_id = \"COMMON\"; platform_partner_id = \"123\";\n"
    "      gate_id = \"gate1\"; webhook_username = \"hookuser\"; webhook_password = \"hookpass\";\n"
    "      base_url = \"http://127.0.0.1:%d\"; queue = \"general\"; },\n"
    "    { id = \"tw\"; number = \"+4790000002\"; provider = \"twilio\"; account_sid = \"AC123\";\n"
    "      auth_token = \"twtoken\"; base_url = \"http://127.0.0.1:%d\"; lang = \"nn\"; },\n"
    "    { id = \"kan\"; number = \"+4790000003\"; provider = \"kannel\"; username = \"ku\";\n"
    "      password = \"kp\"; secret = \"ksecret\"; allow = [\"127.0.0.1\", \"10.0.0.0/8\"];\n"
    "      base_url = \"http://127.0.0.1:%d\"; translit = false; }\n"
    "  );\n"
    "};\n";

__attribute__((unused)) static int smstest_setup(void **state)
{
    struct smstest *t = calloc(1, sizeof *t);
    testsrv_init(&t->srv);
    t->fh = fakehost_new();
    char conf[sizeof SMSTEST_CONF + 64];
    int p = t->srv.port;
    snprintf(conf, sizeof conf, SMSTEST_CONF, p, p, p, p);
    const config_setting_t *c = fakehost_conf(t->fh, conf, "sms");
    char err[256] = "";
    if (!c || fakehost_plugin_init(t->fh, &skagerrak_plugin, c, err, sizeof err) != GW_OK) {
        for (size_t i = 0; i < t->fh->ncfg_errors; i++)
            fprintf(stderr, "cfg: %s\n", t->fh->cfg_errors[i]);
        fprintf(stderr, "init: %s\n", err);
        return -1;
    }
    if (fakehost_plugin_start(t->fh) != GW_OK)
        return -1;
    *state = t;
    return 0;
}

__attribute__((unused)) static int smstest_teardown(void **state)
{
    struct smstest *t = *state;
    fakehost_free(&t->fh);
    testsrv_close(&t->srv);
    free(t);
    return 0;
}

/* POST a GatewayAPI webhook whose JWT is signed with `secret` (NULL: no header). */
__attribute__((unused)) static int smstest_gwapi(struct smstest *t, const char *kind, const char *json,
                         const char *secret, struct fakehost_resp *r)
{
    char path[64];
    snprintf(path, sizeof path, "/gatewayapi/dk/%s", kind);
    char *tok = secret ? sms_jwt_hs256_sign(json, (const unsigned char *)secret, strlen(secret))
                       : NULL;
    const char *hdr[] = {"Content-Type", "application/json", tok ? "X-Gwapi-Signature" : NULL,
                         tok, NULL};
    int st = fakehost_http(t->fh, "POST", path, hdr, NULL, json, "77.66.39.130", r);
    free(tok);
    return st;
}

/* A deliverable message to `to` with body `body`. */
__attribute__((unused)) static struct gw_msg smstest_msg(int64_t id, const char *to, const char *body,
                                 const char *reply_ref)
{
    struct gw_msg m = {.id = id, .kind = GW_MSG_TEXT, .conv = "conv-1", .address = to,
                       .lang = "nb", .body = body, .queue = "general", .reply_ref = reply_ref};
    return m;
}

#endif
