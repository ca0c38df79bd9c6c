/* test_req.c — API request bodies: types, lengths, configured values, pre-chat fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin_api.h"
#include "req.h"
#include "static.h"

static char *queues[] = {"general", "work"};
static char *topic_opts[] = {"education", "work", "other"};
static struct web_field fields[] = {
    {.id = "topic", .type = WEB_FIELD_SELECT, .options = topic_opts, .n_options = 3},
    {.id = "note", .type = WEB_FIELD_TEXT, .maxlen = 5},
};

static void conf_init(struct web_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->queues = queues;
    c->n_queues = 2;
    strcpy(c->langs[0], "nb");
    strcpy(c->langs[1], "da");
    c->n_langs = 2;
    strcpy(c->default_lang, "nb");
    c->max_chars = 10;
    c->max_body = 10 * 6 + 4096;
    c->fields = fields;
    c->n_fields = 2;
}

#define B(s) s, strlen(s)

static void start_defaults(void **state)
{
    (void)state;
    struct web_conf c;
    conf_init(&c);
    struct web_req_start r;
    char code[32];
    assert_int_equal(web_req_start(&c, "", 0, &r, code, sizeof(code)), GW_OK);
    assert_string_equal(r.lang, "nb");
    assert_string_equal(r.queue, "general");
    assert_int_equal(json_object_size(r.fields), 0);
    web_req_start_release(&r);
    assert_int_equal(web_req_start(&c,
                                   B("{\"lang\":\"da\",\"queue\":\"work\",\"fields\":{\"topic\":"
                                     "\"work\",\"note\":\"hei\"}}"),
                                   &r, code, sizeof(code)),
                     GW_OK);
    assert_string_equal(r.lang, "da");
    assert_string_equal(r.queue, "work");
    assert_string_equal(json_string_value(json_object_get(r.fields, "topic")), "work");
    assert_string_equal(json_string_value(json_object_get(r.fields, "note")), "hei");
    web_req_start_release(&r);
    /* unknown language: the default, not an error */
    assert_int_equal(web_req_start(&c, B("{\"lang\":\"sv\"}"), &r, code, sizeof(code)), GW_OK);
    assert_string_equal(r.lang, "nb");
    web_req_start_release(&r);
    /* empty answers are dropped */
    assert_int_equal(web_req_start(&c, B("{\"fields\":{\"topic\":\"\",\"note\":\"  \"}}"), &r, code,
                                   sizeof(code)),
                     GW_OK);
    assert_int_equal(json_object_size(r.fields), 0);
    web_req_start_release(&r);
}

static void start_refusals(void **state)
{
    (void)state;
    struct web_conf c;
    conf_init(&c);
    struct web_req_start r;
    char code[32];
    assert_int_equal(web_req_start(&c, B("{\"queue\":\"secret\"}"), &r, code, sizeof(code)),
                     GW_EINVAL);
    assert_string_equal(code, "queue_unknown");
    assert_int_equal(web_req_start(&c, B("{\"fields\":{\"age\":\"12\"}}"), &r, code, sizeof(code)),
                     GW_EINVAL);
    assert_string_equal(code, "field_unknown");
    assert_int_equal(
        web_req_start(&c, B("{\"fields\":{\"topic\":\"<script>\"}}"), &r, code, sizeof(code)),
        GW_EINVAL);
    assert_string_equal(code, "field_invalid");
    assert_int_equal(
        web_req_start(&c, B("{\"fields\":{\"note\":\"æøåæøå\"}}"), &r, code, sizeof(code)),
        GW_ELIMIT);
    assert_string_equal(code, "too_long");
    assert_int_equal(
        web_req_start(&c, B("{\"fields\":{\"note\":\"æøåæø\"}}"), &r, code, sizeof(code)), GW_OK);
    web_req_start_release(&r);
    assert_int_equal(web_req_start(&c, B("[1]"), &r, code, sizeof(code)), GW_EINVAL);
    assert_string_equal(code, "json_invalid");
    assert_int_equal(web_req_start(&c, B("{\"lang\":1}"), &r, code, sizeof(code)), GW_EINVAL);
    fields[0].required = 1;
    assert_int_equal(web_req_start(&c, B("{}"), &r, code, sizeof(code)), GW_EINVAL);
    assert_string_equal(code, "field_required");
    assert_int_equal(web_req_start(&c, "", 0, &r, code, sizeof(code)), GW_EINVAL);
    fields[0].required = 0;
}

static void message(void **state)
{
    (void)state;
    struct web_conf c;
    conf_init(&c);
    struct web_req_message m;
    char code[32];
    assert_int_equal(web_req_message(&c, B("{\"text\":\"Hei på deg\",\"cid\":\"c-1_A\"}"), &m, code,
                                     sizeof(code)),
                     GW_OK);
    assert_string_equal(m.text, "Hei på deg");
    assert_string_equal(m.cid, "c-1_A");
    web_req_message_release(&m);
    assert_null(m.text);
    /* 10 characters (20 bytes) is fine, 11 is not */
    assert_int_equal(web_req_message(&c, B("{\"text\":\"ææææææææææ\"}"), &m, code, sizeof(code)),
                     GW_OK);
    assert_string_equal(m.cid, "");
    web_req_message_release(&m);
    assert_int_equal(web_req_message(&c, B("{\"text\":\"æææææææææææ\"}"), &m, code, sizeof(code)),
                     GW_ELIMIT);
    assert_string_equal(code, "too_long");
    assert_int_equal(web_req_message(&c, B("{\"text\":\"  \\n \"}"), &m, code, sizeof(code)),
                     GW_EINVAL);
    assert_string_equal(code, "text_missing");
    assert_int_equal(web_req_message(&c, B("{\"text\":5}"), &m, code, sizeof(code)), GW_EINVAL);
    assert_int_equal(
        web_req_message(&c, B("{\"text\":\"a\",\"cid\":\"a b\"}"), &m, code, sizeof(code)),
        GW_EINVAL);
    assert_string_equal(code, "cid_invalid");
    assert_int_equal(
        web_req_message(&c, B("{\"text\":\"a\",\"text\":\"b\"}"), &m, code, sizeof(code)),
        GW_EINVAL);
    /* NUL inside a string and invalid UTF-8 are refused by the parser */
    assert_int_equal(web_req_message(&c, B("{\"text\":\"a\\u0000b\"}"), &m, code, sizeof(code)),
                     GW_EINVAL);
    assert_int_equal(web_req_message(&c, B("{\"text\":\"\xff\"}"), &m, code, sizeof(code)),
                     GW_EINVAL);
    assert_int_equal(web_req_message(&c, "", 0, &m, code, sizeof(code)), GW_EINVAL);
    assert_string_equal(code, "body_missing");
    char *big = malloc(c.max_body + 10);
    memset(big, ' ', c.max_body + 9);
    big[c.max_body + 9] = 0;
    assert_int_equal(web_req_message(&c, big, strlen(big), &m, code, sizeof(code)), GW_ELIMIT);
    free(big);
    /* markup is just text here: it is shown with textContent in the widget */
    assert_int_equal(web_req_message(&c, B("{\"text\":\"<b>x</b>\"}"), &m, code, sizeof(code)),
                     GW_OK);
    web_req_message_release(&m);
}

static void small_bodies(void **state)
{
    (void)state;
    char code[32];
    int composing = -1, rating = 0;
    char *comment = NULL, *addr = NULL;
    assert_int_equal(web_req_typing(B("{\"state\":\"composing\"}"), &composing, code, sizeof(code)),
                     GW_OK);
    assert_int_equal(composing, 1);
    assert_int_equal(web_req_typing(B("{\"state\":\"paused\"}"), &composing, code, sizeof(code)),
                     GW_OK);
    assert_int_equal(composing, 0);
    assert_int_equal(web_req_typing(B("{\"state\":\"x\"}"), &composing, code, sizeof(code)),
                     GW_EINVAL);

    assert_int_equal(web_req_feedback(B("{\"rating\":5,\"comment\":\"Takk!\"}"), &rating, &comment,
                                      code, sizeof(code)),
                     GW_OK);
    assert_int_equal(rating, 5);
    assert_string_equal(comment, "Takk!");
    free(comment);
    assert_int_equal(web_req_feedback(B("{\"rating\":1}"), &rating, &comment, code, sizeof(code)),
                     GW_OK);
    assert_null(comment);
    assert_int_equal(web_req_feedback(B("{\"rating\":6}"), &rating, &comment, code, sizeof(code)),
                     GW_EINVAL);
    assert_int_equal(
        web_req_feedback(B("{\"rating\":\"5\"}"), &rating, &comment, code, sizeof(code)),
        GW_EINVAL);

    assert_int_equal(
        web_req_email(B("{\"address\":\"kari@example.no\"}"), &addr, code, sizeof(code)), GW_OK);
    assert_string_equal(addr, "kari@example.no");
    free(addr);
    const char *bad[] = {"{\"address\":\"kari\"}",
                         "{\"address\":\"a@b\"}",
                         "{\"address\":\"a b@c.no\"}",
                         "{\"address\":\"a@b.no\\r\\nBcc: x@y.no\"}",
                         "{\"address\":\"<a@b.no>\"}",
                         "{\"address\":\"a@@b.no\"}",
                         "{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(web_req_email(B(bad[i]), &addr, code, sizeof(code)), GW_EINVAL);
        assert_null(addr);
    }

    int64_t ids[4];
    size_t n = 0;
    assert_int_equal(web_req_ack(B("{\"ids\":[3,4,5]}"), ids, 4, &n, code, sizeof(code)), GW_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[2], 5);
    assert_int_equal(web_req_ack(B("{\"ids\":[]}"), ids, 4, &n, code, sizeof(code)), GW_EINVAL);
    assert_int_equal(web_req_ack(B("{\"ids\":[1,-2]}"), ids, 4, &n, code, sizeof(code)), GW_EINVAL);
    assert_int_equal(n, 0);
}

static void static_names(void **state)
{
    (void)state;
    assert_true(web_static_name_ok("widget.js"));
    assert_true(web_static_name_ok("i18n/nb.json"));
    assert_false(web_static_name_ok(""));
    assert_false(web_static_name_ok(".env"));
    assert_false(web_static_name_ok("i18n/.hidden"));
    assert_false(web_static_name_ok("../etc/passwd"));
    assert_false(web_static_name_ok("a/b/c.js"));
    assert_false(web_static_name_ok("a//b.js"));
    assert_false(web_static_name_ok("i18n/"));
    assert_false(web_static_name_ok("/etc/passwd"));
    assert_false(web_static_name_ok("a%2e.js"));
    assert_string_equal(web_static_type("widget.js"), "text/javascript; charset=utf-8");
    assert_string_equal(web_static_type("i18n/da.json"), "application/json");
    assert_null(web_static_type("secret.db"));
    assert_null(web_static_type("README"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(start_defaults), cmocka_unit_test(start_refusals),
        cmocka_unit_test(message),        cmocka_unit_test(small_bodies),
        cmocka_unit_test(static_names),
    };
    return cmocka_run_group_tests_name("webchat/req", tests, NULL, NULL);
}
