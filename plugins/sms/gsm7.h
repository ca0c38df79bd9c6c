/* gsm7.h — GSM 03.38 detection, septet/UTF-16 counting, SMS segment counting, transliteration. */
#ifndef SMS_GSM7_H
#define SMS_GSM7_H

#include <stddef.h>
#include <stdint.h>

/* How a text travels: the GSM 7-bit default alphabet (with its extension table) or UCS-2. */
enum sms_coding {
    SMS_GSM7 = 0,
    SMS_UCS2 = 1,
};

/* Result of sms_gsm7_analyse(). */
struct sms_encinfo {
    enum sms_coding coding;
    size_t chars;     /* Unicode code points in the text */
    size_t units;     /* septets (GSM7: 1 or 2 per character) or UTF-16 code units (UCS-2) */
    unsigned parts;   /* SMS segments needed: 0 for an empty text */
    size_t per_part;  /* capacity of one part at this length: 160/153 or 70/67 */
    size_t free_in_last; /* units still free in the last part */
};

/* Septets a code point takes in GSM 03.38: 1 (basic set, æøåÆØÅ included), 2 (extension
 * table: € [ ] { } ~ \ ^ | and form feed), 0 (not representable: needs UCS-2). */
int sms_gsm7_septets(uint32_t cp);

/* Decode one UTF-8 sequence at s (n bytes available).  Strict: rejects overlong forms,
 * surrogates, values above U+10FFFF and truncated sequences.  On success stores the code
 * point in *cp and returns the sequence length (1..4); returns 0 on invalid input. */
size_t sms_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Analyse `len` bytes of UTF-8 text: the coding it needs, its length in units and the SMS
 * parts it takes.  GSM-7: one part holds 160 septets, a concatenated part 153, and a
 * two-septet character is never split across parts.  UCS-2: 70 and 67 UTF-16 units, and a
 * surrogate pair (emoji) is never split.  Returns 0, or GW_EINVAL for invalid UTF-8. */
int sms_gsm7_analyse(const char *utf8, size_t len, struct sms_encinfo *out);

/* Replace typographic punctuation that is outside GSM 03.38 with GSM-7 equivalents:
 * ‘ ’ ‚ ‛ ′ ´ ` -> '   “ ” „ ‟ ″ « » -> "   ‐ ‑ ‒ – — ― − -> -   … -> ...
 * no-break and other typographic spaces -> space; soft hyphen, zero-width characters and
 * BOM are dropped.  Letters are never changed.  Returns a malloc'd NUL-terminated string
 * (caller frees), or NULL on invalid UTF-8 or out of memory. */
char *sms_translit(const char *utf8, size_t len);

#endif
