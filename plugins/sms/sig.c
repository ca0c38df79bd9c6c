/* sig.c — HMAC-based webhook checks with OpenSSL; JSON with jansson; escapes with libcurl. */
#include "sig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_api.h"

static void set_why(char *why, size_t whylen, const char *s)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", s);
}

int sms_b64_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
    size_t need = 4 * ((n + 2) / 3) + 1;
    if (outlen < need || n > (size_t)INT32_MAX / 2)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

unsigned char *sms_b64_decode(const char *in, size_t n, int url, size_t *outlen)
{
    if (n > (size_t)INT32_MAX / 2)
        return NULL;
    /* Translate to standard alphabet with padding, as EVP_DecodeBlock expects. */
    size_t padded = (n + 3) / 4 * 4;
    char *tmp = malloc(padded + 1);
    if (!tmp)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (url) {
            if (c == '+' || c == '/' || c == '=')
                goto bad;
            if (c == '-')
                c = '+';
            else if (c == '_')
                c = '/';
        }
        tmp[i] = c;
    }
    if (url) {
        if (n % 4 == 1)
            goto bad;
        for (size_t i = n; i < padded; i++)
            tmp[i] = '=';
    } else if (n % 4 != 0) {
        goto bad;
    }
    size_t len = url ? padded : n;
    tmp[len] = '\0';
    unsigned char *out = malloc(len / 4 * 3 + 1);
    if (!out)
        goto bad;
    int r = EVP_DecodeBlock(out, (const unsigned char *)tmp, (int)len);
    if (r < 0) {
        free(out);
        goto bad;
    }
    /* EVP_DecodeBlock counts padding bytes as zeros: take them off. */
    size_t pad = 0;
    if (len >= 1 && tmp[len - 1] == '=')
        pad++;
    if (len >= 2 && tmp[len - 2] == '=')
        pad++;
    /* It also skips leading/trailing whitespace; we refuse any (strict input). */
    if (strspn(tmp, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != len)
    {
        free(out);
        goto bad;
    }
    *outlen = (size_t)r - pad;
    out[*outlen] = '\0';
    free(tmp);
    return out;
bad:
    free(tmp);
    return NULL;
}

/* base64url without padding. */
static char *b64url(const unsigned char *in, size_t n)
{
    size_t cap = 4 * ((n + 2) / 3) + 1;
    char *s = malloc(cap);
    if (!s || sms_b64_encode(in, n, s, cap) < 0) {
        free(s);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '=')
            break;
        s[o++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    }
    s[o] = '\0';
    return s;
}

int sms_jwt_hs256_verify(const char *token, const unsigned char *key, size_t keylen,
                         int64_t now_s, json_t **claims, char *why, size_t whylen)
{
    if (claims)
        *claims = NULL;
    if (!token || !key || keylen == 0) {
        set_why(why, whylen, "no token");
        return GW_EPERM;
    }
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.')) {
        set_why(why, whylen, "malformed token");
        return GW_EINVAL;
    }
    size_t hlen, plen, slen;
    unsigned char *hdr = sms_b64_decode(token, (size_t)(d1 - token), 1, &hlen);
    unsigned char *pay = sms_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), 1, &plen);
    unsigned char *sig = sms_b64_decode(d2 + 1, strlen(d2 + 1), 1, &slen);
    json_t *h = NULL, *c = NULL;
    int rc = GW_EINVAL;

    if (!hdr || !pay || !sig) {
        set_why(why, whylen, "malformed token encoding");
        goto out;
    }
    json_error_t je;
    h = json_loadb((const char *)hdr, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(h)) {
        set_why(why, whylen, "malformed token header");
        goto out;
    }
    const char *alg = json_string_value(json_object_get(h, "alg"));
    if (!alg || strcmp(alg, "HS256") != 0) {
        set_why(why, whylen, "token algorithm is not HS256");
        rc = GW_EPERM;
        goto out;
    }
    json_t *crit = json_object_get(h, "crit");
    if (crit) {
        set_why(why, whylen, "token has critical header extensions");
        rc = GW_EPERM;
        goto out;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)token,
              (size_t)(d2 - token), mac, &maclen)) {
        set_why(why, whylen, "hmac failed");
        rc = GW_EIO;
        goto out;
    }
    if (slen != maclen || CRYPTO_memcmp(mac, sig, maclen) != 0) {
        set_why(why, whylen, "bad token signature");
        rc = GW_EPERM;
        goto out;
    }
    c = json_loadb((const char *)pay, plen, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(c)) {
        set_why(why, whylen, "token claims are not an object");
        goto out;
    }
    json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf");
    if (exp && (!json_is_number(exp) || (int64_t)json_number_value(exp) + 60 < now_s)) {
        set_why(why, whylen, "token expired");
        rc = GW_EPERM;
        goto out;
    }
    if (nbf && (!json_is_number(nbf) || (int64_t)json_number_value(nbf) - 60 > now_s)) {
        set_why(why, whylen, "token not yet valid");
        rc = GW_EPERM;
        goto out;
    }
    rc = GW_OK;
    if (claims) {
        *claims = c;
        c = NULL;
    }
out:
    json_decref(h);
    json_decref(c);
    free(hdr);
    free(pay);
    free(sig);
    return rc;
}

char *sms_jwt_hs256_sign(const char *claims_json, const unsigned char *key, size_t keylen)
{
    static const char hdr[] = "{\"typ\":\"JWT\",\"alg\":\"HS256\"}";
    char *h = b64url((const unsigned char *)hdr, strlen(hdr));
    char *p = b64url((const unsigned char *)claims_json, strlen(claims_json));
    char *out = NULL, *s = NULL;
    if (!h || !p)
        goto done;
    size_t n = strlen(h) + 1 + strlen(p);
    out = malloc(n + 64);
    if (!out)
        goto done;
    snprintf(out, n + 1, "%s.%s", h, p);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)out, n, mac, &maclen)) {
        free(out);
        out = NULL;
        goto done;
    }
    s = b64url(mac, maclen);
    if (!s) {
        free(out);
        out = NULL;
        goto done;
    }
    snprintf(out + n, 64, ".%s", s);
done:
    free(h);
    free(p);
    free(s);
    return out;
}

static char *unescape(const char *s, size_t n)
{
    char *tmp = malloc(n + 1);
    if (!tmp)
        return NULL;
    for (size_t i = 0; i < n; i++)
        tmp[i] = s[i] == '+' ? ' ' : s[i];
    tmp[n] = '\0';
    /* libcurl keeps invalid escapes literally; we refuse them. */
    for (size_t i = 0; i < n; i++) {
        if (tmp[i] == '%') {
            if (i + 2 >= n || !isxdigit((unsigned char)tmp[i + 1]) ||
                !isxdigit((unsigned char)tmp[i + 2])) {
                free(tmp);
                return NULL;
            }
        }
    }
    int olen = 0;
    char *u = curl_easy_unescape(NULL, tmp, (int)n, &olen);
    free(tmp);
    if (!u)
        return NULL;
    char *r = NULL;
    if (strlen(u) == (size_t)olen)
        r = strdup(u);
    curl_free(u);
    return r;
}

int sms_form_parse(const char *body, size_t len, struct sms_form *f)
{
    f->v = NULL;
    f->n = 0;
    if (!body || len == 0)
        return GW_OK;
    if (memchr(body, '\0', len))
        return GW_EINVAL;
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        if (body[i] == '&')
            cap++;
    if (cap > 1000)
        return GW_EINVAL;
    f->v = calloc(cap, sizeof *f->v);
    if (!f->v)
        return GW_ENOMEM;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && body[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(body + i, '=', j - i);
            size_t nl = eq ? (size_t)(eq - (body + i)) : j - i;
            char *name = unescape(body + i, nl);
            char *value = eq ? unescape(eq + 1, (size_t)(body + j - eq - 1)) : strdup("");
            if (!name || !value || !*name) {
                free(name);
                free(value);
                sms_form_release(f);
                return GW_EINVAL;
            }
            f->v[f->n].name = name;
            f->v[f->n].value = value;
            f->n++;
        }
        i = j + 1;
    }
    return GW_OK;
}

const char *sms_form_get(const struct sms_form *f, const char *name)
{
    for (size_t i = 0; f && i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0)
            return f->v[i].value;
    return NULL;
}

void sms_form_release(struct sms_form *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].name);
        free(f->v[i].value);
    }
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

static int param_cmp(const void *a, const void *b)
{
    const struct sms_param *x = *(const struct sms_param *const *)a;
    const struct sms_param *y = *(const struct sms_param *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

int sms_twilio_sign(const char *auth_token, const char *url, const struct sms_form *params,
                    char *out, size_t outlen)
{
    if (!auth_token || !url || !out)
        return GW_EINVAL;
    size_t n = params ? params->n : 0;
    const struct sms_param **sorted = calloc(n ? n : 1, sizeof *sorted);
    if (!sorted)
        return GW_ENOMEM;
    for (size_t i = 0; i < n; i++)
        sorted[i] = &params->v[i];
    qsort(sorted, n, sizeof *sorted, param_cmp);

    int rc = GW_EINVAL;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *mctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA1", 0),
                      OSSL_PARAM_construct_end()};
    if (!mctx || !EVP_MAC_init(mctx, (const unsigned char *)auth_token, strlen(auth_token), p))
        goto done;
    if (!EVP_MAC_update(mctx, (const unsigned char *)url, strlen(url)))
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (!EVP_MAC_update(mctx, (const unsigned char *)sorted[i]->name,
                            strlen(sorted[i]->name)) ||
            !EVP_MAC_update(mctx, (const unsigned char *)sorted[i]->value,
                            strlen(sorted[i]->value)))
            goto done;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    if (!EVP_MAC_final(mctx, md, &mdlen, sizeof md))
        goto done;
    if (sms_b64_encode(md, mdlen, out, outlen) < 0)
        goto done;
    rc = GW_OK;
done:
    EVP_MAC_CTX_free(mctx);
    EVP_MAC_free(mac);
    free(sorted);
    return rc;
}

int sms_twilio_verify(const char *auth_token, const char *url, const struct sms_form *params,
                      const char *header)
{
    char want[64];
    if (!header || !*header)
        return GW_EPERM;
    if (sms_twilio_sign(auth_token, url, params, want, sizeof want) != GW_OK)
        return GW_EPERM;
    size_t wl = strlen(want);
    if (strlen(header) != wl)
        return GW_EPERM;
    return CRYPTO_memcmp(want, header, wl) == 0 ? GW_OK : GW_EPERM;
}

int sms_basic_auth_header(const char *user, const char *pass, char *out, size_t outlen)
{
    char up[512];
    int n = snprintf(up, sizeof up, "%s:%s", user ? user : "", pass ? pass : "");
    if (n < 0 || (size_t)n >= sizeof up || outlen < 7)
        return GW_EINVAL;
    memcpy(out, "Basic ", 6);
    int r = sms_b64_encode((const unsigned char *)up, (size_t)n, out + 6, outlen - 6);
    OPENSSL_cleanse(up, sizeof up);
    return r < 0 ? GW_EINVAL : GW_OK;
}

int sms_basic_auth_check(const char *header, const char *user, const char *pass)
{
    if (!header || !user || !pass)
        return GW_EPERM;
    if (strncasecmp(header, "Basic ", 6) != 0)
        return GW_EPERM;
    const char *b = header + 6;
    while (*b == ' ')
        b++;
    size_t blen = strlen(b);
    while (blen && (b[blen - 1] == ' ' || b[blen - 1] == '\t'))
        blen--;
    size_t dl = 0;
    unsigned char *dec = sms_b64_decode(b, blen, 0, &dl);
    if (!dec)
        return GW_EPERM;
    char want[512];
    int n = snprintf(want, sizeof want, "%s:%s", user, pass);
    int ok = n >= 0 && (size_t)n < sizeof want && sms_secret_eq(want, (const char *)dec) &&
             strlen((const char *)dec) == dl;
    OPENSSL_cleanse(want, sizeof want);
    OPENSSL_cleanse(dec, dl);
    free(dec);
    return ok ? GW_OK : GW_EPERM;
}

int sms_secret_eq(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    unsigned char ha[32], hb[32];
    unsigned int la = 0, lb = 0;
    if (!EVP_Digest(a, strlen(a), ha, &la, EVP_sha256(), NULL) ||
        !EVP_Digest(b, strlen(b), hb, &lb, EVP_sha256(), NULL))
        return 0;
    return CRYPTO_memcmp(ha, hb, sizeof ha) == 0;
}

struct net {
    int af;
    unsigned char addr[16];
    int bits;
};

static int parse_net(const char *s, struct net *n, int allow_prefix)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t al = slash ? (size_t)(slash - s) : strlen(s);
    if (al == 0 || al >= sizeof buf || (slash && !allow_prefix))
        return 0;
    memcpy(buf, s, al);
    buf[al] = '\0';
    if (inet_pton(AF_INET, buf, n->addr) == 1) {
        n->af = AF_INET;
        n->bits = 32;
    } else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
        n->af = AF_INET6;
        n->bits = 128;
    } else {
        return 0;
    }
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 3)
            return 0;
        int b = atoi(p);
        if (b > n->bits)
            return 0;
        n->bits = b;
    }
    return 1;
}

int sms_cidr_valid(const char *cidr)
{
    struct net n;
    return cidr && parse_net(cidr, &n, 1);
}

static int in_net(const struct net *peer, const struct net *net)
{
    if (peer->af != net->af)
        return 0;
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(peer->addr, net->addr, (size_t)full) != 0)
        return 0;
    if (rest) {
        unsigned char m = (unsigned char)(0xFF << (8 - rest));
        if ((peer->addr[full] & m) != (net->addr[full] & m))
            return 0;
    }
    return 1;
}

int sms_ip_allowed(const char *peer, const char *const *cidrs, size_t n)
{
    struct net p;
    if (!peer || !parse_net(peer, &p, 0))
        return 0;
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (p.af == AF_INET6 && memcmp(p.addr, v4mapped, 12) == 0) {
        memmove(p.addr, p.addr + 12, 4);
        p.af = AF_INET;
        p.bits = 32;
    }
    for (size_t i = 0; i < n; i++) {
        struct net net;
        if (cidrs[i] && parse_net(cidrs[i], &net, 1) && in_net(&p, &net))
            return 1;
    }
    return 0;
}
