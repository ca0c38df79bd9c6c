/* buf.c — growable byte buffer with sticky allocation errors. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_api.h"

static int grow(struct web_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (extra > (size_t)-1 / 2 - b->len) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void web_buf_add(struct web_buf *b, const char *data, size_t len)
{
    if (grow(b, len) < 0)
        return;
    if (len)
        memcpy(b->s + b->len, data, len);
    b->len += len;
    b->s[b->len] = '\0';
}

void web_buf_adds(struct web_buf *b, const char *s)
{
    web_buf_add(b, s, strlen(s));
}

void web_buf_addf(struct web_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if (grow(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int web_buf_status(const struct web_buf *b)
{
    return b->oom ? GW_ENOMEM : GW_OK;
}

const char *web_buf_str(const struct web_buf *b)
{
    return b->s ? b->s : "";
}

void web_buf_reset(struct web_buf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->s)
        b->s[0] = '\0';
}

void web_buf_release(struct web_buf *b)
{
    if (!b)
        return;
    free(b->s);
    memset(b, 0, sizeof(*b));
}
