/* imap.c — the IMAP poll cycle: UID SEARCH, FETCH by UID, then mark or move.
 *
 * Each poll is one UID SEARCH on the (kept) connection with the mailbox selected; the URL
 * carries ;UIDVALIDITY=, so curl re-selects and fails with CURLE_REMOTE_FILE_NOT_FOUND when
 * the mailbox was recreated.  STATUS is only used to learn UIDVALIDITY (first start, after
 * such a change), on a fresh connection: a STATUS on the selected mailbox may answer from
 * a stale view (Dovecot says "[CLIENTBUG] Status on selected mailbox").
 *
 * Crash safety: the last processed UID is written to the kv store only after the message
 * callback (api->submit) said it is stored, and the mail is marked/moved only after that.
 * A crash in between means the message is fetched again and the core's dedup by
 * Message-ID absorbs it.  curl fetches with BODY[] (which sets \Seen); a message that could
 * not be stored gets its \Seen flag taken back, so the UID stays the source of truth. */
#include "imap.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum step { IDLE, STATUS, SEARCH, FETCH, MARK };

struct mail_imap {
    struct mail_xfers *xs;
    const struct mail_server *srv;
    char *mailbox, *mailbox_url, *move_to;
    int move;
    uint64_t poll_ms;
    size_t max_bytes;
    unsigned batch;
    mail_imap_msg_cb cb;
    void *arg;

    enum step step;
    uint64_t timer;
    uint32_t uidvalidity, last_uid;
    int rescan;          /* first sync or UIDVALIDITY changed: search UNSEEN/ALL */
    uint32_t *uids;
    size_t nuids, next;  /* the UIDs of this cycle and the one being worked on */
    /* health */
    int64_t last_ok_ms;
    char error[160];
    int failing;
};

static const struct gw_host_api *API(struct mail_imap *im)
{
    return im->xs->api;
}

#define LOG(im, lvl, ...) API(im)->log((im)->xs->h, lvl, __VA_ARGS__)

int mail_imap_parse_status(const char *resp, uint32_t *uidvalidity, uint32_t *uidnext)
{
    const char *v = resp ? strstr(resp, "UIDVALIDITY ") : NULL;
    const char *n = resp ? strstr(resp, "UIDNEXT ") : NULL;
    if (!v || !n)
        return GW_EINVAL;
    char *end;
    unsigned long a = strtoul(v + 12, &end, 10);
    if (end == v + 12 || a == 0 || a > UINT32_MAX)
        return GW_EINVAL;
    unsigned long b = strtoul(n + 8, &end, 10);
    if (end == n + 8 || b > UINT32_MAX)
        return GW_EINVAL;
    *uidvalidity = (uint32_t)a;
    *uidnext = (uint32_t)b;
    return GW_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

size_t mail_imap_parse_search(const char *resp, uint32_t after, uint32_t *out, size_t max)
{
    size_t n = 0, cap = 64;
    uint32_t *all = malloc(cap * sizeof *all);
    if (!all)
        return 0;
    for (const char *l = resp; l && *l;) {
        if (strncmp(l, "* SEARCH", 8) == 0) {
            const char *p = l + 8;
            for (;;) {
                while (*p == ' ')
                    p++;
                char *end;
                unsigned long u = strtoul(p, &end, 10);
                if (end == p)
                    break;
                p = end;
                if (u <= after || u > UINT32_MAX)
                    continue;
                if (n == cap) {
                    uint32_t *t = realloc(all, cap * 2 * sizeof *t);
                    if (!t)
                        break;
                    all = t;
                    cap *= 2;
                }
                all[n++] = (uint32_t)u;
            }
        }
        l = strchr(l, '\n');
        if (l)
            l++;
    }
    qsort(all, n, sizeof *all, cmp_u32);
    size_t k = 0;
    for (size_t i = 0; i < n && k < max; i++)
        if (!k || out[k - 1] != all[i])
            out[k++] = all[i];
    free(all);
    return k;
}

static void load_state(struct mail_imap *im)
{
    char *v = API(im)->kv_get(im->xs->h, "imap.uidvalidity");
    char *l = API(im)->kv_get(im->xs->h, "imap.last_uid");
    im->uidvalidity = v ? (uint32_t)strtoul(v, NULL, 10) : 0;
    im->last_uid = l ? (uint32_t)strtoul(l, NULL, 10) : 0;
    free(v);
    free(l);
}

static int save_uid(struct mail_imap *im, uint32_t uid)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%" PRIu32, uid);
    int rc = API(im)->kv_set(im->xs->h, "imap.last_uid", buf);
    if (rc == GW_OK)
        im->last_uid = uid;
    return rc;
}

static void on_timer(void *arg);

static void schedule(struct mail_imap *im, uint64_t ms)
{
    if (im->timer)
        API(im)->timer_cancel(im->xs->h, im->timer);
    im->timer = API(im)->timer_add(im->xs->h, ms, on_timer, im);
}

static void cycle_end(struct mail_imap *im, int ok, const char *why)
{
    im->step = IDLE;
    free(im->uids);
    im->uids = NULL;
    im->nuids = im->next = 0;
    if (ok) {
        im->last_ok_ms = API(im)->now_ms(im->xs->h);
        if (im->failing)
            LOG(im, GW_LOG_INFO, "IMAP works again");
        im->failing = 0;
        im->error[0] = '\0';
    } else {
        /* log a failure streak once, not every poll */
        if (!im->failing || strcmp(im->error, why) != 0)
            LOG(im, GW_LOG_WARN, "IMAP poll failed: %s", why);
        im->failing = 1;
        snprintf(im->error, sizeof im->error, "%s", why);
    }
    schedule(im, im->poll_ms);
}

static void fail_curl(struct mail_imap *im, const char *what, int code)
{
    char why[160];
    snprintf(why, sizeof why, "%s: %s", what, curl_easy_strerror((CURLcode)code));
    cycle_end(im, 0, why);
}

static struct mail_xfer *xfer(struct mail_imap *im, const char *path, const char *custom)
{
    char url[1024];
    int n = snprintf(url, sizeof url, "%s/%s", im->srv->url, path);
    if (n < 0 || (size_t)n >= sizeof url)
        return NULL;
    struct mail_xfer *x = mail_xfer_new(im->xs, im->srv, url, "imap,imaps");
    if (x && custom)
        curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, custom);
    return x;
}

static void start(struct mail_imap *im, struct mail_xfer *x, mail_xfer_done done)
{
    if (!x) {
        cycle_end(im, 0, "out of memory");
        return;
    }
    if (mail_xfer_start(x, done, im) != GW_OK)
        cycle_end(im, 0, "cannot start transfer");
}

static void fetch_next(struct mail_imap *im);

static void on_mark(void *arg, struct mail_xfer *x, int code)
{
    struct mail_imap *im = arg;
    mail_xfer_free(&x);
    if (code == CURLE_ABORTED_BY_CALLBACK) {
        im->step = IDLE;
        return;
    }
    if (code != CURLE_OK) /* the message is stored; a missing mark only costs a re-read */
        LOG(im, GW_LOG_WARN, "IMAP mark/move failed: %s", curl_easy_strerror((CURLcode)code));
    im->next++;
    fetch_next(im);
}

static void mark(struct mail_imap *im, uint32_t uid, enum mail_imap_verdict v)
{
    char cmd[300];
    if (v == MAIL_IMAP_DONE && im->move)
        snprintf(cmd, sizeof cmd, "UID MOVE %" PRIu32 " \"%s\"", uid, im->move_to);
    else if (v == MAIL_IMAP_DONE)
        snprintf(cmd, sizeof cmd, "UID STORE %" PRIu32 " +FLAGS.SILENT (\\Seen)", uid);
    else if (v == MAIL_IMAP_SKIP)
        snprintf(cmd, sizeof cmd, "UID STORE %" PRIu32 " FLAGS.SILENT (\\Flagged)", uid);
    else
        snprintf(cmd, sizeof cmd, "UID STORE %" PRIu32 " -FLAGS.SILENT (\\Seen)", uid);
    im->step = MARK;
    start(im, xfer(im, im->mailbox_url, cmd), on_mark);
}

static void on_fetch(void *arg, struct mail_xfer *x, int code)
{
    struct mail_imap *im = arg;
    uint32_t uid = im->uids[im->next];
    if (code == CURLE_ABORTED_BY_CALLBACK) {
        mail_xfer_free(&x);
        im->step = IDLE;
        return;
    }
    enum mail_imap_verdict v;
    if (code == CURLE_WRITE_ERROR && x->too_big) {
        LOG(im, GW_LOG_WARN, "IMAP UID %" PRIu32 " is larger than %zu bytes: left for a human",
            uid, im->max_bytes);
        v = MAIL_IMAP_SKIP;
    } else if (code == CURLE_REMOTE_FILE_NOT_FOUND) {
        mail_xfer_free(&x);
        cycle_end(im, 0, "UIDVALIDITY changed during the poll");
        return;
    } else if (code != CURLE_OK) {
        mail_xfer_free(&x);
        fail_curl(im, "FETCH", code);
        return;
    } else if (x->resp.len == 0) {
        /* expunged between SEARCH and FETCH */
        mail_xfer_free(&x);
        if (save_uid(im, uid) != GW_OK) {
            cycle_end(im, 0, "cannot store the last UID");
            return;
        }
        im->next++;
        fetch_next(im);
        return;
    } else {
        v = im->cb(im->arg, uid, x->resp.s, x->resp.len);
    }
    mail_xfer_free(&x);
    if (v == MAIL_IMAP_RETRY) {
        /* give the \Seen flag back, then stop until the next poll */
        im->nuids = im->next + 1;
        mark(im, uid, v);
        return;
    }
    if (save_uid(im, uid) != GW_OK) {
        cycle_end(im, 0, "cannot store the last UID");
        return;
    }
    mark(im, uid, v);
}

static void fetch_next(struct mail_imap *im)
{
    if (im->next >= im->nuids) {
        int retry_stop = im->uids && im->nuids && im->last_uid < im->uids[im->nuids - 1];
        cycle_end(im, !retry_stop, "a message could not be stored yet");
        return;
    }
    char path[600];
    snprintf(path, sizeof path, "%s;UIDVALIDITY=%" PRIu32 "/;UID=%" PRIu32, im->mailbox_url,
             im->uidvalidity, im->uids[im->next]);
    struct mail_xfer *x = xfer(im, path, NULL);
    if (x)
        x->max = im->max_bytes;
    im->step = FETCH;
    start(im, x, on_fetch);
}

static void status(struct mail_imap *im);

static void on_search(void *arg, struct mail_xfer *x, int code)
{
    struct mail_imap *im = arg;
    if (code == CURLE_ABORTED_BY_CALLBACK) {
        mail_xfer_free(&x);
        im->step = IDLE;
        return;
    }
    if (code == CURLE_REMOTE_FILE_NOT_FOUND && !im->rescan) {
        /* UIDVALIDITY is not what we stored: learn the new one */
        mail_xfer_free(&x);
        status(im);
        return;
    }
    if (code != CURLE_OK) {
        mail_xfer_free(&x);
        fail_curl(im, "SEARCH", code);
        return;
    }
    im->uids = calloc(im->batch ? im->batch : 1, sizeof *im->uids);
    if (!im->uids) {
        mail_xfer_free(&x);
        cycle_end(im, 0, "out of memory");
        return;
    }
    im->nuids = mail_imap_parse_search(x->resp.s, im->last_uid, im->uids, im->batch);
    im->next = 0;
    mail_xfer_free(&x);
    im->rescan = 0;
    fetch_next(im);
}

static void search(struct mail_imap *im)
{
    char cmd[64], path[600];
    if (im->rescan)
        snprintf(cmd, sizeof cmd, "UID SEARCH %s", im->move ? "ALL" : "UNSEEN");
    else
        snprintf(cmd, sizeof cmd, "UID SEARCH UID %" PRIu32 ":*", im->last_uid + 1);
    snprintf(path, sizeof path, "%s;UIDVALIDITY=%" PRIu32, im->mailbox_url, im->uidvalidity);
    im->step = SEARCH;
    start(im, xfer(im, path, cmd), on_search);
}

static void on_status(void *arg, struct mail_xfer *x, int code)
{
    struct mail_imap *im = arg;
    if (code == CURLE_ABORTED_BY_CALLBACK) {
        mail_xfer_free(&x);
        im->step = IDLE;
        return;
    }
    if (code != CURLE_OK) {
        mail_xfer_free(&x);
        fail_curl(im, "STATUS", code);
        return;
    }
    uint32_t validity, uidnext;
    int rc = mail_imap_parse_status(x->resp.s, &validity, &uidnext);
    mail_xfer_free(&x);
    if (rc != GW_OK) {
        cycle_end(im, 0, "unexpected STATUS answer");
        return;
    }
    load_state(im);
    if (validity != im->uidvalidity) {
        /* new mailbox (or recreated): UIDs start over; look at what is unread */
        if (im->uidvalidity)
            LOG(im, GW_LOG_WARN, "IMAP UIDVALIDITY changed (%" PRIu32 " -> %" PRIu32 "): "
                                 "rescanning unread mail",
                im->uidvalidity, validity);
        char buf[16];
        snprintf(buf, sizeof buf, "%" PRIu32, validity);
        if (API(im)->kv_set(im->xs->h, "imap.uidvalidity", buf) != GW_OK ||
            save_uid(im, 0) != GW_OK) {
            cycle_end(im, 0, "cannot store the IMAP state");
            return;
        }
        im->uidvalidity = validity;
        im->rescan = 1;
    }
    (void)uidnext;
    search(im);
}

static void status(struct mail_imap *im)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "STATUS \"%s\" (UIDVALIDITY UIDNEXT)", im->mailbox);
    struct mail_xfer *x = xfer(im, "", cmd);
    if (x) { /* never on a connection that has the mailbox selected (see the top) */
        curl_easy_setopt(x->easy, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(x->easy, CURLOPT_FORBID_REUSE, 1L);
    }
    im->step = STATUS;
    start(im, x, on_status);
}

int mail_imap_poll(struct mail_imap *im)
{
    if (im->step != IDLE)
        return GW_OK;
    if (im->timer) {
        API(im)->timer_cancel(im->xs->h, im->timer);
        im->timer = 0;
    }
    load_state(im);
    if (!im->uidvalidity)
        status(im);
    else
        search(im);
    return GW_OK;
}

static void on_timer(void *arg)
{
    struct mail_imap *im = arg;
    im->timer = 0;
    mail_imap_poll(im);
}

struct mail_imap *mail_imap_new(struct mail_xfers *xs, const struct mail_server *srv,
                                const struct mail_imap_conf *c, mail_imap_msg_cb cb, void *arg)
{
    struct mail_imap *im = calloc(1, sizeof *im);
    if (!im)
        return NULL;
    im->xs = xs;
    im->srv = srv;
    im->mailbox = strdup(c->mailbox ? c->mailbox : "INBOX");
    im->move_to = strdup(c->move_to ? c->move_to : "");
    im->mailbox_url = im->mailbox ? curl_easy_escape(NULL, im->mailbox, 0) : NULL;
    im->move = c->move;
    im->poll_ms = c->poll_ms ? c->poll_ms : 60000;
    im->max_bytes = c->max_bytes;
    im->batch = c->batch ? c->batch : 20;
    im->cb = cb;
    im->arg = arg;
    if (!im->mailbox || !im->move_to || !im->mailbox_url) {
        mail_imap_free(&im);
        return NULL;
    }
    return im;
}

void mail_imap_free(struct mail_imap **imp)
{
    if (!imp || !*imp)
        return;
    struct mail_imap *im = *imp;
    if (im->timer)
        API(im)->timer_cancel(im->xs->h, im->timer);
    free(im->mailbox);
    free(im->move_to);
    if (im->mailbox_url)
        curl_free(im->mailbox_url);
    free(im->uids);
    free(im);
    *imp = NULL;
}

int mail_imap_health(const struct mail_imap *im, char *buf, size_t len)
{
    int ok = !im->failing;
    snprintf(buf, len, "{\"imap\":\"%s\",\"last_ok_ms\":%" PRId64 ",\"last_uid\":%" PRIu32 "}",
             ok ? "ok" : "error", im->last_ok_ms, im->last_uid);
    return ok;
}
