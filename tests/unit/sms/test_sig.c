/* test_sig.c — JWT HS256, Twilio signatures, Basic auth, secrets, allowlists, form decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin_api.h"
#include "sig.h"

/* The example from GatewayAPI's documentation, signed with the secret "secret". */
static const char GWAPI_DOC_TOKEN[] =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6MjM4MTcwMywibXNpc2RuIjo0NTQyNjA5MDQ1LCJ0aW1l"
    "IjoxNTIyNzY0MDYyLCJzdGF0dXMiOiJERUxJVkVSRUQiLCJlcnJvciI6bnVsbCwiY29kZSI6bnVsbCwidXNlcnJl"
    "ZiI6bnVsbCwiY2FsbGJhY2tfdXJsIjoiaHR0cDovL2JiYWY3MTQyLm5ncm9rLmlvIiwiYXBpIjo0fQ."
    "KdfDH65bnQtgxEkFnpAQodOciAJedZFB13r9wEo8t3Y";

#define KEY(s) (const unsigned char *)(s), strlen(s)

static void test_jwt_doc_vector(void **st)
{
    (void)st;
    json_t *c = NULL;
    char why[128] = "";
    assert_int_equal(sms_jwt_hs256_verify(GWAPI_DOC_TOKEN, KEY("secret"), 1700000000, &c, why,
                                          sizeof why),
                     GW_OK);
    assert_non_null(c);
    assert_int_equal(json_integer_value(json_object_get(c, "id")), 2381703);
    assert_string_equal(json_string_value(json_object_get(c, "status")), "DELIVERED");
    json_decref(c);
    assert_int_equal(sms_jwt_hs256_verify(GWAPI_DOC_TOKEN, KEY("Secret"), 0, &c, why,
                                          sizeof why),
                     GW_EPERM);
    assert_null(c);
    assert_string_equal(why, "bad token signature");
}

static void test_jwt_sign_roundtrip_and_tamper(void **st)
{
    (void)st;
    char *t = sms_jwt_hs256_sign("{\"id\":1,\"msisdn\":4791234567,\"message\":\"Hei på deg\"}",
                                 KEY("k3y"));
    assert_non_null(t);
    json_t *c = NULL;
    assert_int_equal(sms_jwt_hs256_verify(t, KEY("k3y"), 0, &c, NULL, 0), GW_OK);
    assert_string_equal(json_string_value(json_object_get(c, "message")), "Hei på deg");
    json_decref(c);
    /* Flip one character of the payload. */
    char *dot = strchr(t, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    assert_int_equal(sms_jwt_hs256_verify(t, KEY("k3y"), 0, NULL, NULL, 0), GW_EPERM);
    free(t);
}

static void test_jwt_alg_none_and_others_refused(void **st)
{
    (void)st;
    char why[128];
    /* {"alg":"none","typ":"JWT"} . {"id":1} . (empty) */
    assert_int_equal(sms_jwt_hs256_verify("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpZCI6MX0.",
                                          KEY("secret"), 0, NULL, why, sizeof why),
                     GW_EPERM);
    assert_string_equal(why, "token algorithm is not HS256");
    /* {"alg":"HS512"} */
    assert_int_equal(sms_jwt_hs256_verify("eyJhbGciOiJIUzUxMiJ9.eyJpZCI6MX0.AAAA", KEY("secret"),
                                          0, NULL, why, sizeof why),
                     GW_EPERM);
    /* {"typ":"JWT"} without alg */
    assert_int_equal(sms_jwt_hs256_verify("eyJ0eXAiOiJKV1QifQ.eyJpZCI6MX0.AAAA", KEY("secret"), 0,
                                          NULL, why, sizeof why),
                     GW_EPERM);
}

static void test_jwt_malformed(void **st)
{
    (void)st;
    assert_int_equal(sms_jwt_hs256_verify("", KEY("s"), 0, NULL, NULL, 0), GW_EINVAL);
    assert_int_equal(sms_jwt_hs256_verify("abc", KEY("s"), 0, NULL, NULL, 0), GW_EINVAL);
    assert_int_equal(sms_jwt_hs256_verify("a.b.c.d", KEY("s"), 0, NULL, NULL, 0), GW_EINVAL);
    assert_int_equal(sms_jwt_hs256_verify("!!.??.**", KEY("s"), 0, NULL, NULL, 0), GW_EINVAL);
    assert_int_equal(sms_jwt_hs256_verify(NULL, KEY("s"), 0, NULL, NULL, 0), GW_EPERM);
    /* Standard base64 '+' or padding is not base64url. */
    assert_int_equal(sms_jwt_hs256_verify("eyJhbGciOiJIUzI1NiJ9==.eyJpZCI6MX0.AAAA", KEY("s"), 0,
                                          NULL, NULL, 0),
                     GW_EINVAL);
}

static void test_jwt_exp_nbf(void **st)
{
    (void)st;
    char *t = sms_jwt_hs256_sign("{\"id\":1,\"exp\":1000}", KEY("k"));
    assert_int_equal(sms_jwt_hs256_verify(t, KEY("k"), 1000, NULL, NULL, 0), GW_OK);
    assert_int_equal(sms_jwt_hs256_verify(t, KEY("k"), 1061, NULL, NULL, 0), GW_EPERM);
    free(t);
    t = sms_jwt_hs256_sign("{\"id\":1,\"nbf\":5000}", KEY("k"));
    assert_int_equal(sms_jwt_hs256_verify(t, KEY("k"), 4000, NULL, NULL, 0), GW_EPERM);
    assert_int_equal(sms_jwt_hs256_verify(t, KEY("k"), 5000, NULL, NULL, 0), GW_OK);
    free(t);
}

static void test_twilio_doc_vector(void **st)
{
    (void)st;
    const char *body = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&"
                       "From=%2B12349013030&To=%2B18005551212";
    struct sms_form f;
    assert_int_equal(sms_form_parse(body, strlen(body), &f), GW_OK);
    assert_int_equal(f.n, 5);
    assert_string_equal(sms_form_get(&f, "From"), "+12349013030");
    const char *url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    char sig[64];
    assert_int_equal(sms_twilio_sign("12345", url, &f, sig, sizeof sig), GW_OK);
    assert_string_equal(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    assert_int_equal(sms_twilio_verify("12345", url, &f, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
                     GW_OK);
    assert_int_equal(sms_twilio_verify("12345", url, &f, "1/KCTR6DLpKmkAf8muzZqo1nDgQ="),
                     GW_EPERM);
    assert_int_equal(sms_twilio_verify("12345", url, &f, ""), GW_EPERM);
    assert_int_equal(sms_twilio_verify("12345", url, &f, NULL), GW_EPERM);
    /* A different public URL (a proxy rewrote it) does not verify. */
    assert_int_equal(sms_twilio_verify("12345", "http://mycompany.com/myapp.php?foo=1&bar=2",
                                       &f, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
                     GW_EPERM);
    sms_form_release(&f);
}

static void test_form_parse(void **st)
{
    (void)st;
    struct sms_form f;
    const char *b = "Body=Hei+p%C3%A5+deg&Empty=&Flag&A=1&A=2";
    assert_int_equal(sms_form_parse(b, strlen(b), &f), GW_OK);
    assert_string_equal(sms_form_get(&f, "Body"), "Hei på deg");
    assert_string_equal(sms_form_get(&f, "Empty"), "");
    assert_string_equal(sms_form_get(&f, "Flag"), "");
    assert_string_equal(sms_form_get(&f, "A"), "1");
    assert_null(sms_form_get(&f, "missing"));
    sms_form_release(&f);
    assert_int_equal(sms_form_parse("a=%zz", 5, &f), GW_EINVAL);
    assert_int_equal(sms_form_parse("a=%4", 4, &f), GW_EINVAL);
    assert_int_equal(sms_form_parse("a=%00", 5, &f), GW_EINVAL);
    assert_int_equal(sms_form_parse("=x", 2, &f), GW_EINVAL);
    assert_int_equal(sms_form_parse("", 0, &f), GW_OK);
    assert_int_equal(f.n, 0);
    sms_form_release(&f);
}

static void test_basic_auth(void **st)
{
    (void)st;
    char h[256];
    assert_int_equal(sms_basic_auth_header("link", "s3cret:x", h, sizeof h), GW_OK);
    assert_string_equal(h, "Basic bGluazpzM2NyZXQ6eA==");
    assert_int_equal(sms_basic_auth_check(h, "link", "s3cret:x"), GW_OK);
    assert_int_equal(sms_basic_auth_check("basic bGluazpzM2NyZXQ6eA==", "link", "s3cret:x"),
                     GW_OK);
    assert_int_equal(sms_basic_auth_check(h, "link", "s3cret"), GW_EPERM);
    assert_int_equal(sms_basic_auth_check(h, "Link", "s3cret:x"), GW_EPERM);
    assert_int_equal(sms_basic_auth_check("Bearer abc", "link", "s3cret:x"), GW_EPERM);
    assert_int_equal(sms_basic_auth_check("Basic !!!!", "link", "s3cret:x"), GW_EPERM);
    assert_int_equal(sms_basic_auth_check(NULL, "link", "s3cret:x"), GW_EPERM);
    assert_int_equal(sms_basic_auth_check("Basic ", "link", "s3cret:x"), GW_EPERM);
}

static void test_secret_eq(void **st)
{
    (void)st;
    assert_true(sms_secret_eq("abc", "abc"));
    assert_false(sms_secret_eq("abc", "abd"));
    assert_false(sms_secret_eq("abc", "abcd"));
    assert_false(sms_secret_eq(NULL, "abc"));
    assert_false(sms_secret_eq("abc", NULL));
}

static void test_allowlist(void **st)
{
    (void)st;
    const char *allow[] = {"127.0.0.1", "10.1.0.0/16", "2001:db8::/32"};
    assert_true(sms_ip_allowed("127.0.0.1", allow, 3));
    assert_true(sms_ip_allowed("::ffff:127.0.0.1", allow, 3));
    assert_true(sms_ip_allowed("10.1.200.3", allow, 3));
    assert_false(sms_ip_allowed("10.2.0.1", allow, 3));
    assert_false(sms_ip_allowed("127.0.0.2", allow, 3));
    assert_true(sms_ip_allowed("2001:db8:1::5", allow, 3));
    assert_false(sms_ip_allowed("::1", allow, 3));
    assert_false(sms_ip_allowed("garbage", allow, 3));
    assert_false(sms_ip_allowed(NULL, allow, 3));
    assert_false(sms_ip_allowed("127.0.0.1", allow, 0));
    assert_true(sms_cidr_valid("0.0.0.0/0"));
    assert_true(sms_cidr_valid("::1"));
    assert_false(sms_cidr_valid("10.0.0.0/33"));
    assert_false(sms_cidr_valid("10.0.0/8"));
    assert_false(sms_cidr_valid("10.0.0.0/"));
    assert_false(sms_cidr_valid("host.example"));
}

static void test_b64(void **st)
{
    (void)st;
    size_t n;
    unsigned char *d = sms_b64_decode("aGk", 3, 1, &n);
    assert_non_null(d);
    assert_int_equal(n, 2);
    assert_memory_equal(d, "hi", 2);
    free(d);
    d = sms_b64_decode("aGk=", 4, 0, &n);
    assert_int_equal(n, 2);
    free(d);
    assert_null(sms_b64_decode("aGk", 3, 0, &n));
    assert_null(sms_b64_decode("a", 1, 1, &n));
    assert_null(sms_b64_decode(" aGk=", 5, 0, &n));
    char out[8];
    assert_int_equal(sms_b64_encode((const unsigned char *)"hi", 2, out, sizeof out), 4);
    assert_string_equal(out, "aGk=");
    assert_int_equal(sms_b64_encode((const unsigned char *)"hello", 5, out, 8), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_doc_vector),
        cmocka_unit_test(test_jwt_sign_roundtrip_and_tamper),
        cmocka_unit_test(test_jwt_alg_none_and_others_refused),
        cmocka_unit_test(test_jwt_malformed),
        cmocka_unit_test(test_jwt_exp_nbf),
        cmocka_unit_test(test_twilio_doc_vector),
        cmocka_unit_test(test_form_parse),
        cmocka_unit_test(test_basic_auth),
        cmocka_unit_test(test_secret_eq),
        cmocka_unit_test(test_allowlist),
        cmocka_unit_test(test_b64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
