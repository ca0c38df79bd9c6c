/* static.c — static files with an allow-list of names and types, ETag revalidation, CSP. */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_MAX (1024 * 1024) /* our files are a few KiB; refuse anything odd */

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".html", "text/html; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

int web_static_name_ok(const char *rel)
{
    size_t n = strlen(rel);
    if (n == 0 || n > 128)
        return 0;
    int segs = 1;
    int seg_start = 1;
    for (const char *p = rel; *p; p++) {
        char c = *p;
        if (c == '/') {
            if (seg_start || ++segs > 2)
                return 0; /* empty segment or too deep */
            seg_start = 1;
            continue;
        }
        if (seg_start && c == '.')
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
        seg_start = 0;
    }
    return !seg_start;
}

const char *web_static_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

static void not_found(struct web_ctx *x, struct gw_http_req *req)
{
    static const char body[] = "{\"error\":\"not_found\"}";
    x->api->http_respond(req, 404, "application/json", body, sizeof(body) - 1, NULL);
}

void web_static_serve(struct web_ctx *x, struct gw_http_req *req, const char *rel,
                      const char *const *extra)
{
    if (!*rel)
        rel = "chat.html";
    const char *type = web_static_type(rel);
    if (!web_static_name_ok(rel) || !type) {
        not_found(x, req);
        return;
    }
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", x->conf.static_dir, rel);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        not_found(x, req);
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX) {
        if (fd >= 0)
            close(fd);
        not_found(x, req);
        return;
    }
    char etag[64];
    snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%" PRIx64 "\"", (uint64_t)st.st_mtime,
             (uint64_t)st.st_size);

    const char *hdr[24];
    size_t k = 0;
    hdr[k++] = "ETag";
    hdr[k++] = etag;
    /* The embed URL never changes, so revalidate every time (cheap: 304). */
    hdr[k++] = "Cache-Control";
    hdr[k++] = "no-cache";
    if (strcmp(rel, "chat.html") == 0) {
        hdr[k++] = "Content-Security-Policy";
        hdr[k++] = WEB_PAGE_CSP;
        hdr[k++] = "Referrer-Policy";
        hdr[k++] = "no-referrer";
        hdr[k++] = "X-Frame-Options";
        hdr[k++] = "DENY";
    } else {
        /* widget.js and its files are loaded by other sites' pages */
        hdr[k++] = "Cross-Origin-Resource-Policy";
        hdr[k++] = "cross-origin";
    }
    for (size_t i = 0; extra && extra[i] && k + 2 < sizeof(hdr) / sizeof(hdr[0]); i += 2) {
        hdr[k++] = extra[i];
        hdr[k++] = extra[i + 1];
    }
    hdr[k] = NULL;

    const char *inm = x->api->http_header(req, "If-None-Match");
    if (inm && strcmp(inm, etag) == 0) {
        close(fd);
        x->api->http_respond(req, 304, NULL, "", 0, hdr);
        return;
    }
    char *body = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (body && got < (size_t)st.st_size) {
        ssize_t r = read(fd, body + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!body || got != (size_t)st.st_size) {
        free(body);
        static const char e[] = "{\"error\":\"internal\"}";
        x->api->http_respond(req, 500, "application/json", e, sizeof(e) - 1, NULL);
        return;
    }
    int head = strcmp(x->api->http_method(req), "HEAD") == 0;
    x->api->http_respond(req, 200, type, body, head ? 0 : got, hdr);
    free(body);
}
