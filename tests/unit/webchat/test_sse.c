/* test_sse.c — SSE framing: ids, event names, multi-line data, comments, id parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plugin_api.h"
#include "sse.h"

static void event_with_id(void **state)
{
    (void)state;
    struct web_buf b = {0};
    assert_int_equal(web_sse_event(&b, "message", 42, "{\"a\":1}"), GW_OK);
    assert_string_equal(web_buf_str(&b), "id: 42\ndata: {\"a\":1}\n\n");
    web_buf_reset(&b);
    assert_int_equal(web_sse_event(&b, "typing", 0, "{}"), GW_OK);
    assert_string_equal(web_buf_str(&b), "event: typing\ndata: {}\n\n");
    web_buf_release(&b);
}

static void multiline_data(void **state)
{
    (void)state;
    struct web_buf b = {0};
    assert_int_equal(web_sse_event(&b, NULL, 7, "a\nb\r\nc\rd\n"), GW_OK);
    assert_string_equal(web_buf_str(&b), "id: 7\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \n\n");
    web_buf_reset(&b);
    assert_int_equal(web_sse_event(&b, NULL, 0, NULL), GW_OK);
    assert_string_equal(web_buf_str(&b), "data: \n\n");
    web_buf_release(&b);
}

static void injection_refused(void **state)
{
    (void)state;
    struct web_buf b = {0};
    assert_int_equal(web_sse_event(&b, "x\ndata: evil", 1, "{}"), GW_EINVAL);
    /* data can never start a new field: every line is prefixed */
    assert_int_equal(web_sse_event(&b, NULL, 0, "x\nid: 999\nevent: closed"), GW_OK);
    assert_string_equal(web_buf_str(&b), "data: x\ndata: id: 999\ndata: event: closed\n\n");
    web_buf_release(&b);
}

static void comment_and_retry(void **state)
{
    (void)state;
    struct web_buf b = {0};
    web_sse_comment(&b, "hb\nx");
    web_sse_retry(&b, 2000);
    assert_string_equal(web_buf_str(&b), ": hb x\n\nretry: 2000\n\n");
    web_buf_release(&b);
}

static void parse_id(void **state)
{
    (void)state;
    assert_int_equal(web_sse_parse_id(NULL), 0);
    assert_int_equal(web_sse_parse_id(""), 0);
    assert_int_equal(web_sse_parse_id("123"), 123);
    assert_int_equal(web_sse_parse_id("-1"), -1);
    assert_int_equal(web_sse_parse_id("12a"), -1);
    assert_int_equal(web_sse_parse_id("1234567890123456789012"), -1);
}

static void buffer_grows(void **state)
{
    (void)state;
    struct web_buf b = {0};
    for (int i = 0; i < 10000; i++)
        web_buf_addf(&b, "%d,", i % 10);
    assert_int_equal(b.len, 20000);
    assert_int_equal(web_buf_status(&b), GW_OK);
    web_buf_release(&b);
    assert_null(b.s);
    assert_string_equal(web_buf_str(&b), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event_with_id),     cmocka_unit_test(multiline_data),
        cmocka_unit_test(injection_refused), cmocka_unit_test(comment_and_retry),
        cmocka_unit_test(parse_id),          cmocka_unit_test(buffer_grows),
    };
    return cmocka_run_group_tests_name("webchat/sse", tests, NULL, NULL);
}
