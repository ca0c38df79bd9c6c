/* msisdn.h — phone numbers to E.164 (+47 / +45 national forms, 00 prefixes, provider forms). */
#ifndef SMS_MSISDN_H
#define SMS_MSISDN_H

#include <stddef.h>

/* Longest E.164 text: '+' and 15 digits, plus NUL. */
#define SMS_E164_MAX 17

/* How to read a number without '+' or '00' that is not 8 digits long. */
enum sms_msisdn_flags {
    SMS_MSISDN_NATIONAL = 0, /* typed by a person: only 8-digit national forms are accepted */
    SMS_MSISDN_PROVIDER = 1, /* from a provider: bare digits (9..15) are international
                                without the '+', e.g. GatewayAPI's 4791234567 */
};

/* Normalise `in` to E.164 ("+4791234567") in out (outlen >= SMS_E164_MAX).
 * Accepted: "+47 912 34 567", "0047 91234567", "91234567" (8 digits: national, country
 * code `default_cc`, digits only, e.g. "47" or "45"), and with SMS_MSISDN_PROVIDER also
 * "4791234567".  Spaces, '-', '.', '(' and ')' between digits are ignored.
 * For +47 and +45 the national number must be exactly 8 digits; other country codes
 * must give 8..15 digits in total.  Returns 0, or GW_EINVAL for anything else (letters,
 * short codes, empty input, too long, leading zero country code). */
int sms_msisdn_normalise(const char *in, const char *default_cc, int flags, char *out,
                         size_t outlen);

#endif
