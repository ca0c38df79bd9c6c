/* calendar.c — dates (Easter, civil day numbers) and public holidays (Norway, Denmark).
 * Opening hours, which use them: hours.c. */
#include "conf/calendar.h"
#include "conf/calendar_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/i18n.h"
#include "host/plugin_api.h"

/* ---- dates ------------------------------------------------------------------------------ */

void gw_easter(int y, int *month, int *day)
{
    /* Anonymous Gregorian algorithm (Meeus/Jones/Butcher). */
    int a = y % 19, b = y / 100, c = y % 100, d = b / 4, e = b % 4;
    int f = (b + 8) / 25, g = (b - f + 1) / 3;
    int h = (19 * a + b - d - g + 15) % 30;
    int i = c / 4, k = c % 4;
    int l = (32 + 2 * e + 2 * i - h - k) % 7;
    int m = (a + 11 * h + 22 * l) / 451;
    *month = (h + l - 7 * m + 114) / 31;
    *day = (h + l - 7 * m + 114) % 31 + 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
long gw_cal_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void gw_cal_civil_from_days(long z, int *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int gw_cal_weekday_of_days(long z) /* 0 = Sunday */
{
    long w = (z + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

int gw_cal_valid_date(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1583 || y > 9999 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* ---- holidays --------------------------------------------------------------------------- */

/* One holiday rule: fixed (month, day) or Easter-relative (month 0, day = offset). */
struct holiday {
    int month, day;
    int first_year, last_year; /* 0 = unbounded */
    enum gw_holiday_kind kind;
    const char *key;
};

#define EASTER(off) 0, (off)
/* Statutory first: the first matching rule names the day. */
static const struct holiday holidays_no[] = {
    {1, 1, 0, 0, GW_HOLIDAY_STATUTORY, "holiday_new_year"},
    {EASTER(-3), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_maundy_thursday"},
    {EASTER(-2), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_good_friday"},
    {EASTER(0), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_easter_sunday"},
    {EASTER(1), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_easter_monday"},
    {5, 1, 0, 0, GW_HOLIDAY_STATUTORY, "holiday_labour_day"},
    {5, 17, 0, 0, GW_HOLIDAY_STATUTORY, "holiday_constitution_day_no"},
    {EASTER(39), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_ascension"},
    {EASTER(49), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_whit_sunday"},
    {EASTER(50), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_whit_monday"},
    {12, 25, 0, 0, GW_HOLIDAY_STATUTORY, "holiday_christmas_day"},
    {12, 26, 0, 0, GW_HOLIDAY_STATUTORY, "holiday_boxing_day"},
};

static const struct holiday holidays_dk[] = {
    {1, 1, 0, 0, GW_HOLIDAY_STATUTORY, "holiday_new_year"},
    {EASTER(-3), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_maundy_thursday"},
    {EASTER(-2), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_good_friday"},
    {EASTER(0), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_easter_sunday"},
    {EASTER(1), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_easter_monday"},
    /* Store bededag was abolished as a public holiday from 2024 (lov nr. 134 af 28/02/2023). */
    {EASTER(26), 0, 2023, GW_HOLIDAY_STATUTORY, "holiday_great_prayer_day"},
    {EASTER(39), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_ascension"},
    {EASTER(49), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_whit_sunday"},
    {EASTER(50), 0, 0, GW_HOLIDAY_STATUTORY, "holiday_whit_monday"},
    {12, 25, 0, 0, GW_HOLIDAY_STATUTORY, "holiday_christmas_day"},
    {12, 26, 0, 0, GW_HOLIDAY_STATUTORY, "holiday_boxing_day"},
    /* Customary closing days: not public holidays by law, closed by custom/agreement. */
    {6, 5, 0, 0, GW_HOLIDAY_CUSTOMARY, "holiday_constitution_day_dk"},
    {12, 24, 0, 0, GW_HOLIDAY_CUSTOMARY, "holiday_christmas_eve"},
    {12, 31, 0, 0, GW_HOLIDAY_CUSTOMARY, "holiday_new_years_eve"},
};

int gw_cal_from_name(const char *name)
{
    if (!name)
        return -1;
    if (!strcmp(name, "no"))
        return CAL_NO;
    if (!strcmp(name, "dk"))
        return CAL_DK;
    if (!strcmp(name, "none"))
        return CAL_NONE;
    return -1;
}

int gw_calendar_known(const char *calendar)
{
    return gw_cal_from_name(calendar) >= 0;
}

int gw_cal_holiday_lookup(enum cal cal, int y, int m, int d, const char **name_key)
{
    const struct holiday *tab = NULL;
    size_t n = 0;
    if (name_key)
        *name_key = NULL;
    if (cal == CAL_NO) {
        tab = holidays_no;
        n = sizeof holidays_no / sizeof holidays_no[0];
    } else if (cal == CAL_DK) {
        tab = holidays_dk;
        n = sizeof holidays_dk / sizeof holidays_dk[0];
    }
    if (!n)
        return GW_HOLIDAY_NONE;
    int em, ed;
    gw_easter(y, &em, &ed);
    long offset = gw_cal_days_from_civil(y, m, d) - gw_cal_days_from_civil(y, em, ed);
    for (size_t i = 0; i < n; i++) {
        const struct holiday *hd = &tab[i];
        if ((hd->first_year && y < hd->first_year) || (hd->last_year && y > hd->last_year))
            continue;
        int hit = hd->month ? (hd->month == m && hd->day == d) : (hd->day == offset);
        if (hit) {
            if (name_key)
                *name_key = hd->key;
            return (int)hd->kind;
        }
    }
    return GW_HOLIDAY_NONE;
}

int gw_holiday(const char *calendar, int y, int m, int d, const char **name_key)
{
    int cal = gw_cal_from_name(calendar);
    if (name_key)
        *name_key = NULL;
    if (cal < 0 || !gw_cal_valid_date(y, m, d))
        return GW_EINVAL;
    return gw_cal_holiday_lookup((enum cal)cal, y, m, d, name_key);
}
