/* http_answer.c — the HTTP server's responses: headers checked and completed, and answers
 * held until the turn's commit (gw_http_set_hold, gw_http_release; docs/core.md).  Split from
 * http.c, whose request handling calls gw_http_i_queue_plain. */
#include "io/http.h"
#include "io/http_int.h"
#include "io/loop.h" /* after plugin_api.h (via http.h): see http.h */

#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- responses ---- */

static bool header_ok(const char *name, const char *value)
{
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (*p <= ' ' || *p == ':' || *p == 0x7f)
            return false;
    for (const char *p = value; *p; p++)
        if (*p == '\r' || *p == '\n')
            return false;
    return true;
}

/* Add the handler's headers plus ours.  Returns false on a bad header. */
bool gw_http_i_add_headers(struct MHD_Response *resp, const char *content_type,
                           const char *const *headers)
{
    bool own_cache = false;
    if (content_type && (!header_ok("Content-Type", content_type) ||
                         MHD_add_response_header(resp, "Content-Type", content_type) != MHD_YES))
        return false;
    for (size_t i = 0; headers && headers[i]; i += 2) {
        if (!headers[i + 1] || !header_ok(headers[i], headers[i + 1]) ||
            MHD_add_response_header(resp, headers[i], headers[i + 1]) != MHD_YES)
            return false;
        if (strcasecmp(headers[i], "Cache-Control") == 0)
            own_cache = true;
    }
    if (MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES)
        return false;
    if (!own_cache && MHD_add_response_header(resp, "Cache-Control", "no-store") != MHD_YES)
        return false;
    return true;
}

enum MHD_Result gw_http_i_queue_plain(struct gw_http_req *r, unsigned status, const char *allow)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    const char *hdr[] = {"Allow", allow, NULL};
    gw_http_i_add_headers(resp, NULL, allow ? hdr : NULL);
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->answered = true;
    return ret;
}

int gw_http_req_respond(struct gw_http_req *r, int status, const char *content_type,
                        const char *body, size_t len, const char *const *headers)
{
    if (!r || r->answered || !r->in_handler || status < 200 || status > 599 || (len && !body))
        return GW_EINVAL;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(len ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return GW_ENOMEM;
    if (!gw_http_i_add_headers(resp, content_type, headers)) {
        MHD_destroy_response(resp);
        gw_http_i_hlog(r->h, GW_LOG_WARN, "%s %s: handler set an invalid header", r->method,
                       r->url);
        return GW_EINVAL;
    }
    if (r->h->hold && r->h->hold(r->h->hold_arg)) {
        struct gw_http *h = r->h;
        if (h->nheld == h->capheld) {
            size_t cap = h->capheld ? h->capheld * 2 : 16;
            struct gw_http_req **n = realloc(h->held, cap * sizeof *n);
            if (!n) {
                MHD_destroy_response(resp);
                return GW_ENOMEM;
            }
            h->held = n;
            h->capheld = cap;
        }
        h->held[h->nheld++] = r;
        r->held = resp;
        r->held_status = (unsigned)status;
        r->answered = true;
        MHD_suspend_connection(r->conn); /* on_access queues it after the resume */
        return GW_OK;
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (ret != MHD_YES)
        return GW_EIO;
    r->answered = true;
    return GW_OK;
}

void gw_http_set_hold(struct gw_http *h, int (*hold)(void *arg), void *arg)
{
    h->hold = hold;
    h->hold_arg = arg;
}

int gw_http_in_handler(const struct gw_http *h)
{
    return h && h->in_handler;
}

void gw_http_release(struct gw_http *h, int committed)
{
    if (!h || !h->nheld)
        return;
    /* Resume them all, then one MHD_run(): on_access queues each kept answer. */
    for (size_t i = 0; i < h->nheld; i++) {
        struct gw_http_req *r = h->held[i];
        if (!committed) {
            MHD_destroy_response(r->held);
            static const char msg[] = "storage failure, please retry\n";
            r->held = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg,
                                                      MHD_RESPMEM_PERSISTENT);
            if (r->held)
                gw_http_i_add_headers(r->held, "text/plain; charset=utf-8", NULL);
            r->held_status = MHD_HTTP_SERVICE_UNAVAILABLE;
        }
        MHD_resume_connection(r->conn);
    }
    h->nheld = 0;
    MHD_run(h->d);
    if (h->nheld) /* handlers that ran just now were held again: come back next turn */
        gw_http_i_mhd_kick(h);
}
