/* buf.h — a growable byte buffer for strings the web chat plugin builds (JSON, SSE frames). */
#ifndef WEB_BUF_H
#define WEB_BUF_H

#include <stddef.h>

/* A growable, always NUL-terminated buffer.  Zero-initialise (`struct web_buf b = {0};`)
 * before use.  Errors are sticky: after a failed allocation `oom` is set, further appends
 * are ignored and web_buf_status() returns GW_ENOMEM, so callers check once at the end. */
struct web_buf {
    char *s;    /* contents (NULL until the first append) */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
    int oom;    /* 1 after an allocation failure */
};

/* Append `len` bytes of `data`. */
void web_buf_add(struct web_buf *b, const char *data, size_t len);
/* Append a NUL-terminated string. */
void web_buf_adds(struct web_buf *b, const char *s);
/* Append printf-style formatted text. */
void web_buf_addf(struct web_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* GW_OK, or GW_ENOMEM if any append failed. */
int web_buf_status(const struct web_buf *b);
/* The contents as a string: never NULL ("" when empty).  Borrowed from the buffer. */
const char *web_buf_str(const struct web_buf *b);
/* Forget the contents but keep the allocation. */
void web_buf_reset(struct web_buf *b);
/* Free the contents; the buffer is zeroed and may be reused.  NULL-safe. */
void web_buf_release(struct web_buf *b);

#endif
