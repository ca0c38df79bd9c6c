/* test_outbound.c — deliver() per provider against a local HTTP server, provider answers
 * mapped to deliver_done(), parts limits, rate limits, delivery reports in any order. */
#include "smstest.h"

static json_t *body_json(struct testsrv *s)
{
    json_error_t je;
    json_t *o = json_loads(s->body, 0, &je);
    assert_non_null(o);
    return o;
}

static void test_gwapi_request_and_ids(void **state)
{
    struct smstest *t = *state;
    struct gw_msg m = smstest_msg(42, "+4520123456", "Hej med dig, “velkommen” – skriv løs",
                                  "dk:1000001");
    char err[256] = "";
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    assert_int_equal(t->fh->nfetches, 1);
    testsrv_answer(&t->srv, 200, "application/json",
                   "{\"ids\":[421332671],\"usage\":{\"countries\":{\"DK\":1}}}");
    assert_int_equal(testsrv_run(&t->srv, t->fh, 0), CURLE_OK);
    assert_string_equal(t->srv.method, "POST");
    assert_string_equal(t->srv.target, "/rest/mtsms");
    assert_string_equal(testsrv_header(&t->srv, "Authorization"), "Basic Z3d0b2tlbjo="); /* gwtoken: */
    assert_string_equal(testsrv_header(&t->srv, "Content-Type"), "application/json");
    json_t *o = body_json(&t->srv);
    assert_string_equal(json_string_value(json_object_get(o, "sender")), "4560000000");
    /* Typographic quotes and the dash were transliterated: GSM-7, no "encoding". */
    assert_string_equal(json_string_value(json_object_get(o, "message")),
                        "Hej med dig, \"velkommen\" - skriv løs");
    assert_null(json_object_get(o, "encoding"));
    json_t *rc = json_array_get(json_object_get(o, "recipients"), 0);
    assert_int_equal(json_integer_value(json_object_get(rc, "msisdn")), 4520123456LL);
    assert_string_equal(json_string_value(json_object_get(o, "userref")), "sk42.0");
    assert_string_equal(json_string_value(json_object_get(o, "callback_url")),
                        "https://gw.example.no/sms/gatewayapi/dk/dlr");
    assert_int_equal(json_integer_value(json_object_get(o, "max_parts")), 3);
    json_decref(o);
    assert_int_equal(t->fh->ndones, 1);
    assert_int_equal(t->fh->dones[0].msg_id, 42);
    assert_int_equal(t->fh->dones[0].status, GW_OK);
    assert_string_equal(t->fh->dones[0].channel_ref, "dk:421332671");
}

static void test_ucs2_for_emoji(void **state)
{
    struct smstest *t = *state;
    struct gw_msg m = smstest_msg(43, "+4520123456", "Godt gået 😊", "dk:1");
    char err[256];
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_answer(&t->srv, 200, "application/json", "{\"ids\":[1]}");
    testsrv_run(&t->srv, t->fh, 0);
    json_t *o = body_json(&t->srv);
    assert_string_equal(json_string_value(json_object_get(o, "encoding")), "UCS2");
    json_decref(o);
}

static void test_4xx_permanent_5xx_retry_down_retry(void **state)
{
    struct smstest *t = *state;
    struct gw_msg m = smstest_msg(44, "+4520123456", "Hei", "dk:1");
    char err[256];
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_answer(&t->srv, 400, "application/json",
                   "{\"code\":\"0x0216\",\"message\":\"Invalid recipient\"}");
    testsrv_run(&t->srv, t->fh, 0);
    assert_int_equal(t->fh->dones[0].status, GW_EPERM);
    assert_non_null(strstr(t->fh->dones[0].reason, "Invalid recipient"));
    assert_non_null(strstr(t->fh->dones[0].reason, "HTTP 400"));
    assert_non_null(strstr(t->fh->dones[0].reason, "[da:sms_provider_refused]"));

    m.attempt = 0;
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_answer(&t->srv, 503, "text/plain", "down for maintenance");
    testsrv_run(&t->srv, t->fh, 1);
    assert_int_equal(t->fh->dones[1].status, GW_EAGAIN);

    /* Provider down: connection refused on a closed port. */
    m.attempt = 1;
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_close(&t->srv);
    CURLcode rc = curl_easy_perform(t->fh->fetches[2].easy);
    assert_int_not_equal(rc, CURLE_OK);
    fakehost_fetch_complete(t->fh, 2, (int)rc);
    assert_int_equal(t->fh->dones[2].status, GW_EAGAIN);
    assert_non_null(t->fh->dones[2].reason);
}

static void test_max_parts(void **state)
{
    struct smstest *t = *state;
    char body[600];
    memset(body, 'a', 459); /* 459 septets = 3 parts of 153: allowed (max_parts 3) */
    body[459] = '\0';
    struct gw_msg m = smstest_msg(45, "+4520123456", body, "dk:1");
    char err[256] = "";
    fakehost_set_text(t->fh, "da", "sms_too_many_parts",
                      "Beskeden fylder {parts} SMS'er; grænsen er {max}.");
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    fakehost_set_text(t->fh, "da", "sms_parts_warning", "Bemærk: {parts} sms'er.");
    testsrv_answer(&t->srv, 200, "application/json", "{\"ids\":[9]}");
    testsrv_run(&t->srv, t->fh, 0);
    assert_int_equal(t->fh->dones[0].status, GW_OK);
    assert_string_equal(t->fh->dones[0].reason, "Bemærk: 3 sms'er.");
    body[459] = 'b';
    body[460] = '\0';
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_ELIMIT);
    assert_string_equal(err, "Beskeden fylder 4 SMS'er; grænsen er 3.");
    assert_int_equal(t->fh->nfetches, 1);
    /* UCS-2: 3 x 67 = 201 units fit, 202 do not. */
    char u[1200] = "😊";
    for (int i = 0; i < 199; i++)
        strcat(u, "x");
    m.body = u; /* 2 + 199 = 201 units */
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    strcat(u, "x");
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_ELIMIT);
    assert_non_null(strstr(err, "4"));
}

static void test_typing_and_empty_not_sent(void **state)
{
    struct smstest *t = *state;
    struct gw_msg m = smstest_msg(46, "+4520123456", "composing", NULL);
    m.kind = GW_MSG_TYPING;
    char err[256];
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_OK);
    m.kind = GW_MSG_TEXT;
    m.body = "";
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_OK);
    m.body = "hei";
    m.address = "not-a-number";
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_EPERM);
    assert_int_equal(t->fh->nfetches, 0);
}

static void test_skip_auto(void **state)
{
    struct smstest *t = *state;
    char err[256];
    struct gw_msg m = smstest_msg(48, "+4520123456", "Du er nummer 3 i køen.", "dk:mo:1");
    m.kind = GW_MSG_AUTO;
    m.meta_json = "{\"type\":\"position\",\"position\":3,\"wait_s\":240}";
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_OK);
    assert_int_equal(t->fh->nfetches, 0);
    m.meta_json = "{\"type\":\"closed_hours\",\"next_open_ms\":1}";
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
}

static void test_outbound_rate_limit(void **state)
{
    struct smstest *t = *state;
    char err[256];
    struct gw_msg m = smstest_msg(47, "+4791234567", "Hei", "link:L1");
    for (int i = 0; i < 100; i++)
        assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_EAGAIN);
    assert_string_equal(err, "[nb:sms_rate_limited]");
    t->fh->now_ms += 3600 * 1000;
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
}

static void test_link_request(void **state)
{
    struct smstest *t = *state;
    struct gw_msg m = smstest_msg(50, "+4791234567", "Hei på deg", "link:L1");
    char err[256];
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_answer(&t->srv, 200, "application/json",
                   "{\"messageId\":\"LNK-9\",\"resultCode\":1005,\"description\":\"Queued\"}");
    testsrv_run(&t->srv, t->fh, 0);
    assert_string_equal(t->srv.target, "/sms/send");
    assert_string_equal(testsrv_header(&t->srv, "Authorization"), "Basic bHU6bHA="); /* lu:lp */
    json_t *o = body_json(&t->srv);
    assert_string_equal(json_string_value(json_object_get(o, "source")), "+4790000001");
    assert_string_equal(json_string_value(json_object_get(o, "destination")), "+4791234567");
    assert_string_equal(json_string_value(json_object_get(o, "userData")), "Hei på deg");
    assert_string_equal(json_string_value(json_object_get(o, "dcs")), "TEXT");
    assert_string_equal(json_string_value(json_object_get(o, "platformId")), "COMMON");
    assert_string_equal(json_string_value(json_object_get(o, "platformPartnerId")), "123");
    assert_true(json_is_true(json_object_get(o, "useDeliveryReport")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "deliveryReportGates"), 0)),
                        "gate1");
    assert_string_equal(json_string_value(json_object_get(o, "refId")), "sk50.0");
    json_decref(o);
    assert_string_equal(t->fh->dones[0].channel_ref, "link:LNK-9");
    /* A 2xx with an error resultCode is a refusal. */
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_answer(&t->srv, 200, "application/json",
                   "{\"resultCode\":2104,\"description\":\"Unknown subscriber\"}");
    testsrv_run(&t->srv, t->fh, 1);
    assert_int_equal(t->fh->dones[1].status, GW_EPERM);
    assert_non_null(strstr(t->fh->dones[1].reason, "Unknown subscriber"));
}

static void test_twilio_request(void **state)
{
    struct smstest *t = *state;
    struct gw_msg m = smstest_msg(51, "+4791234567", "Hei & velkommen+", "tw:SM1");
    char err[256];
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_answer(&t->srv, 201, "application/json",
                   "{\"sid\":\"SMabc\",\"status\":\"queued\",\"num_segments\":\"1\"}");
    testsrv_run(&t->srv, t->fh, 0);
    assert_string_equal(t->srv.target, "/2010-04-01/Accounts/AC123/Messages.json");
    assert_string_equal(testsrv_header(&t->srv, "Authorization"), "Basic QUMxMjM6dHd0b2tlbg==");
    struct sms_form f;
    assert_int_equal(sms_form_parse(t->srv.body, strlen(t->srv.body), &f), GW_OK);
    assert_string_equal(sms_form_get(&f, "To"), "+4791234567");
    assert_string_equal(sms_form_get(&f, "From"), "+4790000002");
    assert_string_equal(sms_form_get(&f, "Body"), "Hei & velkommen+");
    assert_string_equal(sms_form_get(&f, "StatusCallback"),
                        "https://gw.example.no/sms/twilio/tw/dlr");
    sms_form_release(&f);
    assert_string_equal(t->fh->dones[0].channel_ref, "tw:SMabc");
    assert_int_equal(t->fh->dones[0].status, GW_OK);
}

static void test_kannel_request_and_dlr(void **state)
{
    struct smstest *t = *state;
    struct gw_msg m = smstest_msg(52, "+4791234567", "Svar: “hei” 😊", "kan:a590");
    char err[256];
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_answer(&t->srv, 202, "text/plain", "0: Accepted for delivery");
    testsrv_run(&t->srv, t->fh, 0);
    assert_string_equal(t->srv.method, "GET");
    assert_memory_equal(t->srv.target, "/cgi-bin/sendsms?", 17);
    struct sms_form f;
    const char *q = strchr(t->srv.target, '?') + 1;
    assert_int_equal(sms_form_parse(q, strlen(q), &f), GW_OK);
    assert_string_equal(sms_form_get(&f, "username"), "ku");
    assert_string_equal(sms_form_get(&f, "password"), "kp");
    assert_string_equal(sms_form_get(&f, "from"), "+4790000003");
    assert_string_equal(sms_form_get(&f, "to"), "+4791234567");
    assert_string_equal(sms_form_get(&f, "text"), "Svar: “hei” 😊"); /* translit = false */
    assert_string_equal(sms_form_get(&f, "coding"), "2");
    assert_string_equal(sms_form_get(&f, "charset"), "UTF-8");
    assert_string_equal(sms_form_get(&f, "dlr-mask"), "31");
    assert_string_equal(sms_form_get(&f, "dlr-url"),
                        "https://gw.example.no/sms/kannel/kan/dlr?ref=sk52.0&type=%d&reply=%A"
                        "&secret=ksecret");
    sms_form_release(&f);
    assert_string_equal(t->fh->dones[0].channel_ref, "kan:sk52.0");
    /* Kannel calls the dlr-url: 8 (SMSC) then 1 (phone). */
    const char *q8[] = {"ref", "sk52.0", "type", "8", "reply", "ACK/", "secret", "ksecret", NULL};
    const char *q1[] = {"ref", "sk52.0", "type", "1", "reply", "", "secret", "ksecret", NULL};
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "GET", "/kannel/kan/dlr", NULL, q8, NULL, NULL, &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_ref_state(t->fh, "kan:sk52.0"), GW_DLR_SENT);
    assert_int_equal(fakehost_http(t->fh, "GET", "/kannel/kan/dlr", NULL, q1, NULL, NULL, &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_ref_state(t->fh, "kan:sk52.0"), GW_DLR_DELIVERED);
    const char *qbad[] = {"ref", "sk52.0", "type", "2", "secret", "nope", NULL};
    assert_int_equal(fakehost_http(t->fh, "GET", "/kannel/kan/dlr", NULL, qbad, NULL, NULL, &r),
                     403);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_ref_state(t->fh, "kan:sk52.0"), GW_DLR_DELIVERED);
}

static void test_dlr_out_of_order(void **state)
{
    struct smstest *t = *state;
    struct gw_msg m = smstest_msg(60, "+4520123456", "Hei", "dk:1");
    char err[256];
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_answer(&t->srv, 200, "application/json", "{\"ids\":[777]}");
    testsrv_run(&t->srv, t->fh, 0);
    struct fakehost_resp r;
    const char *delivered = "{\"id\":777,\"msisdn\":4520123456,\"time\":1,\"status\":\"DELIVERED\"}";
    const char *enroute = "{\"id\":777,\"msisdn\":4520123456,\"time\":0,\"status\":\"ENROUTE\"}";
    assert_int_equal(smstest_gwapi(t, "dlr", delivered, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(smstest_gwapi(t, "dlr", enroute, "jwtsecret", &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_ref_state(t->fh, "dk:777"), GW_DLR_DELIVERED);
    assert_int_equal(t->fh->dlrs[1].state, GW_DLR_SENT);
    /* A forged report changes nothing. */
    const char *failed = "{\"id\":777,\"msisdn\":4520123456,\"status\":\"REJECTED\"}";
    assert_int_equal(smstest_gwapi(t, "dlr", failed, "nope", &r), 403);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->ndlrs, 2);
}

static void test_dlr_before_send_answer(void **state)
{
    struct smstest *t = *state;
    struct fakehost_resp r;
    /* The report for Twilio message SMq arrives before the answer that names it. */
    const char *body = "MessageSid=SMq&MessageStatus=undelivered&ErrorCode=30005&AccountSid=AC123";
    struct sms_form f;
    sms_form_parse(body, strlen(body), &f);
    char sig[64];
    sms_twilio_sign("twtoken", "https://gw.example.no/sms/twilio/tw/dlr", &f, sig, sizeof sig);
    sms_form_release(&f);
    const char *hdr[] = {"X-Twilio-Signature", sig, NULL};
    assert_int_equal(fakehost_http(t->fh, "POST", "/twilio/tw/dlr", hdr, NULL, body, NULL, &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->dlrs[0].rc, GW_ENOTFOUND);
    struct gw_msg m = smstest_msg(61, "+4791234567", "Hei", "tw:SM1");
    char err[256];
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_answer(&t->srv, 201, "application/json", "{\"sid\":\"SMq\",\"status\":\"queued\"}");
    testsrv_run(&t->srv, t->fh, 0);
    assert_int_equal(fakehost_ref_state(t->fh, "tw:SMq"), GW_DLR_FAILED);
    assert_non_null(strstr(t->fh->dlrs[t->fh->ndlrs - 1].reason, "30005"));
}

static void test_reply_leaves_from_the_number_written_to(void **state)
{
    struct smstest *t = *state;
    char err[256];
    struct gw_msg m = smstest_msg(70, "+4791234567", "Hei", "tw:SMx");
    m.queue = "dk-general"; /* transferred: the reply still leaves from the Twilio number */
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_answer(&t->srv, 201, "application/json", "{\"sid\":\"SMy\"}");
    testsrv_run(&t->srv, t->fh, 0);
    assert_non_null(strstr(t->srv.target, "/Accounts/AC123/"));
    m.reply_ref = NULL; /* no inbound yet: the queue's number */
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    testsrv_answer(&t->srv, 200, "application/json", "{\"ids\":[1]}");
    testsrv_run(&t->srv, t->fh, 1);
    assert_string_equal(t->srv.target, "/rest/mtsms");
}

static void test_stop_frees_inflight(void **state)
{
    struct smstest *t = *state;
    char err[256];
    struct gw_msg m = smstest_msg(80, "+4520123456", "Hei", "dk:1");
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof err), GW_PENDING);
    char buf[128];
    const struct gw_plugin *p = &skagerrak_plugin;
    assert_int_equal(p->health(fakehost_plugin_self(t->fh), buf, sizeof buf), 1);
    assert_string_equal(buf, "{\"numbers\":4,\"in_flight\":1}");
    fakehost_plugin_stop(t->fh); /* ASan: nothing leaks */
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, smstest_setup, smstest_teardown)
        T(test_gwapi_request_and_ids),
        T(test_ucs2_for_emoji),
        T(test_4xx_permanent_5xx_retry_down_retry),
        T(test_max_parts),
        T(test_typing_and_empty_not_sent),
        T(test_skip_auto),
        T(test_outbound_rate_limit),
        T(test_link_request),
        T(test_twilio_request),
        T(test_kannel_request_and_dlr),
        T(test_dlr_out_of_order),
        T(test_dlr_before_send_answer),
        T(test_reply_leaves_from_the_number_written_to),
        T(test_stop_frees_inflight),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
