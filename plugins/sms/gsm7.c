/* gsm7.c — GSM 03.38 alphabet tables, segment counting and quote/dash transliteration. */
#include "gsm7.h"

#include <stdlib.h>
#include <string.h>

#include "plugin_api.h"

/* The GSM 03.38 basic character set, as Unicode code points, in septet order 0x00..0x7F.
 * 0x1B is the escape to the extension table and is not a character of its own. */
static const uint16_t gsm_basic[128] = {
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, /* @ £ $ ¥ è é ù ì */
    0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5, /* ò Ç LF Ø ø CR Å å */
    0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, /* Δ _ Φ Γ Λ Ω Π Ψ */
    0x03A3, 0x0398, 0x039E, 0xFFFF, 0x00C6, 0x00E6, 0x00DF, 0x00C9, /* Σ Θ Ξ ESC Æ æ ß É */
    0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027, /* SP ! " # ¤ % & ' */
    0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F,
    0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037,
    0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F,
    0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047, /* ¡ A.. */
    0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F,
    0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057,
    0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7, /* ..Z Ä Ö Ñ Ü § */
    0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067, /* ¿ a.. */
    0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F,
    0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077,
    0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0, /* ..z ä ö ñ ü à */
};

/* The extension table (ESC + septet): form feed ^ { } \ [ ~ ] | € */
static const uint16_t gsm_ext[] = {0x000C, 0x005E, 0x007B, 0x007D, 0x005C,
                                   0x005B, 0x007E, 0x005D, 0x007C, 0x20AC};

int sms_gsm7_septets(uint32_t cp)
{
    if (cp > 0xFFFF)
        return 0;
    for (size_t i = 0; i < 128; i++)
        if (gsm_basic[i] == cp)
            return 1;
    for (size_t i = 0; i < sizeof gsm_ext / sizeof gsm_ext[0]; i++)
        if (gsm_ext[i] == cp)
            return 2;
    return 0;
}

size_t sms_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Count parts by filling them greedily, never splitting a multi-unit character. */
static unsigned count_parts(const unsigned char *s, size_t len, int gsm, size_t cap,
                            size_t *free_last)
{
    unsigned parts = 1;
    size_t used = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = sms_utf8_decode(s + i, len - i, &cp);
        i += n;
        size_t w = gsm ? (size_t)sms_gsm7_septets(cp) : (cp > 0xFFFF ? 2u : 1u);
        if (used + w > cap) {
            parts++;
            used = 0;
        }
        used += w;
    }
    *free_last = cap - used;
    return parts;
}

int sms_gsm7_analyse(const char *utf8, size_t len, struct sms_encinfo *out)
{
    const unsigned char *s = (const unsigned char *)utf8;
    size_t chars = 0, septets = 0, u16 = 0;
    int gsm = 1;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = sms_utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            return GW_EINVAL;
        i += n;
        chars++;
        u16 += cp > 0xFFFF ? 2 : 1;
        int w = sms_gsm7_septets(cp);
        if (w == 0)
            gsm = 0;
        septets += (size_t)w;
    }
    out->coding = gsm ? SMS_GSM7 : SMS_UCS2;
    out->chars = chars;
    out->units = gsm ? septets : u16;
    size_t single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    if (out->units == 0) {
        out->parts = 0;
        out->per_part = single;
        out->free_in_last = single;
    } else if (out->units <= single) {
        out->parts = 1;
        out->per_part = single;
        out->free_in_last = single - out->units;
    } else {
        out->per_part = multi;
        out->parts = count_parts(s, len, gsm, multi, &out->free_in_last);
    }
    return GW_OK;
}

struct translit {
    uint32_t cp;
    const char *to; /* "" = drop */
};

static const struct translit translit_table[] = {
    {0x2018, "'"},   {0x2019, "'"},  {0x201A, "'"},  {0x201B, "'"},  {0x2032, "'"},
    {0x00B4, "'"},   {0x0060, "'"},  {0x201C, "\""}, {0x201D, "\""}, {0x201E, "\""},
    {0x201F, "\""},  {0x2033, "\""}, {0x00AB, "\""}, {0x00BB, "\""}, {0x2010, "-"},
    {0x2011, "-"},   {0x2012, "-"},  {0x2013, "-"},  {0x2014, "-"},  {0x2015, "-"},
    {0x2212, "-"},   {0x2026, "..."}, {0x00A0, " "}, {0x2002, " "},  {0x2003, " "},
    {0x2004, " "},   {0x2005, " "},  {0x2006, " "},  {0x2007, " "},  {0x2008, " "},
    {0x2009, " "},   {0x200A, " "},  {0x202F, " "},  {0x205F, " "},  {0x00AD, ""},
    {0x200B, ""},    {0x200C, ""},   {0x200D, ""},   {0x2060, ""},   {0xFEFF, ""},
};

char *sms_translit(const char *utf8, size_t len)
{
    const unsigned char *s = (const unsigned char *)utf8;
    /* Worst case growth: a 2-byte "…"? No: "…" is 3 bytes -> 3 dots; every other mapping
     * shrinks or keeps the size, so len + 1 is enough. */
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = sms_utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            free(out);
            return NULL;
        }
        const char *to = NULL;
        for (size_t k = 0; k < sizeof translit_table / sizeof translit_table[0]; k++) {
            if (translit_table[k].cp == cp) {
                to = translit_table[k].to;
                break;
            }
        }
        if (to) {
            size_t tl = strlen(to);
            memcpy(out + o, to, tl);
            o += tl;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
        }
        i += n;
    }
    out[o] = '\0';
    return out;
}
