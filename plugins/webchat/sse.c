/* sse.c — Server-Sent Events framing per the WHATWG HTML "server-sent events" section. */
#include "sse.h"

#include <inttypes.h>
#include <string.h>

#include "plugin_api.h"

int web_sse_event(struct web_buf *b, const char *event, int64_t id, const char *data)
{
    if (event && strpbrk(event, "\r\n"))
        return GW_EINVAL;
    if (event && strcmp(event, "message") != 0)
        web_buf_addf(b, "event: %s\n", event);
    if (id > 0)
        web_buf_addf(b, "id: %" PRId64 "\n", id);
    const char *p = data ? data : "";
    for (;;) {
        size_t n = strcspn(p, "\r\n");
        web_buf_adds(b, "data: ");
        web_buf_add(b, p, n);
        web_buf_add(b, "\n", 1);
        p += n;
        if (!*p)
            break;
        if (p[0] == '\r' && p[1] == '\n')
            p += 2;
        else
            p += 1;
    }
    web_buf_add(b, "\n", 1);
    return web_buf_status(b);
}

int web_sse_comment(struct web_buf *b, const char *text)
{
    web_buf_adds(b, ": ");
    for (const char *p = text ? text : ""; *p; p++)
        web_buf_add(b, (*p == '\r' || *p == '\n') ? " " : p, 1);
    web_buf_adds(b, "\n\n");
    return web_buf_status(b);
}

int web_sse_retry(struct web_buf *b, unsigned ms)
{
    web_buf_addf(b, "retry: %u\n\n", ms);
    return web_buf_status(b);
}

int64_t web_sse_parse_id(const char *s)
{
    if (!s || !*s)
        return 0;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || p - s >= 18)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}
