/* calendar_int.h — shared by calendar.c (dates, holidays) and hours.c (opening hours), which
 * were one file: the calendars, day numbers and the holiday lookup.  Nothing else includes
 * it; the public API is calendar.h. */
#ifndef GW_CALENDAR_INT_H
#define GW_CALENDAR_INT_H

enum cal { CAL_NONE = 0, CAL_NO, CAL_DK };

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d, and back. */
long gw_cal_days_from_civil(int y, int m, int d);
void gw_cal_civil_from_days(long z, int *y, int *m, int *d);
/* Weekday of day number z: 0 = Sunday. */
int gw_cal_weekday_of_days(long z);
/* 1 when y-m-d is a real date. */
int gw_cal_valid_date(int y, int m, int d);
/* The calendar named "no", "dk" or "none"; -1 for any other name (or NULL). */
int gw_cal_from_name(const char *name);
/* The kind of holiday y-m-d is in cal (enum gw_holiday_kind, GW_HOLIDAY_NONE when none); the
 * day's catalogue key into *name_key (may be NULL; set to NULL when none). */
int gw_cal_holiday_lookup(enum cal cal, int y, int m, int d, const char **name_key);

#endif
