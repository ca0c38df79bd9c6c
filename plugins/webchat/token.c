/* token.c — session tokens: 192 random bits from getrandom(2), base64url, SHA-256 keys. */
#include "token.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "plugin_api.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int web_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return GW_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return GW_OK;
}

int web_token_new(char *out, size_t outlen)
{
    unsigned char raw[WEB_TOKEN_BYTES];
    if (outlen < WEB_TOKEN_LEN + 1)
        return GW_EINVAL;
    if (web_random(raw, sizeof(raw)) != GW_OK)
        return GW_EIO;
    /* 24 bytes = 8 groups of 3 bytes = 32 characters, no padding. */
    size_t o = 0;
    for (size_t i = 0; i < sizeof(raw); i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    memset(raw, 0, sizeof(raw));
    return GW_OK;
}

int web_token_valid(const char *s)
{
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= WEB_TOKEN_LEN)
            return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return n == WEB_TOKEN_LEN;
}

int web_sid_new(char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[WEB_SID_LEN / 2];
    if (outlen < WEB_SID_LEN + 1)
        return GW_EINVAL;
    if (web_random(raw, sizeof(raw)) != GW_OK)
        return GW_EIO;
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[WEB_SID_LEN] = '\0';
    return GW_OK;
}

int web_sid_valid(const char *s)
{
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        if (n >= WEB_SID_LEN)
            return 0;
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    }
    return n == WEB_SID_LEN;
}

int web_token_key(const char *token, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (outlen < WEB_TOKEN_KEY_LEN + 1 || !web_token_valid(token))
        return GW_EINVAL;
    if (!EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return GW_EINVAL;
    for (unsigned i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * mdlen] = '\0';
    return GW_OK;
}

const char *web_token_from_bearer(const char *header)
{
    if (!header)
        return NULL;
    while (*header == ' ')
        header++;
    if (strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    header += 7;
    while (*header == ' ')
        header++;
    return header;
}
