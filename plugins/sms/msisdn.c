/* msisdn.c — E.164 normalisation of seeker and provider phone numbers. */
#include "msisdn.h"

#include <stdio.h>
#include <string.h>

#include "plugin_api.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int sms_msisdn_normalise(const char *in, const char *default_cc, int flags, char *out,
                         size_t outlen)
{
    char d[32];
    size_t nd = 0;
    int plus = 0;

    if (!in || !out || outlen < SMS_E164_MAX)
        return GW_EINVAL;
    out[0] = '\0';
    const char *p = in;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '+') {
        plus = 1;
        p++;
    }
    for (; *p; p++) {
        if (is_digit(*p)) {
            if (nd + 1 >= sizeof d)
                return GW_EINVAL;
            d[nd++] = *p;
        } else if (*p == ' ' || *p == '-' || *p == '.' || *p == '(' || *p == ')' ||
                   *p == '\t') {
            continue;
        } else {
            return GW_EINVAL;
        }
    }
    d[nd] = '\0';
    if (nd == 0)
        return GW_EINVAL;

    const char *intl; /* digits after the '+' */
    char buf[40];
    if (plus) {
        intl = d;
    } else if (nd > 2 && d[0] == '0' && d[1] == '0') {
        intl = d + 2;
    } else if (nd == 8) {
        if (!default_cc || !*default_cc || strspn(default_cc, "0123456789") != strlen(default_cc))
            return GW_EINVAL;
        int n = snprintf(buf, sizeof buf, "%s%s", default_cc, d);
        if (n < 0 || (size_t)n >= sizeof buf)
            return GW_EINVAL;
        intl = buf;
    } else if ((flags & SMS_MSISDN_PROVIDER) && nd >= 9) {
        intl = d;
    } else {
        return GW_EINVAL;
    }

    size_t n = strlen(intl);
    if (n == 0 || intl[0] == '0' || n > 15)
        return GW_EINVAL;
    if (strncmp(intl, "47", 2) == 0 || strncmp(intl, "45", 2) == 0) {
        if (n != 10)
            return GW_EINVAL;
    } else if (n < 8) {
        return GW_EINVAL;
    }
    out[0] = '+';
    memcpy(out + 1, intl, n + 1);
    return GW_OK;
}
