/* calendar.h — public holidays (Norway, Denmark) and opening hours with dated exceptions. */
#ifndef GW_CALENDAR_H
#define GW_CALENDAR_H

#include <libconfig.h>
#include <stddef.h>
#include <time.h>

struct gw_i18n;

/* What gw_holiday() found.  Statutory = a public holiday by law; customary = a day most
 * services close by custom or collective agreement (Danish 24 Dec, 31 Dec, Grundlovsdag).
 * Both are closed days for opening hours.  See docs/calendar.md. */
enum gw_holiday_kind {
    GW_HOLIDAY_NONE = 0,
    GW_HOLIDAY_STATUTORY = 1,
    GW_HOLIDAY_CUSTOMARY = 2,
};

/* Easter Sunday of Gregorian year y (anonymous Gregorian algorithm).  Writes month (3 or 4)
 * and day.  Valid for any year >= 1583. */
void gw_easter(int y, int *month, int *day);

/* 1 if `calendar` is a known calendar name ("no", "dk", "none"), else 0. */
int gw_calendar_known(const char *calendar);

/* Is y-m-d a holiday in `calendar` ("no" Norway, "dk" Denmark, "none" never)?
 * Returns GW_HOLIDAY_NONE, GW_HOLIDAY_STATUTORY or GW_HOLIDAY_CUSTOMARY, or GW_EINVAL for an
 * unknown calendar or an impossible date.  On a holiday *name_key (if name_key != NULL) is
 * set to a static catalogue key such as "holiday_easter_monday"; otherwise to NULL.  When
 * two holidays fall on one day the statutory one is named. */
int gw_holiday(const char *calendar, int y, int m, int d, const char **name_key);

/* Opening hours, parsed from a libconfig group:
 *   hours = { calendar = "no"; timezone = "Europe/Oslo";
 *             mon = "09:00-15:00"; tue = "09:00-15:00,18:00-21:00"; sun = "closed";
 *             exceptions = ( { date = "2026-12-24"; hours = "10:00-12:00"; } ); };
 * `calendar` is required; `timezone` defaults to Europe/Oslo for "no", Europe/Copenhagen
 * for "dk" and is required for "none".  A missing weekday is closed.  Ranges are
 * "HH:MM-HH:MM" (end may be "24:00", a range never crosses midnight; "HH:MM:SS" works too),
 * comma separated, non-overlapping.  Holidays of the calendar are closed unless an exception for
 * that date says otherwise.  Opaque; immutable after parsing (no pointers into libconfig kept). */
struct gw_hours;

/* Parse group `s`.  s == NULL (no hours group) yields hours that are always open.
 * On success *out is a new object (free with gw_hours_free) and 0 is returned.  On error
 * returns GW_EINVAL (or GW_ENOMEM), *out is NULL and err holds "file:line: message". */
int gw_hours_parse(const config_setting_t *s, struct gw_hours **out, char *err, size_t errlen);

/* Free hours and set *h = NULL.  NULL and *h == NULL are no-ops. */
void gw_hours_free(struct gw_hours **h);

/* 1 if open at t, else 0.  h == NULL means always open. */
int gw_hours_is_open(const struct gw_hours *h, time_t t);

/* The first moment >= t when the service is open: t itself if open now.  Searches up to
 * 400 days ahead; (time_t)-1 if it never opens in that span. */
time_t gw_hours_next_open(const struct gw_hours *h, time_t t);

/* The first moment >= t when the service is closed: t itself if closed now.  Adjacent
 * ranges (24:00 one day, 00:00 the next) count as one opening.  (time_t)-1 if it stays open
 * for the next 400 days (always open, or h == NULL). */
time_t gw_hours_next_close(const struct gw_hours *h, time_t t);

/* The first moment > t at which the service opens or closes (whichever it is not doing at
 * t): the next closing when open at t (adjacent ranges run through, as in
 * gw_hours_next_close), else the next opening.  (time_t)-1 when nothing changes within the
 * next 400 days (always open, never open, h == NULL).  The queue's opening/closing timer
 * (queue.c) sleeps until this moment. */
time_t gw_hours_next_change(const struct gw_hours *h, time_t t);

/* t as local time in the hours' timezone (UTC offset and DST as there).  0 or GW_EINVAL.
 * h == NULL uses the process's local time. */
int gw_hours_localtime(const struct gw_hours *h, time_t t, struct tm *out);

/* The configured timezone name ("Europe/Oslo"), or "" when h is NULL / always open. */
const char *gw_hours_timezone(const struct gw_hours *h);

/* Write the seeker-facing phrase for the next opening after `now` in `lang` into buf:
 * "next_open_today" / "next_open_tomorrow" / "next_open_date" from the catalogue, with
 * {time} "HH:MM", {weekday} from weekday_N and {date} from date_day_month / month_N.
 * Returns the length, 0 when it never opens within 400 days (buf = ""), or -1 when buf was
 * too small (still NUL-terminated). */
int gw_hours_next_open_text(const struct gw_hours *h, const struct gw_i18n *i18n,
                            const char *lang, time_t now, char *buf, size_t len);

/* The whole "we are closed" text for a seeker: closed_hours {next_open} or, if it never
 * opens, closed_hours_never.  Same returns as gw_hours_next_open_text (0 is not used). */
int gw_hours_closed_text(const struct gw_hours *h, const struct gw_i18n *i18n, const char *lang,
                         time_t now, char *buf, size_t len);

#endif
