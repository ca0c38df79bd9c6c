/* test_calendar.c — unit tests for holidays, Easter and opening hours (gateway/conf/calendar.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/calendar.h"
#include "conf/i18n.h"
#include "host/plugin_api.h"

/* UTC instant from calendar fields (the tests state the Oslo offset next to each use). */
static time_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return timegm(&tm);
}

struct parsed {
    config_t cfg;
    struct gw_hours *h;
    char err[256];
    int rc;
};

static void parse_text(struct parsed *p, const char *text)
{
    config_init(&p->cfg);
    p->h = NULL;
    p->err[0] = '\0';
    if (!config_read_string(&p->cfg, text)) {
        fprintf(stderr, "config error line %d: %s\n", config_error_line(&p->cfg),
                config_error_text(&p->cfg));
        fail();
    }
    p->rc = gw_hours_parse(config_lookup(&p->cfg, "hours"), &p->h, p->err, sizeof p->err);
}

static void parsed_done(struct parsed *p)
{
    gw_hours_free(&p->h);
    assert_null(p->h);
    config_destroy(&p->cfg);
}

#define WEEK_NO                                                                               \
    "hours = { calendar = \"no\"; timezone = \"Europe/Oslo\";\n"                              \
    "  mon = \"09:00-15:00\"; tue = \"09:00-15:00,18:00-21:00\"; wed = \"09:00-15:00\";\n"    \
    "  thu = \"09:00-15:00\"; fri = \"09:00-15:00\"; sun = \"closed\";\n"

static void test_easter(void **state)
{
    (void)state;
    static const int cases[][3] = {
        {2024, 3, 31}, {2025, 4, 20}, {2026, 4, 5}, {2027, 3, 28}, {2038, 4, 25},
        {2000, 4, 23}, {2019, 4, 21}, {1818, 3, 22}, {2285, 3, 22}, {1943, 4, 25},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int m, d;
        gw_easter(cases[i][0], &m, &d);
        assert_int_equal(m, cases[i][1]);
        assert_int_equal(d, cases[i][2]);
    }
}

static void test_holidays(void **state)
{
    (void)state;
    const char *key;
    assert_int_equal(gw_holiday("no", 2026, 4, 6, &key), GW_HOLIDAY_STATUTORY);
    assert_string_equal(key, "holiday_easter_monday");
    assert_int_equal(gw_holiday("no", 2027, 5, 17, &key), GW_HOLIDAY_STATUTORY);
    assert_string_equal(key, "holiday_constitution_day_no");
    assert_int_equal(gw_holiday("no", 2026, 4, 2, &key), GW_HOLIDAY_STATUTORY);
    assert_string_equal(key, "holiday_maundy_thursday");
    assert_int_equal(gw_holiday("no", 2026, 5, 14, &key), GW_HOLIDAY_STATUTORY);
    assert_string_equal(key, "holiday_ascension");
    assert_int_equal(gw_holiday("no", 2026, 5, 25, &key), GW_HOLIDAY_STATUTORY);
    assert_string_equal(key, "holiday_whit_monday");
    assert_int_equal(gw_holiday("no", 2026, 12, 24, &key), GW_HOLIDAY_NONE);
    assert_null(key);
    assert_int_equal(gw_holiday("no", 2026, 6, 5, &key), GW_HOLIDAY_NONE);

    assert_int_equal(gw_holiday("dk", 2026, 6, 5, &key), GW_HOLIDAY_CUSTOMARY);
    assert_string_equal(key, "holiday_constitution_day_dk");
    assert_int_equal(gw_holiday("dk", 2026, 12, 24, &key), GW_HOLIDAY_CUSTOMARY);
    assert_int_equal(gw_holiday("dk", 2026, 12, 31, &key), GW_HOLIDAY_CUSTOMARY);
    assert_string_equal(key, "holiday_new_years_eve");
    assert_int_equal(gw_holiday("dk", 2026, 5, 17, &key), GW_HOLIDAY_NONE);
    assert_int_equal(gw_holiday("dk", 2026, 5, 1, &key), GW_HOLIDAY_NONE);
    /* Store bededag: fourth Friday after Easter, abolished from 2024. */
    assert_int_equal(gw_holiday("dk", 2023, 5, 5, &key), GW_HOLIDAY_STATUTORY);
    assert_string_equal(key, "holiday_great_prayer_day");
    assert_int_equal(gw_holiday("dk", 2024, 4, 26, &key), GW_HOLIDAY_NONE);
    /* 2028: Whit Monday is 5 June; the statutory holiday names the day. */
    assert_int_equal(gw_holiday("dk", 2028, 6, 5, &key), GW_HOLIDAY_STATUTORY);
    assert_string_equal(key, "holiday_whit_monday");

    assert_int_equal(gw_holiday("none", 2026, 12, 25, &key), GW_HOLIDAY_NONE);
    assert_int_equal(gw_holiday("se", 2026, 12, 25, &key), GW_EINVAL);
    assert_int_equal(gw_holiday("no", 2026, 2, 29, NULL), GW_EINVAL);
    assert_int_equal(gw_holiday("no", 2028, 2, 29, NULL), GW_HOLIDAY_NONE);
    assert_true(gw_calendar_known("dk"));
    assert_false(gw_calendar_known("NO"));
}

static void test_holiday_closed(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p, WEEK_NO "};");
    assert_int_equal(p.rc, 0);
    /* Easter Monday 2026-04-06 10:00 CEST = 08:00 UTC; a normal Monday 2026-04-13 is open. */
    assert_false(gw_hours_is_open(p.h, utc(2026, 4, 6, 8, 0)));
    assert_true(gw_hours_is_open(p.h, utc(2026, 4, 13, 8, 0)));
    /* 17 May 2027 is a Monday. */
    assert_false(gw_hours_is_open(p.h, utc(2027, 5, 17, 8, 0)));
    assert_true(gw_hours_is_open(p.h, utc(2027, 5, 18, 8, 0)));
    /* Grundlovsdag 2026-06-05 (Friday) is an ordinary day in Norway. */
    assert_true(gw_hours_is_open(p.h, utc(2026, 6, 5, 8, 0)));
    /* Edges: 09:00 opens, 15:00 closes (local, CEST). */
    assert_true(gw_hours_is_open(p.h, utc(2026, 6, 5, 7, 0)));
    assert_false(gw_hours_is_open(p.h, utc(2026, 6, 5, 6, 59)));
    assert_true(gw_hours_is_open(p.h, utc(2026, 6, 5, 12, 59)));
    assert_false(gw_hours_is_open(p.h, utc(2026, 6, 5, 13, 0)));
    /* Saturday missing = closed. */
    assert_false(gw_hours_is_open(p.h, utc(2026, 6, 6, 10, 0)));
    /* The Easter Monday gap: from Saturday 4 April 2026 the next opening is Tuesday 7 April. */
    assert_int_equal(gw_hours_next_open(p.h, utc(2026, 4, 4, 10, 0)), utc(2026, 4, 7, 7, 0));
    assert_string_equal(gw_hours_timezone(p.h), "Europe/Oslo");
    parsed_done(&p);

    parse_text(&p, "hours = { calendar = \"dk\"; fri = \"09:00-15:00\"; };");
    assert_int_equal(p.rc, 0);
    assert_string_equal(gw_hours_timezone(p.h), "Europe/Copenhagen");
    assert_false(gw_hours_is_open(p.h, utc(2026, 6, 5, 8, 0)));
    assert_true(gw_hours_is_open(p.h, utc(2026, 6, 12, 8, 0)));
    parsed_done(&p);

    parse_text(&p, "hours = { calendar = \"none\"; timezone = \"Europe/Oslo\"; "
                   "mon = \"09:00-15:00\"; };");
    assert_int_equal(p.rc, 0);
    assert_true(gw_hours_is_open(p.h, utc(2026, 4, 6, 8, 0)));
    parsed_done(&p);
}

static void test_next_open_weekend(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p, WEEK_NO "};");
    assert_int_equal(p.rc, 0);
    /* Friday 2026-03-13 16:00 CET (15:00 UTC) -> Monday 2026-03-16 09:00 CET (08:00 UTC). */
    time_t fri = utc(2026, 3, 13, 15, 0);
    assert_int_equal(gw_hours_next_open(p.h, fri), utc(2026, 3, 16, 8, 0));
    /* Open now: t itself; next close at 15:00. */
    time_t mon = utc(2026, 3, 16, 9, 30);
    assert_int_equal(gw_hours_next_open(p.h, mon), mon);
    assert_int_equal(gw_hours_next_close(p.h, mon), utc(2026, 3, 16, 14, 0));
    /* Closed now: next close is t. */
    assert_int_equal(gw_hours_next_close(p.h, fri), fri);
    /* Tuesday between the two ranges -> 18:00 the same day; then closes 21:00. */
    time_t tue = utc(2026, 3, 17, 15, 0);
    assert_int_equal(gw_hours_next_open(p.h, tue), utc(2026, 3, 17, 17, 0));
    assert_int_equal(gw_hours_next_close(p.h, utc(2026, 3, 17, 18, 0)), utc(2026, 3, 17, 20, 0));
    parsed_done(&p);
}

static void test_dst(void **state)
{
    (void)state;
    struct parsed p;
    /* The process's own zone must neither matter nor change. */
    setenv("TZ", "America/New_York", 1);
    tzset();
    parse_text(&p, WEEK_NO "sat = \"00:00-24:00\"; };");
    assert_int_equal(p.rc, 0);
    /* Spring: clocks go forward on Sunday 2026-03-29.  Fri 16:00 CET (15:00 UTC) ->
     * Sat 00:00 CET (Fri 23:00 UTC); Saturday is open all day and closes at Sun 00:00 CET. */
    assert_int_equal(gw_hours_next_open(p.h, utc(2026, 3, 27, 15, 0)), utc(2026, 3, 27, 23, 0));
    assert_int_equal(gw_hours_next_close(p.h, utc(2026, 3, 28, 12, 0)), utc(2026, 3, 28, 23, 0));
    /* Sunday closed -> Monday 2026-03-30 09:00 CEST = 07:00 UTC (not 08:00). */
    assert_int_equal(gw_hours_next_open(p.h, utc(2026, 3, 28, 23, 30)), utc(2026, 3, 30, 7, 0));
    /* Autumn: back on Sunday 2026-10-25.  Sat 24 Oct 12:00 CEST -> closes Sun 00:00 CEST
     * (Sat 22:00 UTC); next opening Mon 26 Oct 09:00 CET = 08:00 UTC. */
    assert_int_equal(gw_hours_next_close(p.h, utc(2026, 10, 24, 10, 0)), utc(2026, 10, 24, 22, 0));
    assert_int_equal(gw_hours_next_open(p.h, utc(2026, 10, 24, 22, 0)), utc(2026, 10, 26, 8, 0));
    /* 09:00 local is 07:00 UTC in summer and 08:00 UTC in winter. */
    assert_true(gw_hours_is_open(p.h, utc(2026, 10, 23, 7, 0)));
    assert_false(gw_hours_is_open(p.h, utc(2026, 10, 26, 7, 30)));
    assert_true(gw_hours_is_open(p.h, utc(2026, 10, 26, 8, 0)));
    assert_string_equal(getenv("TZ"), "America/New_York");
    parsed_done(&p);

    /* A day that spans the change: Sunday 00:00-24:00 is 23 hours long in March. */
    parse_text(&p, "hours = { calendar = \"none\"; timezone = \"Europe/Oslo\"; "
                   "sun = \"00:00-24:00\"; mon = \"09:00-10:00\"; };");
    assert_int_equal(p.rc, 0);
    time_t sun_start = utc(2026, 3, 28, 23, 0); /* 00:00 CET */
    assert_int_equal(gw_hours_next_open(p.h, utc(2026, 3, 28, 12, 0)), sun_start);
    assert_int_equal(gw_hours_next_close(p.h, sun_start), utc(2026, 3, 29, 22, 0));
    assert_true(gw_hours_is_open(p.h, utc(2026, 3, 29, 1, 30))); /* 03:30 CEST */
    /* ... and 25 hours long in October. */
    assert_int_equal(gw_hours_next_close(p.h, utc(2026, 10, 24, 22, 0)), utc(2026, 10, 25, 23, 0));
    parsed_done(&p);
    unsetenv("TZ");
    tzset();
}

static void test_exceptions(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p, WEEK_NO "exceptions = (\n"
                   "  { date = \"2026-12-24\"; hours = \"10:00-12:00\"; },\n"
                   "  { date = \"2026-12-31\"; hours = \"closed\"; },\n"
                   "  { date = \"2026-05-14\"; hours = \"10:00-14:00\"; } ); };");
    assert_int_equal(p.rc, 0);
    /* Thursday 2026-12-24 (CET): 10:00-12:00 instead of 09:00-15:00. */
    assert_false(gw_hours_is_open(p.h, utc(2026, 12, 24, 8, 30)));
    assert_true(gw_hours_is_open(p.h, utc(2026, 12, 24, 10, 0)));
    assert_false(gw_hours_is_open(p.h, utc(2026, 12, 24, 11, 0)));
    assert_int_equal(gw_hours_next_close(p.h, utc(2026, 12, 24, 10, 0)), utc(2026, 12, 24, 11, 0));
    /* 25, 26 Dec holidays, 27 Sun, 28 Mon open. */
    assert_int_equal(gw_hours_next_open(p.h, utc(2026, 12, 24, 11, 0)), utc(2026, 12, 28, 8, 0));
    /* Thursday 31 Dec closed; 1 Jan holiday; Fri 1 Jan... next Mon 4 Jan 2027. */
    assert_false(gw_hours_is_open(p.h, utc(2026, 12, 31, 10, 0)));
    assert_int_equal(gw_hours_next_open(p.h, utc(2026, 12, 30, 15, 0)), utc(2027, 1, 4, 8, 0));
    /* An exception opens a holiday (Ascension 2026-05-14, CEST). */
    assert_true(gw_hours_is_open(p.h, utc(2026, 5, 14, 9, 0)));
    assert_false(gw_hours_is_open(p.h, utc(2026, 5, 14, 7, 30)));
    parsed_done(&p);
}

static void test_always_and_never(void **state)
{
    (void)state;
    struct gw_hours *h = NULL;
    char err[128];
    assert_int_equal(gw_hours_parse(NULL, &h, err, sizeof err), 0);
    time_t t = utc(2026, 12, 25, 3, 0);
    assert_true(gw_hours_is_open(h, t));
    assert_int_equal(gw_hours_next_open(h, t), t);
    assert_int_equal(gw_hours_next_close(h, t), (time_t)-1);
    gw_hours_free(&h);
    gw_hours_free(&h);
    assert_true(gw_hours_is_open(NULL, t));

    struct parsed p;
    parse_text(&p, "hours = { calendar = \"no\"; };");
    assert_int_equal(p.rc, 0);
    assert_false(gw_hours_is_open(p.h, t));
    assert_int_equal(gw_hours_next_open(p.h, t), (time_t)-1);
    assert_int_equal(gw_hours_next_close(p.h, t), t);
    parsed_done(&p);

    /* Open around the clock: next_close never within the search span. */
    parse_text(&p, "hours = { calendar = \"none\"; timezone = \"UTC\"; mon = \"00:00-24:00\"; "
                   "tue = \"00:00-24:00\"; wed = \"00:00-24:00\"; thu = \"00:00-24:00\"; "
                   "fri = \"00:00-24:00\"; sat = \"00:00-24:00\"; sun = \"00:00-24:00\"; };");
    assert_int_equal(p.rc, 0);
    assert_int_equal(gw_hours_next_close(p.h, t), (time_t)-1);
    parsed_done(&p);

    /* Adjacent ranges across midnight are one opening. */
    parse_text(&p, "hours = { calendar = \"none\"; timezone = \"UTC\"; mon = \"20:00-24:00\"; "
                   "tue = \"00:00-02:00, 08:00-09:00\"; };");
    assert_int_equal(p.rc, 0);
    assert_int_equal(gw_hours_next_close(p.h, utc(2026, 3, 16, 21, 0)), utc(2026, 3, 17, 2, 0));
    parsed_done(&p);
}

/* gw_hours_next_change: the moment the queue's opening/closing timer sleeps until. */
static void test_next_change(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p, WEEK_NO "};");
    assert_int_equal(p.rc, 0);
    /* Open Monday 2026-03-16 09:30 CET -> closes 15:00 CET (14:00 UTC). */
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 16, 8, 30)), utc(2026, 3, 16, 14, 0));
    /* Overnight: Monday 15:00 CET -> Tuesday 09:00 CET. */
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 16, 14, 0)), utc(2026, 3, 17, 8, 0));
    /* A weekend: Friday 2026-03-13 16:00 CET -> Monday 09:00 CET. */
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 13, 15, 0)), utc(2026, 3, 16, 8, 0));
    /* Strictly after t: at the opening moment itself the next change is the closing. */
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 16, 8, 0)), utc(2026, 3, 16, 14, 0));
    /* Tuesday between its two ranges -> 18:00 CET; then 21:00 CET. */
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 17, 15, 0)), utc(2026, 3, 17, 17, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 17, 17, 0)), utc(2026, 3, 17, 20, 0));
    /* Easter 2026: Wednesday 1 April 15:00 CEST -> Maundy Thursday, Good Friday, the weekend
     * and Easter Monday closed -> Tuesday 7 April 09:00 CEST (07:00 UTC). */
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 4, 1, 13, 0)), utc(2026, 4, 7, 7, 0));
    /* 1 May (Friday) 2026: Thursday 30 April 15:00 CEST -> Monday 4 May. */
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 4, 30, 13, 0)), utc(2026, 5, 4, 7, 0));
    /* 17 May 2027 is a Monday: Friday 14 May 15:00 CEST -> Tuesday 18 May. */
    assert_int_equal(gw_hours_next_change(p.h, utc(2027, 5, 14, 13, 0)), utc(2027, 5, 18, 7, 0));
    /* Ascension (Thursday 14 May 2026) and Whit Monday (25 May 2026). */
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 5, 13, 13, 0)), utc(2026, 5, 15, 7, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 5, 22, 13, 0)), utc(2026, 5, 26, 7, 0));
    /* Christmas 2026 in Norway: 24 Dec (Thursday) is a working day; 25, 26 closed. */
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 12, 23, 14, 0)), utc(2026, 12, 24, 8, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 12, 24, 14, 0)), utc(2026, 12, 28, 8, 0));
    parsed_done(&p);

    /* Denmark: Grundlovsdag (Friday 5 June 2026) and 24 and 31 December are closed by
     * custom; Store bededag until 2023 only; 1 May is a working day. */
    parse_text(&p, "hours = { calendar = \"dk\"; mon = \"09:00-15:00\"; tue = \"09:00-15:00\"; "
                   "wed = \"09:00-15:00\"; thu = \"09:00-15:00\"; fri = \"09:00-15:00\"; };");
    assert_int_equal(p.rc, 0);
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 6, 4, 13, 0)), utc(2026, 6, 8, 7, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2023, 5, 4, 13, 0)), utc(2023, 5, 8, 7, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2024, 4, 25, 13, 0)), utc(2024, 4, 26, 7, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 4, 30, 13, 0)), utc(2026, 5, 1, 7, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 12, 23, 14, 0)), utc(2026, 12, 28, 8, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 12, 30, 14, 0)), utc(2027, 1, 4, 8, 0));
    parsed_done(&p);

    /* Exceptions: a short Christmas Eve, and one that opens a holiday (Ascension). */
    parse_text(&p, WEEK_NO "exceptions = (\n"
                   "  { date = \"2026-12-24\"; hours = \"10:00-12:00\"; },\n"
                   "  { date = \"2026-05-14\"; hours = \"10:00-14:00\"; } ); };");
    assert_int_equal(p.rc, 0);
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 12, 23, 14, 0)), utc(2026, 12, 24, 9, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 12, 24, 9, 30)), utc(2026, 12, 24, 11, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 5, 13, 13, 0)), utc(2026, 5, 14, 8, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 5, 14, 8, 0)), utc(2026, 5, 14, 12, 0));
    parsed_done(&p);

    /* Adjacent ranges across midnight are one opening: no change at midnight. */
    parse_text(&p, "hours = { calendar = \"none\"; timezone = \"UTC\"; mon = \"20:00-24:00\"; "
                   "tue = \"00:00-02:00\"; };");
    assert_int_equal(p.rc, 0);
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 16, 21, 0)), utc(2026, 3, 17, 2, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 17, 2, 0)), utc(2026, 3, 23, 20, 0));
    parsed_done(&p);

    /* Seconds: a range of fifteen seconds. */
    parse_text(&p, "hours = { calendar = \"none\"; timezone = \"UTC\"; "
                   "mon = \"09:00:30-09:00:45\"; };");
    assert_int_equal(p.rc, 0);
    time_t nine = utc(2026, 3, 16, 9, 0);
    assert_int_equal(gw_hours_next_change(p.h, nine), nine + 30);
    assert_int_equal(gw_hours_next_change(p.h, nine + 30), nine + 45);
    assert_true(gw_hours_is_open(p.h, nine + 44));
    assert_false(gw_hours_is_open(p.h, nine + 45));
    assert_false(gw_hours_is_open(p.h, nine + 29));
    assert_int_equal(gw_hours_next_change(p.h, nine + 45), nine + 7 * 86400 + 30);
    parsed_done(&p);

    /* Nothing ever changes: always open, never open, open around the clock. */
    assert_int_equal(gw_hours_next_change(NULL, nine), (time_t)-1);
    parse_text(&p, "hours = { calendar = \"no\"; };");
    assert_int_equal(gw_hours_next_change(p.h, nine), (time_t)-1);
    parsed_done(&p);
    parse_text(&p, "hours = { calendar = \"none\"; timezone = \"UTC\"; mon = \"00:00-24:00\"; "
                   "tue = \"00:00-24:00\"; wed = \"00:00-24:00\"; thu = \"00:00-24:00\"; "
                   "fri = \"00:00-24:00\"; sat = \"00:00-24:00\"; sun = \"00:00-24:00\"; };");
    assert_int_equal(gw_hours_next_change(p.h, nine), (time_t)-1);
    parsed_done(&p);
}

static void test_next_change_dst(void **state)
{
    (void)state;
    struct parsed p;
    setenv("TZ", "America/New_York", 1); /* the process's zone must not matter */
    tzset();
    /* Sunday 29 March 2026 is 23 hours long in Oslo; 25 October 2026 is 25 hours long. */
    parse_text(&p, "hours = { calendar = \"none\"; timezone = \"Europe/Oslo\"; "
                   "sun = \"00:00-24:00\"; mon = \"09:00-10:00\"; };");
    assert_int_equal(p.rc, 0);
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 28, 12, 0)), utc(2026, 3, 28, 23, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 28, 23, 0)), utc(2026, 3, 29, 22, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 29, 22, 0)), utc(2026, 3, 30, 7, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 10, 24, 22, 0)), utc(2026, 10, 25, 23, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 10, 25, 23, 0)), utc(2026, 10, 26, 8, 0));
    parsed_done(&p);

    /* A start inside the skipped hour opens when the clocks jump (03:00 CEST = 01:00 UTC),
     * as gw_hours_is_open says; a range wholly inside it never opens that night. */
    parse_text(&p, "hours = { calendar = \"none\"; timezone = \"Europe/Oslo\"; "
                   "sun = \"02:30-04:00\"; };");
    assert_int_equal(p.rc, 0);
    assert_false(gw_hours_is_open(p.h, utc(2026, 3, 29, 0, 59)));
    assert_true(gw_hours_is_open(p.h, utc(2026, 3, 29, 1, 0)));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 28, 12, 0)), utc(2026, 3, 29, 1, 0));
    assert_int_equal(gw_hours_next_open(p.h, utc(2026, 3, 28, 12, 0)), utc(2026, 3, 29, 1, 0));
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 29, 1, 0)), utc(2026, 3, 29, 2, 0));
    parsed_done(&p);
    parse_text(&p, "hours = { calendar = \"none\"; timezone = \"Europe/Oslo\"; "
                   "sun = \"02:00-02:30,05:00-06:00\"; };");
    assert_int_equal(p.rc, 0);
    assert_int_equal(gw_hours_next_change(p.h, utc(2026, 3, 28, 12, 0)), utc(2026, 3, 29, 3, 0));
    parsed_done(&p);
    unsetenv("TZ");
    tzset();
}

/* For a year of samples, next_change agrees with is_open: the state differs at the change
 * and not just before it. */
static void test_next_change_agrees_with_is_open(void **state)
{
    (void)state;
    struct parsed p;
    parse_text(&p, WEEK_NO "sat = \"10:00:30-12:00\"; exceptions = (\n"
                   "  { date = \"2026-12-24\"; hours = \"10:00-12:00\"; } ); };");
    assert_int_equal(p.rc, 0);
    for (time_t t = utc(2026, 1, 1, 0, 7); t < utc(2027, 1, 1, 0, 0); t += 3 * 3600 + 17 * 60) {
        time_t c = gw_hours_next_change(p.h, t);
        assert_true(c > t);
        int now = gw_hours_is_open(p.h, t);
        assert_int_not_equal(gw_hours_is_open(p.h, c), now);
        assert_int_equal(gw_hours_is_open(p.h, c - 1), now);
        assert_int_equal(gw_hours_is_open(p.h, t + (c - t) / 2), now);
    }
    parsed_done(&p);
}

static void expect_error(const char *text, const char *needle)
{
    struct parsed p;
    parse_text(&p, text);
    if (p.rc != GW_EINVAL || !strstr(p.err, needle))
        fprintf(stderr, "rc %d, err \"%s\", wanted \"%s\"\n", p.rc, p.err, needle);
    assert_int_equal(p.rc, GW_EINVAL);
    assert_null(p.h);
    assert_non_null(strstr(p.err, needle));
    parsed_done(&p);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("hours = { calendar = \"no\";\n mondag = \"09:00-15:00\"; };",
                 ":2: unknown key 'mondag'");
    expect_error("hours = { calendar = \"no\"; mon = \"09:00-25:00\"; };", "bad time");
    expect_error("hours = { calendar = \"no\"; mon = \"25:00-26:00\"; };", "bad opening hours");
    expect_error("hours = { calendar = \"no\"; mon = \"9-15\"; };", "bad opening hours");
    expect_error("hours = { calendar = \"no\"; mon = \"09:00:60-15:00\"; };", "bad opening hours");
    expect_error("hours = { calendar = \"no\"; mon = \"09:00-24:00:01\"; };", "bad time");
    expect_error("hours = { calendar = \"no\"; mon = \"09:00:5-15:00\"; };", "bad opening hours");
    expect_error("hours = { calendar = \"no\"; mon = \"09:00:30-09:00:30\"; };", "must end after");
    expect_error("hours = { calendar = \"no\"; mon = \"15:00-09:00\"; };", "must end after");
    expect_error("hours = { calendar = \"no\"; mon = \"09:00-15:00;\"; };", "separated by ','");
    expect_error("hours = { calendar = \"no\";\n\n tue = \"09:00-12:00,11:00-13:00\"; };",
                 ":3: overlapping ranges");
    expect_error("hours = { calendar = \"no\"; mon = 9; };", "'mon' must be a string");
    expect_error("hours = { calendar = \"se\"; };", "unknown calendar \"se\"");
    expect_error("hours = { mon = \"09:00-15:00\"; };", "need 'calendar'");
    expect_error("hours = { calendar = \"none\"; };", "need a 'timezone'");
    expect_error("hours = { calendar = \"no\"; timezone = \"Mars/Olympus\"; };",
                 "unknown timezone");
    expect_error("hours = { calendar = \"no\"; timezone = \"../../etc/passwd\"; };",
                 "unknown timezone");
    expect_error("hours = { calendar = \"no\"; exceptions = ( { date = \"2026-02-30\"; "
                 "hours = \"closed\"; } ); };", "bad date \"2026-02-30\"");
    expect_error("hours = { calendar = \"no\"; exceptions = ( { date = \"2026-12-24\"; } ); };",
                 "needs both");
    expect_error("hours = { calendar = \"no\"; exceptions = ( { date = \"2026-12-24\"; "
                 "hours = \"closed\"; open = true; } ); };", "unknown key 'open' in exception");
    expect_error("hours = { calendar = \"no\"; exceptions = (\n { date = \"2026-12-24\"; "
                 "hours = \"closed\"; },\n { date = \"2026-12-24\"; hours = \"closed\"; } ); };",
                 ":3: second exception for 2026-12-24");
    expect_error("hours = \"always\";", "must be a group");
}

static void test_error_names_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_calendar_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\nhours = {\n  calendar = \"no\";\n  fri = \"09:00-15:00,14:00-16:00\";\n};\n", f);
    fclose(f);
    config_t cfg;
    config_init(&cfg);
    assert_true(config_read_file(&cfg, path));
    struct gw_hours *h = NULL;
    char err[256], want[300];
    assert_int_equal(gw_hours_parse(config_lookup(&cfg, "hours"), &h, err, sizeof err), GW_EINVAL);
    snprintf(want, sizeof want, "%s:4: overlapping ranges in \"09:00-15:00,14:00-16:00\"", path);
    assert_string_equal(err, want);
    config_destroy(&cfg);
    unlink(path);
}

static void test_texts(void **state)
{
    (void)state;
    char err[256], buf[256];
    const char *dir = getenv("SKAGERRAK_I18N_DIR") ? getenv("SKAGERRAK_I18N_DIR") : "conf/i18n";
    struct gw_i18n *i = gw_i18n_load(dir, err, sizeof err);
    if (!i)
        fprintf(stderr, "%s\n", err);
    assert_non_null(i);
    struct parsed p;
    parse_text(&p, WEEK_NO "};");
    assert_int_equal(p.rc, 0);
    /* Friday 2026-03-13 16:00 CET -> Monday 16 March 09:00. */
    assert_true(gw_hours_next_open_text(p.h, i, "nb", utc(2026, 3, 13, 15, 0), buf, sizeof buf) > 0);
    assert_string_equal(buf, "mandag 16. mars kl. 09:00");
    gw_hours_next_open_text(p.h, i, "nn", utc(2026, 3, 13, 15, 0), buf, sizeof buf);
    assert_string_equal(buf, "måndag 16. mars kl. 09:00");
    gw_hours_next_open_text(p.h, i, "en", utc(2026, 3, 13, 15, 0), buf, sizeof buf);
    assert_string_equal(buf, "on Monday 16 March at 09:00");
    /* Tuesday 15:00 -> today 18:00; Monday 16:00 -> tomorrow 09:00. */
    gw_hours_next_open_text(p.h, i, "da", utc(2026, 3, 17, 15, 0), buf, sizeof buf);
    assert_string_equal(buf, "i dag kl. 18:00");
    gw_hours_next_open_text(p.h, i, "nn", utc(2026, 3, 16, 15, 0), buf, sizeof buf);
    assert_string_equal(buf, "i morgon kl. 09:00");
    assert_true(gw_hours_closed_text(p.h, i, "en", utc(2026, 3, 16, 15, 0), buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "We open again tomorrow at 09:00."));
    parsed_done(&p);

    /* An opening on a second is said with its seconds. */
    parse_text(&p, "hours = { calendar = \"none\"; timezone = \"UTC\"; "
                   "mon = \"09:00:30-10:00\"; };");
    gw_hours_next_open_text(p.h, i, "nb", utc(2026, 3, 16, 8, 0), buf, sizeof buf);
    assert_string_equal(buf, "i dag kl. 09:00:30");
    parsed_done(&p);

    parse_text(&p, "hours = { calendar = \"no\"; };");
    assert_int_equal(gw_hours_next_open_text(p.h, i, "nb", utc(2026, 3, 16, 15, 0), buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    gw_hours_closed_text(p.h, i, "nb", utc(2026, 3, 16, 15, 0), buf, sizeof buf);
    assert_string_equal(buf, gw_i18n_text(i, "nb", "closed_hours_never"));
    parsed_done(&p);

    /* Every holiday the calendar can name has a text in every language. */
    for (int y = 2020; y <= 2030; y++)
        for (long day = 0; day < 366; day++) {
            struct tm tm = {0};
            tm.tm_year = y - 1900;
            tm.tm_mday = 1 + (int)day;
            time_t t = timegm(&tm);
            gmtime_r(&t, &tm);
            for (int c = 0; c < 2; c++) {
                const char *key = NULL;
                if (gw_holiday(c ? "dk" : "no", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                               &key) > 0)
                    for (int l = 0; gw_i18n_langs[l]; l++)
                        assert_ptr_not_equal(gw_i18n_text(i, gw_i18n_langs[l], key), key);
            }
        }
    gw_i18n_free(&i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_easter),
        cmocka_unit_test(test_holidays),
        cmocka_unit_test(test_holiday_closed),
        cmocka_unit_test(test_next_open_weekend),
        cmocka_unit_test(test_dst),
        cmocka_unit_test(test_exceptions),
        cmocka_unit_test(test_always_and_never),
        cmocka_unit_test(test_next_change),
        cmocka_unit_test(test_next_change_dst),
        cmocka_unit_test(test_next_change_agrees_with_is_open),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_names_file),
        cmocka_unit_test(test_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
