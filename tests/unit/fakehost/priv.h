/* priv.h — the fake host's private state, shared by its parts (the .c files in this
 * directory) and by no test: tests include only tests/unit/fakehost.h.  Each part keeps its
 * host API functions static and fills its members of the API table with fh_api_<part>(), so
 * the table is assembled in one place (fakehost_new() in lifecycle.c) without exporting them. */
#ifndef FAKEHOST_PRIV_H
#define FAKEHOST_PRIV_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "fakehost.h"

struct gw_host {
    struct fakehost *fh;
};

struct fh_conv {
    char token[40];
    char *address;
    char state[16];
};

struct fh_kv {
    char *key, *value;
};

struct fh_text {
    char *lang, *key, *text; /* lang NULL = any */
};

struct fh_ref {
    char *ref, *conv;
    enum gw_dlr state;
};

struct fh_idconv {
    int64_t id;
    char *conv;
};

struct fh_hist {
    char *conv, *dir, *body, *state;
    int64_t id, created_ms;
};

struct fh_route {
    char *method, *path;
    gw_http_handler fn;
    void *arg;
};

struct fh_timer {
    uint64_t id, due;
    gw_timer_cb cb;
    void *arg;
    int pending;
};

struct fh_fd {
    int fd;
    unsigned events;
    gw_fd_cb cb;
    void *arg;
};

struct gw_http_stream {
    struct fakehost *fh;
    char *data;
    size_t len;
    int closed;
    gw_stream_closed_cb cb;
    void *arg;
};

struct gw_http_req {
    struct fakehost *fh;
    const char *method, *path, *body, *peer;
    size_t body_len;
    const char *const *headers, *const *query;
    struct fakehost_resp *resp;
    int answered;
};

#define VEC(T) \
    T *v;      \
    size_t n, cap

struct fakehost_priv {
    struct gw_host host;
    struct gw_host_api api;
    const struct gw_plugin *plugin;
    void *self;
    int started;
    int64_t next_msg_id;
    int next_conv;
    uint64_t next_timer, mono_ms;
    struct { VEC(config_t *); } configs;
    struct { VEC(struct fh_conv); } convs;
    struct { VEC(struct fh_kv); } kv;
    struct { VEC(struct fh_text); } texts;
    struct { VEC(struct fh_ref); } refs;
    struct { VEC(struct fh_idconv); } sent;
    struct { VEC(struct fh_hist); } hist;
    struct { VEC(struct fh_route); } routes;
    struct { VEC(struct fh_timer); } timers;
    struct { VEC(struct fh_fd); } fds;
    struct { VEC(struct gw_http_stream *); } streams;
    struct { VEC(char *); } blocked;
    size_t cap_submits, cap_dones, cap_dlrs, cap_events, cap_blocks, cap_logs, cap_cfg_errors,
        cap_fetches;
};

/* ---- small helpers (lifecycle.c; test code: abort on OOM) ---------------------------------- */

void *fh_xgrow(void *p, size_t *cap, size_t n, size_t elsz);
#define PUSH(vec) (*((vec).v = fh_xgrow((vec).v, &(vec).cap, (vec).n, sizeof *(vec).v), &(vec).v[(vec).n++]))
#define RECORD(fh, arr, cnt, capf)                                                         \
    (*((fh)->arr = fh_xgrow((fh)->arr, &(fh)->priv->capf, (fh)->cnt, sizeof *(fh)->arr),     \
       &(fh)->arr[(fh)->cnt++]))
char *fh_xdup(const char *s);
char *fh_xdupn(const char *s, size_t n);
char *fh_xvprintf(const char *fmt, va_list ap);
struct fakehost *fh_of(struct gw_host *h);

/* Ends a stream as the plugin or the client would (http.c); also used when the plugin stops. */
void fh_stream_end(struct gw_http_stream *s);

/* Each part sets its members of the host API table. */
void fh_api_config(struct gw_host_api *api); /* config.c: log, cfg_* */
void fh_api_store(struct gw_host_api *api);  /* store.c: submit side, conversations, texts, kv */
void fh_api_http(struct gw_host_api *api);   /* http.c: routes, requests, answers, streams */
void fh_api_loop(struct gw_host_api *api);   /* loop.c: timers, fds, fetch, clock */

#endif
