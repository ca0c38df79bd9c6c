/* hours.c — opening hours with dated exceptions: when a queue is open, its next opening or
 * closing, the parsing of an hours group, the texts that tell seekers.  Split from
 * calendar.c (dates and holidays), whose day numbers and holiday table it uses. */
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

#define MAX_RANGES 8
#define SEARCH_DAYS 400

/* ---- opening hours ---------------------------------------------------------------------- */

struct range {
    int start, end; /* seconds after local midnight, end exclusive, end <= 86400 */
};

struct day {
    int n;
    struct range r[MAX_RANGES];
};

struct exception {
    long days; /* gw_cal_days_from_civil of the date */
    struct day day;
};

struct gw_hours {
    int always;
    enum cal cal;
    char tz[64];      /* "Europe/Oslo" */
    char tzspec[80];  /* ":Europe/Oslo", the TZ value */
    struct day week[7]; /* 0 = Sunday */
    struct exception *exc;
    size_t nexc;
};

/* Local time in the configured zone.  The C library only converts in the process's zone, so
 * we switch TZ around a conversion and put it back.  That is safe because the daemon has one
 * thread and no signal handler converts times; glibc caches the parsed zone file by name and
 * stat, so a switch costs a stat, not a parse.  (A TZif reader of our own would avoid the
 * switch; not worth ~300 lines while the process is single-threaded.) */
struct tzsave {
    int had;
    char old[256];
};

static void tz_enter(const struct gw_hours *h, struct tzsave *sv)
{
    const char *o = getenv("TZ");
    sv->had = o != NULL && strlen(o) < sizeof sv->old;
    if (sv->had)
        snprintf(sv->old, sizeof sv->old, "%s", o);
    if (h && h->tzspec[0]) {
        setenv("TZ", h->tzspec, 1);
        tzset();
    }
}

static void tz_leave(const struct gw_hours *h, struct tzsave *sv)
{
    if (!h || !h->tzspec[0])
        return;
    if (sv->had)
        setenv("TZ", sv->old, 1);
    else
        unsetenv("TZ");
    tzset();
}

/* Local wall-clock timestamp of date (days since epoch) at `second` of the day, in the
 * current TZ. */
static time_t local_ts(long days, int second, int isdst)
{
    int y, m, d;
    gw_cal_civil_from_days(days, &y, &m, &d);
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = second / 3600; /* 24:00 is normalised by mktime to the next day */
    tm.tm_min = second / 60 % 60;
    tm.tm_sec = second % 60;
    tm.tm_isdst = isdst;
    return mktime(&tm);
}

static const struct day closed_day = {0, {{0, 0}}};

static const struct day *rules_for(const struct gw_hours *h, long days)
{
    for (size_t i = 0; i < h->nexc; i++)
        if (h->exc[i].days == days)
            return &h->exc[i].day;
    int y, m, d;
    gw_cal_civil_from_days(days, &y, &m, &d);
    if (gw_cal_holiday_lookup(h->cal, y, m, d, NULL) != GW_HOLIDAY_NONE)
        return &closed_day;
    return &h->week[gw_cal_weekday_of_days(days)];
}

/* With TZ already switched: is h open at t?  If so, *end gets the end of that range. */
static int open_at(const struct gw_hours *h, time_t t, time_t *end)
{
    struct tm lt;
    if (!localtime_r(&t, &lt))
        return 0;
    long days = gw_cal_days_from_civil(lt.tm_year + 1900, lt.tm_mon + 1, lt.tm_mday);
    int second = lt.tm_hour * 3600 + lt.tm_min * 60 + (lt.tm_sec < 60 ? lt.tm_sec : 59);
    const struct day *dy = rules_for(h, days);
    for (int i = 0; i < dy->n; i++) {
        if (second >= dy->r[i].start && second < dy->r[i].end) {
            if (end) {
                time_t e = local_ts(days, dy->r[i].end, -1);
                if (e <= t) /* the repeated hour when clocks go back: take the later one */
                    e = local_ts(days, dy->r[i].end, 0);
                *end = e > t ? e : t + 1;
            }
            return 1;
        }
    }
    return 0;
}

int gw_hours_is_open(const struct gw_hours *h, time_t t)
{
    if (!h || h->always)
        return 1;
    struct tzsave sv;
    tz_enter(h, &sv);
    int r = open_at(h, t, NULL);
    tz_leave(h, &sv);
    return r;
}

/* A start that falls into the hour skipped in spring (02:30 on the last Sunday of March) is
 * normalised by mktime to 03:30 summer time, but the range is open from the moment the
 * clocks jump (03:00, local second-of-day past the start): find that moment, so the next
 * opening agrees with gw_hours_is_open.  st is the normalised start; the result is > t. */
static time_t gap_start(const struct gw_hours *h, int start, time_t st, time_t t)
{
    struct tm lt;
    if (!localtime_r(&st, &lt) || lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec == start)
        return st; /* the usual case: the start exists on that day */
    /* The jump is less than an hour before st (st is as far past it as the start is past
     * the skipped hour's beginning); before the jump it is closed, from it open. */
    time_t lo = st - 3600 > t ? st - 3600 : t;
    time_t hi = st;
    if (open_at(h, lo, NULL) || !open_at(h, hi, NULL))
        return st;
    while (hi - lo > 1) {
        time_t mid = lo + (hi - lo) / 2;
        if (open_at(h, mid, NULL))
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* With TZ already switched: the first range start after t (t itself when open at t), or
 * -1.  A start is where a range begins by the rules; in the hour skipped in spring it may
 * not be an open moment (gw_hours_next_change checks). */
static time_t next_open_in(const struct gw_hours *h, time_t t)
{
    if (open_at(h, t, NULL))
        return t;
    struct tm lt;
    if (!localtime_r(&t, &lt))
        return (time_t)-1;
    long day0 = gw_cal_days_from_civil(lt.tm_year + 1900, lt.tm_mon + 1, lt.tm_mday);
    for (long days = day0; days <= day0 + SEARCH_DAYS; days++) {
        const struct day *dy = rules_for(h, days);
        for (int i = 0; i < dy->n; i++) {
            time_t st = local_ts(days, dy->r[i].start, -1);
            if (st > t)
                return gap_start(h, dy->r[i].start, st, t);
        }
    }
    return (time_t)-1;
}

/* With TZ already switched: the first closed moment >= t, or -1 (open for 400 days). */
static time_t next_close_in(const struct gw_hours *h, time_t t)
{
    time_t cur = t, end;
    for (int i = 0; i < (SEARCH_DAYS + 1) * (MAX_RANGES + 1); i++) {
        if (!open_at(h, cur, &end))
            return cur;
        if (end - t > (time_t)SEARCH_DAYS * 86400)
            break;
        cur = end;
    }
    return (time_t)-1;
}

time_t gw_hours_next_open(const struct gw_hours *h, time_t t)
{
    if (!h || h->always)
        return t;
    struct tzsave sv;
    tz_enter(h, &sv);
    time_t found = next_open_in(h, t);
    tz_leave(h, &sv);
    return found;
}

time_t gw_hours_next_close(const struct gw_hours *h, time_t t)
{
    if (!h || h->always)
        return (time_t)-1;
    struct tzsave sv;
    tz_enter(h, &sv);
    time_t result = next_close_in(h, t);
    tz_leave(h, &sv);
    return result;
}

time_t gw_hours_next_change(const struct gw_hours *h, time_t t)
{
    if (!h || h->always)
        return (time_t)-1;
    struct tzsave sv;
    time_t result = (time_t)-1;
    tz_enter(h, &sv);
    if (open_at(h, t, NULL)) {
        result = next_close_in(h, t); /* > t: runs through adjacent ranges */
    } else {
        /* A range start inside the skipped spring hour is normalised by mktime to a moment
         * that may still be closed; then the search goes on from there (starts are strictly
         * after the moment searched from, so this ends). */
        time_t cur = t;
        for (int i = 0; i < 2 * MAX_RANGES + 2; i++) {
            time_t st = next_open_in(h, cur);
            if (st == (time_t)-1 || st <= cur)
                break;
            if (open_at(h, st, NULL)) {
                result = st;
                break;
            }
            cur = st;
        }
    }
    tz_leave(h, &sv);
    return result;
}

int gw_hours_localtime(const struct gw_hours *h, time_t t, struct tm *out)
{
    struct tzsave sv;
    tz_enter(h, &sv);
    struct tm *r = localtime_r(&t, out);
    tz_leave(h, &sv);
    return r ? 0 : GW_EINVAL;
}

const char *gw_hours_timezone(const struct gw_hours *h)
{
    return h && !h->always ? h->tz : "";
}

void gw_hours_free(struct gw_hours **h)
{
    if (!h || !*h)
        return;
    free((*h)->exc);
    free(*h);
    *h = NULL;
}

/* ---- parsing ---------------------------------------------------------------------------- */

static int perr(const config_setting_t *s, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int perr(const config_setting_t *s, char *err, size_t errlen, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err && errlen) {
        const char *file = s ? config_setting_source_file(s) : NULL;
        unsigned line = s ? config_setting_source_line(s) : 0;
        snprintf(err, errlen, "%s:%u: %s", file ? file : "(config)", line, msg);
    }
    return GW_EINVAL;
}

static const char *const weekday_keys[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* "HH:MM" or "HH:MM:SS" -> seconds after midnight; accepts 24:00 (returns 86400).
 * Returns -1 on error.  Seconds are rarely wanted by a service, but they cost nothing and
 * let a test open a queue a few seconds from now on the real clock (docs/calendar.md). */
static int parse_time(const char **pp)
{
    const char *p = *pp;
    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2] != ':' ||
        !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4]))
        return -1;
    int hh = (p[0] - '0') * 10 + (p[1] - '0');
    int mm = (p[3] - '0') * 10 + (p[4] - '0');
    int ss = 0;
    p += 5;
    if (p[0] == ':') {
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
            return -1;
        ss = (p[1] - '0') * 10 + (p[2] - '0');
        p += 3;
    }
    if (mm > 59 || ss > 59 || hh > 24 || (hh == 24 && (mm || ss)))
        return -1;
    *pp = p;
    return hh * 3600 + mm * 60 + ss;
}

static int cmp_range(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* Parse "closed" or "HH:MM-HH:MM[,HH:MM-HH:MM...]" into d.  Errors name setting s. */
static int parse_day(const config_setting_t *s, const char *txt, struct day *d, char *err,
                     size_t errlen)
{
    memset(d, 0, sizeof *d);
    const char *p = skip_ws(txt);
    if (!strcmp(p, "closed"))
        return 0;
    for (;;) {
        p = skip_ws(p);
        int st = parse_time(&p);
        p = skip_ws(p);
        if (st < 0 || *p != '-')
            return perr(s, err, errlen, "bad opening hours \"%s\" (want \"HH:MM-HH:MM,...\" or "
                                        "\"closed\"; HH:MM:SS also works)", txt);
        p = skip_ws(p + 1);
        int en = parse_time(&p);
        if (en < 0)
            return perr(s, err, errlen,
                        "bad time in \"%s\" (want HH:MM or HH:MM:SS, 00:00 to 24:00)", txt);
        if (st >= 86400 || en <= st)
            return perr(s, err, errlen,
                        "range in \"%s\" must end after it starts, within one day (split "
                        "ranges at 24:00)", txt);
        if (d->n == MAX_RANGES)
            return perr(s, err, errlen, "more than %d ranges in \"%s\"", MAX_RANGES, txt);
        d->r[d->n].start = st;
        d->r[d->n].end = en;
        d->n++;
        p = skip_ws(p);
        if (*p == '\0')
            break;
        if (*p != ',')
            return perr(s, err, errlen, "bad opening hours \"%s\" (ranges are separated by ',')",
                        txt);
        p++;
    }
    qsort(d->r, (size_t)d->n, sizeof d->r[0], cmp_range);
    for (int i = 1; i < d->n; i++)
        if (d->r[i].start < d->r[i - 1].end)
            return perr(s, err, errlen, "overlapping ranges in \"%s\"", txt);
    return 0;
}

static int get_string(const config_setting_t *s, char *err, size_t errlen, const char **out)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return perr(s, err, errlen, "'%s' must be a string", config_setting_name(s));
    *out = config_setting_get_string(s);
    return 0;
}

static int valid_tz_name(const char *tz)
{
    if (!tz[0] || tz[0] == '/' || strstr(tz, "..") || strlen(tz) >= 63)
        return 0;
    for (const char *p = tz; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
            return 0;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", tz);
    return access(path, R_OK) == 0;
}

static int parse_exceptions(const config_setting_t *list, struct gw_hours *h, char *err,
                            size_t errlen)
{
    if (!config_setting_is_list(list) && !config_setting_is_array(list))
        return perr(list, err, errlen, "'exceptions' must be a list: ( { date = ...; hours = "
                                       "...; }, ... )");
    int n = config_setting_length(list);
    if (n == 0)
        return 0;
    h->exc = calloc((size_t)n, sizeof *h->exc);
    if (!h->exc)
        return GW_ENOMEM;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(e))
            return perr(e, err, errlen, "each exception must be a group { date = \"YYYY-MM-DD\"; "
                                        "hours = \"...\"; }");
        const char *date = NULL, *hours = NULL;
        for (int k = 0; k < config_setting_length(e); k++) {
            const config_setting_t *c = config_setting_get_elem(e, (unsigned)k);
            const char *name = config_setting_name(c);
            int rc;
            if (!strcmp(name, "date"))
                rc = get_string(c, err, errlen, &date);
            else if (!strcmp(name, "hours"))
                rc = get_string(c, err, errlen, &hours);
            else
                rc = perr(c, err, errlen, "unknown key '%s' in exception (known: date, hours)",
                          name);
            if (rc)
                return rc;
        }
        int y, m, d;
        char extra;
        if (!date || !hours)
            return perr(e, err, errlen, "exception needs both 'date' and 'hours'");
        if (sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || strlen(date) != 10 ||
            !gw_cal_valid_date(y, m, d))
            return perr(config_setting_get_member(e, "date"), err, errlen,
                        "bad date \"%s\" (want YYYY-MM-DD)", date);
        long days = gw_cal_days_from_civil(y, m, d);
        for (size_t j = 0; j < h->nexc; j++)
            if (h->exc[j].days == days)
                return perr(e, err, errlen, "second exception for %s", date);
        int rc = parse_day(config_setting_get_member(e, "hours"), hours, &h->exc[h->nexc].day,
                           err, errlen);
        if (rc)
            return rc;
        h->exc[h->nexc++].days = days;
    }
    return 0;
}

static int parse_group(const config_setting_t *s, struct gw_hours *h, char *err, size_t errlen)
{
    const char *calendar = NULL, *tz = NULL;
    const config_setting_t *cal_s = NULL;
    if (!config_setting_is_group(s))
        return perr(s, err, errlen, "'%s' must be a group { calendar = ...; mon = ...; }",
                    config_setting_name(s) ? config_setting_name(s) : "hours");
    for (int k = 0; k < config_setting_length(s); k++) {
        const config_setting_t *c = config_setting_get_elem(s, (unsigned)k);
        const char *name = config_setting_name(c);
        int rc = 0, wd = -1;
        for (int w = 0; w < 7; w++)
            if (!strcmp(name, weekday_keys[w]))
                wd = w;
        if (wd >= 0) {
            const char *txt = NULL;
            rc = get_string(c, err, errlen, &txt);
            if (!rc)
                rc = parse_day(c, txt, &h->week[wd], err, errlen);
        } else if (!strcmp(name, "calendar")) {
            cal_s = c;
            rc = get_string(c, err, errlen, &calendar);
        } else if (!strcmp(name, "timezone")) {
            rc = get_string(c, err, errlen, &tz);
            if (!rc && !valid_tz_name(tz))
                rc = perr(c, err, errlen, "unknown timezone \"%s\" (want e.g. \"Europe/Oslo\")",
                          tz);
        } else if (!strcmp(name, "exceptions")) {
            rc = parse_exceptions(c, h, err, errlen);
        } else {
            rc = perr(c, err, errlen,
                      "unknown key '%s' in hours (known: calendar, timezone, mon, tue, wed, "
                      "thu, fri, sat, sun, exceptions)", name);
        }
        if (rc)
            return rc;
    }
    if (!calendar)
        return perr(s, err, errlen, "hours need 'calendar' (\"no\", \"dk\" or \"none\")");
    int cal = gw_cal_from_name(calendar);
    if (cal < 0)
        return perr(cal_s, err, errlen, "unknown calendar \"%s\" (want \"no\", \"dk\" or \"none\")",
                    calendar);
    h->cal = (enum cal)cal;
    if (!tz)
        tz = cal == CAL_NO ? "Europe/Oslo" : cal == CAL_DK ? "Europe/Copenhagen" : NULL;
    if (!tz)
        return perr(s, err, errlen, "hours with calendar \"none\" need a 'timezone'");
    snprintf(h->tz, sizeof h->tz, "%s", tz);
    snprintf(h->tzspec, sizeof h->tzspec, ":%s", tz);
    return 0;
}

int gw_hours_parse(const config_setting_t *s, struct gw_hours **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    struct gw_hours *h = calloc(1, sizeof *h);
    if (!h) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return GW_ENOMEM;
    }
    if (!s) {
        h->always = 1;
        *out = h;
        return 0;
    }
    int rc = parse_group(s, h, err, errlen);
    if (rc) {
        if (rc == GW_ENOMEM && err && errlen)
            snprintf(err, errlen, "out of memory");
        gw_hours_free(&h);
        return rc;
    }
    *out = h;
    return 0;
}

/* ---- texts ------------------------------------------------------------------------------ */

int gw_hours_next_open_text(const struct gw_hours *h, const struct gw_i18n *i18n,
                            const char *lang, time_t now, char *buf, size_t len)
{
    if (len)
        buf[0] = '\0';
    time_t t = gw_hours_next_open(h, now);
    if (t == (time_t)-1)
        return 0;
    struct tm a, b;
    if (gw_hours_localtime(h, now, &a) || gw_hours_localtime(h, t, &b))
        return 0;
    long da = gw_cal_days_from_civil(a.tm_year + 1900, a.tm_mon + 1, a.tm_mday);
    long db = gw_cal_days_from_civil(b.tm_year + 1900, b.tm_mon + 1, b.tm_mday);
    char tbuf[32], day[16], wkey[32], mkey[32], date[64];
    if (b.tm_sec) /* an opening on a second: say so rather than round it away */
        snprintf(tbuf, sizeof tbuf, "%02d:%02d:%02d", b.tm_hour, b.tm_min, b.tm_sec);
    else
        snprintf(tbuf, sizeof tbuf, "%02d:%02d", b.tm_hour, b.tm_min);
    if (db == da) {
        const char *v[] = {"time", tbuf, NULL};
        return gw_i18n_format(i18n, lang, "next_open_today", buf, len, v);
    }
    if (db == da + 1) {
        const char *v[] = {"time", tbuf, NULL};
        return gw_i18n_format(i18n, lang, "next_open_tomorrow", buf, len, v);
    }
    snprintf(day, sizeof day, "%d", b.tm_mday);
    snprintf(wkey, sizeof wkey, "weekday_%d", b.tm_wday);
    snprintf(mkey, sizeof mkey, "month_%d", b.tm_mon + 1);
    const char *dv[] = {"day", day, "month", gw_i18n_text(i18n, lang, mkey), NULL};
    gw_i18n_format(i18n, lang, "date_day_month", date, sizeof date, dv);
    const char *v[] = {"weekday", gw_i18n_text(i18n, lang, wkey), "date", date, "time", tbuf, NULL};
    return gw_i18n_format(i18n, lang, "next_open_date", buf, len, v);
}

int gw_hours_closed_text(const struct gw_hours *h, const struct gw_i18n *i18n, const char *lang,
                         time_t now, char *buf, size_t len)
{
    char when[256];
    int n = gw_hours_next_open_text(h, i18n, lang, now, when, sizeof when);
    if (n == 0)
        return gw_i18n_format(i18n, lang, "closed_hours_never", buf, len, NULL);
    const char *v[] = {"next_open", when, NULL};
    return gw_i18n_format(i18n, lang, "closed_hours", buf, len, v);
}
