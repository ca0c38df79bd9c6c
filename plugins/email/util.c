/* util.c — growable string buffer and small string helpers for the email plugin. */
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int buf_grow(struct mail_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *n = realloc(b->s, cap);
    if (!n) {
        b->oom = 1;
        return -1;
    }
    b->s = n;
    b->cap = cap;
    return 0;
}

void mail_buf_add(struct mail_buf *b, const char *p, size_t n)
{
    if (buf_grow(b, n) < 0)
        return;
    if (n)
        memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void mail_buf_adds(struct mail_buf *b, const char *s)
{
    if (s)
        mail_buf_add(b, s, strlen(s));
}

void mail_buf_addc(struct mail_buf *b, char c)
{
    mail_buf_add(b, &c, 1);
}

void mail_buf_addf(struct mail_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_grow(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void mail_buf_rtrim(struct mail_buf *b, const char *set)
{
    while (b->len && strchr(set, b->s[b->len - 1]))
        b->s[--b->len] = '\0';
}

char *mail_buf_detach(struct mail_buf *b)
{
    if (b->oom) {
        mail_buf_release(b);
        return NULL;
    }
    char *s = b->s ? b->s : strdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

void mail_buf_release(struct mail_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

const char *mail_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    if (s && strncasecmp(s, prefix, n) == 0)
        return s + n;
    return NULL;
}

char *mail_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void mail_freep(char **p)
{
    if (p) {
        free(*p);
        *p = NULL;
    }
}

char *mail_lower(char *s)
{
    for (char *p = s; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

char *mail_subst(const char *tmpl, const char *name, const char *value)
{
    struct mail_buf b = {0};
    char key[64];
    int kn = snprintf(key, sizeof key, "{%s}", name);
    if (kn < 0 || (size_t)kn >= sizeof key)
        return NULL;
    const char *p = tmpl;
    for (;;) {
        const char *hit = strstr(p, key);
        if (!hit) {
            mail_buf_adds(&b, p);
            break;
        }
        mail_buf_add(&b, p, (size_t)(hit - p));
        mail_buf_adds(&b, value ? value : "");
        p = hit + kn;
    }
    return mail_buf_detach(&b);
}
