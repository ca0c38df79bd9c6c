/* http.c — the fake host's HTTP side: routes, running a request through them
 * (fakehost_http), answers and streams. */

#include "priv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- HTTP ------------------------------------------------------------------------------ */

static int fh_http_route(struct gw_host *h, const char *method, const char *path,
                         gw_http_handler fn, void *arg)
{
    if (!path || !fn)
        return GW_EINVAL;
    struct fh_route *r = &PUSH(fh_of(h)->priv->routes);
    r->method = fh_xdup(method);
    r->path = fh_xdup(path);
    r->fn = fn;
    r->arg = arg;
    return GW_OK;
}

static const char *pair_get(const char *const *list, const char *name, int nocase)
{
    for (size_t i = 0; list && list[i] && list[i + 1]; i += 2)
        if (nocase ? !strcasecmp(list[i], name) : !strcmp(list[i], name))
            return list[i + 1];
    return NULL;
}

static const char *fh_http_method(struct gw_http_req *r) { return r->method; }
static const char *fh_http_path(struct gw_http_req *r) { return r->path; }
static const char *fh_http_peer(struct gw_http_req *r) { return r->peer; }

static const char *fh_http_header(struct gw_http_req *r, const char *name)
{
    return pair_get(r->headers, name, 1);
}

static const char *fh_http_query(struct gw_http_req *r, const char *name)
{
    return pair_get(r->query, name, 0);
}

static const char *fh_http_body(struct gw_http_req *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    return r->body;
}

static char **copy_pairs(const char *const *headers)
{
    size_t n = 0;
    while (headers && headers[n])
        n++;
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        abort();
    for (size_t i = 0; i < n; i++)
        v[i] = fh_xdup(headers[i]);
    return v;
}

static int fh_http_respond(struct gw_http_req *r, int status, const char *content_type,
                           const char *body, size_t len, const char *const *headers)
{
    if (r->answered)
        return GW_EINVAL;
    r->answered = 1;
    struct fakehost_resp *o = r->resp;
    o->status = status;
    o->content_type = fh_xdup(content_type);
    o->body = fh_xdupn(body ? body : "", body ? len : 0);
    o->len = body ? len : 0;
    free(o->headers);
    o->headers = copy_pairs(headers);
    return GW_OK;
}

static struct gw_http_stream *fh_http_stream_open(struct gw_http_req *r, const char *content_type,
                                                  const char *const *headers,
                                                  gw_stream_closed_cb closed, void *arg)
{
    if (r->answered)
        return NULL;
    r->answered = 1;
    struct gw_http_stream *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->data = fh_xdupn("", 0);
    s->cb = closed;
    s->arg = arg;
    struct fakehost_resp *o = r->resp;
    s->fh = r->fh;
    o->stream = s;
    o->status = 200;
    o->content_type = fh_xdup(content_type);
    free(o->headers);
    o->headers = copy_pairs(headers);
    PUSH(s->fh->priv->streams) = s;
    return s;
}

static int fh_http_stream_write(struct gw_http_stream *s, const char *data, size_t len)
{
    if (s->closed)
        return GW_EIO;
    char *d = realloc(s->data, s->len + len + 1);
    if (!d)
        abort();
    memcpy(d + s->len, data, len);
    s->len += len;
    d[s->len] = '\0';
    s->data = d;
    return GW_OK;
}

void fh_stream_end(struct gw_http_stream *s)
{
    if (s->closed)
        return;
    s->closed = 1;
    if (s->cb)
        s->cb(s->arg, s);
}

static void fh_http_stream_close(struct gw_http_stream *s) { fh_stream_end(s); }

void fakehost_stream_drop(struct gw_http_stream *s) { fh_stream_end(s); }

const char *fakehost_stream_data(const struct gw_http_stream *s, size_t *len)
{
    if (len)
        *len = s->len;
    return s->data;
}

int fakehost_stream_closed(const struct gw_http_stream *s) { return s->closed; }

int fakehost_http_len(struct fakehost *fh, const char *method, const char *path,
                      const char *const *headers, const char *const *query, const char *body,
                      size_t body_len, const char *peer, struct fakehost_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    const struct fh_route *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < fh->priv->routes.n; i++) {
        const struct fh_route *r = &fh->priv->routes.v[i];
        if (r->method && strcmp(r->method, method))
            continue;
        size_t pl = strlen(r->path);
        if (pl && r->path[pl - 1] == '*') {
            if (!strncmp(path, r->path, pl - 1) && (!best || (best_len != (size_t)-1 &&
                                                              pl - 1 > best_len))) {
                best = r;
                best_len = pl - 1;
            }
        } else if (!strcmp(path, r->path)) {
            best = r;
            best_len = (size_t)-1; /* exact beats any prefix */
            break;
        }
    }
    if (!best) {
        resp->status = 404;
        resp->body = fh_xdupn("", 0);
        resp->headers = copy_pairs(NULL);
        return 404;
    }
    struct gw_http_req req = {
        .fh = fh,
        .method = method,
        .path = path,
        .body = body ? body : "",
        .body_len = body ? body_len : 0,
        .peer = peer ? peer : "127.0.0.1",
        .headers = headers,
        .query = query,
        .resp = resp,
    };
    best->fn(best->arg, &req);
    if (!resp->body)
        resp->body = fh_xdupn("", 0);
    if (!resp->headers)
        resp->headers = copy_pairs(NULL);
    return resp->status;
}

int fakehost_http(struct fakehost *fh, const char *method, const char *path,
                  const char *const *headers, const char *const *query, const char *body,
                  const char *peer, struct fakehost_resp *resp)
{
    return fakehost_http_len(fh, method, path, headers, query, body, body ? strlen(body) : 0,
                             peer, resp);
}

const char *fakehost_resp_header(const struct fakehost_resp *r, const char *name)
{
    return pair_get((const char *const *)r->headers, name, 1);
}

void fakehost_resp_free(struct fakehost_resp *r)
{
    if (!r)
        return;
    free(r->content_type);
    free(r->body);
    for (size_t i = 0; r->headers && r->headers[i]; i++)
        free(r->headers[i]);
    free(r->headers);
    memset(r, 0, sizeof *r); /* the stream itself is owned by the fake host */
}

void fh_api_http(struct gw_host_api *api)
{
    api->http_route = fh_http_route;
    api->http_method = fh_http_method;
    api->http_path = fh_http_path;
    api->http_header = fh_http_header;
    api->http_query = fh_http_query;
    api->http_body = fh_http_body;
    api->http_peer = fh_http_peer;
    api->http_respond = fh_http_respond;
    api->http_stream_open = fh_http_stream_open;
    api->http_stream_write = fh_http_stream_write;
    api->http_stream_close = fh_http_stream_close;
}
