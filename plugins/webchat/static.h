/* static.h — serving the widget's files (widget.js, chat.html, widget.css, i18n/) from a directory.
 */
#ifndef WEB_STATIC_H
#define WEB_STATIC_H

#include <stddef.h>

#include "webchat.h"

/* The Content-Security-Policy sent with chat.html: no inline script, nothing from other
 * origins. */
#define WEB_PAGE_CSP                                                                               \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "                   \
    "frame-ancestors 'none'"

/* 1 if `rel` (a path below the mount without the leading '/') names a file we may serve:
 * 1..128 bytes of [A-Za-z0-9._-] in at most two segments, no segment starting with '.'.
 * Everything else (dot files, "..", odd bytes) is refused before touching the disk. */
int web_static_name_ok(const char *rel);
/* The Content-Type for a file name by its extension, or NULL (not served). */
const char *web_static_type(const char *name);
/* Answer a GET/HEAD for static file `rel` from conf.static_dir ("" = chat.html).
 * `extra` are CORS headers to add (NULL-terminated pairs, may be NULL).  Always answers
 * (200, 304, 404 or 500). */
void web_static_serve(struct web_ctx *x, struct gw_http_req *req, const char *rel,
                      const char *const *extra);

#endif
