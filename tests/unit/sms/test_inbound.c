/* test_inbound.c — SMS webhooks through the fake host: signatures, dedup, opt-out, limits. */
#include "smstest.h"

static const char MO[] = "{\"id\":1000001,\"msisdn\":4520123456,\"receiver\":4560000000,"
                         "\"message\":\"Hej, jeg vil gerne tale med en vejleder\","
                         "\"senttime\":1450000000,\"webhook_label\":\"test\"}";

static void test_gwapi_signed_mo_stored(void **state)
{
    struct smstest *t = *state;
    struct fakehost_resp r;
    assert_int_equal(smstest_gwapi(t, "mo", MO, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 1);
    struct fakehost_submit *s = &t->fh->submits[0];
    assert_string_equal(s->channel_msg_id, "dk:mo:1000001");
    assert_string_equal(s->address, "+4520123456");
    assert_string_equal(s->display, "··3456");
    assert_string_equal(s->body, "Hej, jeg vil gerne tale med en vejleder");
    assert_string_equal(s->lang, "da");
    assert_string_equal(s->queue, "dk-general");
}

static void test_gwapi_forged_unsigned_refused(void **state)
{
    struct smstest *t = *state;
    struct fakehost_resp r;
    assert_int_equal(smstest_gwapi(t, "mo", MO, "wrong-secret", &r), 403);
    fakehost_resp_free(&r);
    assert_int_equal(smstest_gwapi(t, "mo", MO, NULL, &r), 403);
    fakehost_resp_free(&r);
    /* alg "none" with the claims and no signature */
    const char *hdr[] = {"X-Gwapi-Signature",
                         "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpZCI6MTAwMDAwMX0.", NULL};
    assert_int_equal(fakehost_http(t->fh, "POST", "/gatewayapi/dk/mo", hdr, NULL, MO, NULL, &r),
                     403);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 0);
    assert_true(fakehost_log_contains(t->fh, "bad token signature"));
    assert_true(fakehost_log_contains(t->fh, "no X-Gwapi-Signature"));
    assert_true(fakehost_log_contains(t->fh, "not HS256"));
    assert_false(fakehost_log_contains(t->fh, "jwtsecret"));
}

static void test_gwapi_replayed_token_other_body_refused(void **state)
{
    struct smstest *t = *state;
    /* A valid token for message 1000001 reused with another message's body. */
    char *tok = sms_jwt_hs256_sign(MO, (const unsigned char *)"jwtsecret", 9);
    const char *hdr[] = {"X-Gwapi-Signature", tok, NULL};
    const char *other = "{\"id\":1000002,\"msisdn\":4520123456,\"message\":\"other\"}";
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "POST", "/gatewayapi/dk/mo", hdr, NULL, other, NULL, &r),
                     403);
    fakehost_resp_free(&r);
    free(tok);
    assert_int_equal(t->fh->nsubmits, 0);
}

static void test_duplicate_stored_once(void **state)
{
    struct smstest *t = *state;
    struct fakehost_resp r;
    assert_int_equal(smstest_gwapi(t, "mo", MO, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(smstest_gwapi(t, "mo", MO, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 2); /* the core dedups on the same channel_msg_id */
    assert_string_equal(t->fh->submits[1].channel_msg_id, t->fh->submits[0].channel_msg_id);
    assert_int_equal(t->fh->submits[1].out.duplicate, 1);
    assert_int_equal(t->fh->submits[1].out.msg_id, t->fh->submits[0].out.msg_id);
}

static void test_submit_failure_not_acknowledged(void **state)
{
    struct smstest *t = *state;
    struct fakehost_resp r;
    t->fh->submit_rc = GW_EIO;
    assert_int_equal(smstest_gwapi(t, "mo", MO, "jwtsecret", &r), 503);
    fakehost_resp_free(&r);
    t->fh->submit_rc = 0;
    assert_int_equal(smstest_gwapi(t, "mo", MO, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
}

static void test_stop_start(void **state)
{
    struct smstest *t = *state;
    struct fakehost_resp r;
    const char *stop = "{\"id\":7,\"msisdn\":4520123456,\"message\":\" afmeld  alt! \"}";
    assert_int_equal(smstest_gwapi(t, "mo", stop, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 0);
    assert_int_equal(t->fh->nblocks, 1);
    assert_string_equal(t->fh->blocks[0].address, "+4520123456");
    assert_int_equal(t->fh->blocks[0].blocked, 1);
    assert_int_equal(t->fh->nfetches, 1); /* one confirmation */
    testsrv_answer(&t->srv, 200, "application/json", "{\"ids\":[5]}");
    testsrv_run(&t->srv, t->fh, 0);
    assert_non_null(strstr(t->srv.body, "[da:sms_opted_out]"));
    /* STOP again (the provider retried): no second confirmation. */
    const char *stop2 = "{\"id\":8,\"msisdn\":4520123456,\"message\":\"STOP\"}";
    assert_int_equal(smstest_gwapi(t, "mo", stop2, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nfetches, 1);
    /* Outbound to the opted-out seeker is refused. */
    struct gw_msg m = smstest_msg(1, "+4520123456", "Hei", "dk:mo:1000001");
    char err[256];
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_EPERM);
    assert_string_equal(err, "[da:sms_seeker_opted_out]");
    /* START lifts it, with a confirmation. */
    const char *start = "{\"id\":9,\"msisdn\":4520123456,\"message\":\"start\"}";
    assert_int_equal(smstest_gwapi(t, "mo", start, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->blocks[t->fh->nblocks - 1].blocked, 0);
    assert_int_equal(t->fh->nfetches, 2);
    testsrv_answer(&t->srv, 200, "application/json", "{\"ids\":[6]}");
    testsrv_run(&t->srv, t->fh, 1);
    assert_non_null(strstr(t->srv.body, "[da:sms_opted_in]"));
    /* A configured word works too; START when not blocked is an ordinary message. */
    const char *start2 = "{\"id\":10,\"msisdn\":4520123456,\"message\":\"START\"}";
    assert_int_equal(smstest_gwapi(t, "mo", start2, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 1);
    const char *slutt = "{\"id\":11,\"msisdn\":4520123456,\"message\":\"Slutt.\"}";
    assert_int_equal(smstest_gwapi(t, "mo", slutt, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->blocks[t->fh->nblocks - 1].blocked, 1);
    assert_int_equal(t->fh->nsubmits, 1);
}

static void test_inbound_rate_limit(void **state)
{
    struct smstest *t = *state;
    struct fakehost_resp r;
    char body[256];
    for (int i = 0; i < 6; i++) {
        snprintf(body, sizeof body, "{\"id\":%d,\"msisdn\":4520123456,\"message\":\"m%d\"}", 100 + i,
                 i);
        int st = smstest_gwapi(t, "mo", body, "jwtsecret", &r);
        assert_int_equal(st, i < 5 ? 200 : 429);
        if (i == 5)
            assert_string_equal(fakehost_resp_header(&r, "Retry-After"), "60");
        fakehost_resp_free(&r);
    }
    assert_int_equal(t->fh->nsubmits, 5);
    t->fh->now_ms += 60 * 1000;
    assert_int_equal(smstest_gwapi(t, "mo", body, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
}

static void test_twilio_mo(void **state)
{
    struct smstest *t = *state;
    struct sms_form f;
    const char *body = "ToCountry=NO&SmsMessageSid=SM1&NumMedia=0&MessageSid=SM1&AccountSid=AC123"
                       "&From=%2B4791234567&To=%2B4790000002&Body=Hei+p%C3%A5+deg+%F0%9F%98%8A";
    assert_int_equal(sms_form_parse(body, strlen(body), &f), GW_OK);
    char sig[64];
    sms_twilio_sign("twtoken", "https://gw.example.no/sms/twilio/tw/mo", &f, sig, sizeof sig);
    sms_form_release(&f);
    const char *hdr[] = {"Content-Type", "application/x-www-form-urlencoded",
                         "X-Twilio-Signature", sig, NULL};
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "POST", "/twilio/tw/mo", hdr, NULL, body, NULL, &r), 200);
    assert_string_equal(r.content_type, "text/xml");
    assert_non_null(strstr(r.body, "<Response>"));
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 1);
    assert_string_equal(t->fh->submits[0].body, "Hei på deg 😊");
    assert_string_equal(t->fh->submits[0].channel_msg_id, "tw:mo:SM1");
    assert_string_equal(t->fh->submits[0].lang, "nn");
    /* The same signature over a changed body, and a signature for another URL. */
    const char *forged = "MessageSid=SM2&AccountSid=AC123&From=%2B4791234567&Body=hi";
    assert_int_equal(fakehost_http(t->fh, "POST", "/twilio/tw/mo", hdr, NULL, forged, NULL, &r),
                     403);
    fakehost_resp_free(&r);
    const char *hdr2[] = {"X-Twilio-Signature", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", NULL};
    assert_int_equal(fakehost_http(t->fh, "POST", "/twilio/tw/mo", hdr2, NULL, body, NULL, &r), 403);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 1);
}

static void test_link_mo_basic_auth(void **state)
{
    struct smstest *t = *state;
    const char *body = "{\"messageId\":\"L1\",\"source\":\"+4791234567\",\"destination\":"
                       "\"+4790000001\",\"content\":{\"type\":\"TEXT\",\"userData\":\"Hei\"}}";
    char auth[128];
    sms_basic_auth_header("hookuser", "hookpass", auth, sizeof auth);
    const char *hdr[] = {"Authorization", auth, NULL};
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "POST", "/link/link/mo", hdr, NULL, body, NULL, &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 1);
    assert_string_equal(t->fh->submits[0].channel_msg_id, "link:mo:L1");
    assert_string_equal(t->fh->submits[0].queue, "general");
    sms_basic_auth_header("hookuser", "wrong", auth, sizeof auth);
    assert_int_equal(fakehost_http(t->fh, "POST", "/link/link/mo", hdr, NULL, body, NULL, &r), 401);
    assert_non_null(fakehost_resp_header(&r, "WWW-Authenticate"));
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "POST", "/link/link/mo", NULL, NULL, body, NULL, &r), 401);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 1);
}

static void test_kannel_mo_secret_and_allowlist(void **state)
{
    struct smstest *t = *state;
    const char *q[] = {"secret", "ksecret", "id", "a590ff3e", "from", "004791234567", "to",
                       "4790000003", "text", "Hei på deg {€}", "charset", "UTF-8", "coding", "0",
                       NULL};
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "GET", "/kannel/kan/mo", NULL, q, NULL, "10.1.2.3", &r),
                     200);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 1);
    assert_string_equal(t->fh->submits[0].address, "+4791234567");
    assert_string_equal(t->fh->submits[0].body, "Hei på deg {€}");
    assert_int_equal(fakehost_http(t->fh, "GET", "/kannel/kan/mo", NULL, q, NULL, "192.0.2.1", &r),
                     403);
    fakehost_resp_free(&r);
    const char *q2[] = {"secret", "nope", "id", "x", "from", "+4791234567", "text", "a", NULL};
    assert_int_equal(fakehost_http(t->fh, "GET", "/kannel/kan/mo", NULL, q2, NULL, NULL, &r), 403);
    fakehost_resp_free(&r);
    /* Latin-1 from an older Kannel setup is converted. */
    const char *q3[] = {"secret", "ksecret", "id", "b2", "from", "+4791234567", "text",
                        "bl\xe5" "b\xe6r", "charset", "WINDOWS-1252", NULL};
    assert_int_equal(fakehost_http(t->fh, "GET", "/kannel/kan/mo", NULL, q3, NULL, NULL, &r), 200);
    fakehost_resp_free(&r);
    assert_string_equal(t->fh->submits[1].body, "blåbær");
    assert_int_equal(t->fh->nsubmits, 2);
}

static void test_routes_and_methods(void **state)
{
    struct smstest *t = *state;
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "POST", "/gatewayapi/nope/mo", NULL, NULL, "{}", NULL, &r),
                     404);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "POST", "/twilio/dk/mo", NULL, NULL, "{}", NULL, &r), 404);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "POST", "/gatewayapi/dk/mo/x", NULL, NULL, "", NULL, &r),
                     404);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "GET", "/gatewayapi/dk/mo", NULL, NULL, NULL, NULL, &r),
                     405);
    fakehost_resp_free(&r);
}

static void test_bad_sender_dropped(void **state)
{
    struct smstest *t = *state;
    struct fakehost_resp r;
    const char *mo = "{\"id\":5,\"msisdn\":1204,\"message\":\"hi\"}";
    assert_int_equal(smstest_gwapi(t, "mo", mo, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 0);
}

static void test_reload(void **state)
{
    struct smstest *t = *state;
    const config_setting_t *c = fakehost_conf(
        t->fh,
        "sms = { public_url = \"https://gw.example.no\"; numbers = ( { id = \"dk2\"; "
        "number = \"+4561111111\"; provider = \"gatewayapi\"; token = \"t2\"; "
        "webhook_secret = \"jwt2\"; } ); };",
        "sms");
    char err[256];
    assert_int_equal(skagerrak_plugin.reload(fakehost_plugin_self(t->fh), c, err, sizeof err), GW_OK);
    struct fakehost_resp r;
    assert_int_equal(smstest_gwapi(t, "mo", MO, "jwtsecret", &r), 404); /* dk is gone */
    fakehost_resp_free(&r);
    char *tok = sms_jwt_hs256_sign(MO, (const unsigned char *)"jwt2", 4);
    const char *hdr[] = {"X-Gwapi-Signature", tok, NULL};
    assert_int_equal(fakehost_http(t->fh, "POST", "/gatewayapi/dk2/mo", hdr, NULL, MO, NULL, &r), 200);
    fakehost_resp_free(&r);
    free(tok);
    assert_string_equal(t->fh->submits[0].channel_msg_id, "dk2:mo:1000001");
    /* A bad config is refused and the running one stays. */
    c = fakehost_conf(t->fh, "sms = { public_url = \"https://x\"; };", "sms");
    assert_int_equal(skagerrak_plugin.reload(fakehost_plugin_self(t->fh), c, err, sizeof err),
                     GW_EINVAL);
    tok = sms_jwt_hs256_sign(MO, (const unsigned char *)"jwt2", 4);
    hdr[1] = tok;
    assert_int_equal(fakehost_http(t->fh, "POST", "/gatewayapi/dk2/mo", hdr, NULL, MO, NULL, &r), 200);
    fakehost_resp_free(&r);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, smstest_setup, smstest_teardown)
        T(test_gwapi_signed_mo_stored),
        T(test_gwapi_forged_unsigned_refused),
        T(test_gwapi_replayed_token_other_body_refused),
        T(test_duplicate_stored_once),
        T(test_submit_failure_not_acknowledged),
        T(test_stop_start),
        T(test_inbound_rate_limit),
        T(test_twilio_mo),
        T(test_link_mo_basic_auth),
        T(test_kannel_mo_secret_and_allowlist),
        T(test_routes_and_methods),
        T(test_bad_sender_dropped),
        T(test_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
