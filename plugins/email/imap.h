/* imap.h — poll one IMAP mailbox by UID with libcurl, crash-safe (store first, then mark). */
#ifndef MAIL_IMAP_H
#define MAIL_IMAP_H

#include <stddef.h>
#include <stdint.h>

#include "xfer.h"

/* What the message callback decided. */
enum mail_imap_verdict {
    MAIL_IMAP_DONE = 0, /* stored (or a duplicate): remember the UID, mark/move the mail */
    MAIL_IMAP_SKIP,     /* will never be stored (unparseable, refused): remember the UID and
                           leave the mail unread and \Flagged for a human */
    MAIL_IMAP_RETRY,    /* temporary failure (storage): stop; the next poll fetches it again */
};

/* Called for each new message, oldest UID first.  raw is borrowed for the call. */
typedef enum mail_imap_verdict (*mail_imap_msg_cb)(void *arg, uint32_t uid, const char *raw,
                                                   size_t len);

struct mail_imap_conf {
    const char *mailbox;    /* "INBOX" (ASCII names only) */
    int move;               /* 0: leave processed mail \Seen in place; 1: move it */
    const char *move_to;    /* target mailbox when move (must exist) */
    uint64_t poll_ms;       /* time between polls */
    size_t max_bytes;       /* larger messages are skipped (left unread and flagged) */
    unsigned batch;         /* messages fetched per poll */
};

struct mail_imap;

/* A poller for `srv` (borrowed: must outlive the poller) and `c` (copied).  State lives in
 * the host's kv store under "imap.uidvalidity" and "imap.last_uid".  NULL on ENOMEM. */
struct mail_imap *mail_imap_new(struct mail_xfers *xs, const struct mail_server *srv,
                                const struct mail_imap_conf *c, mail_imap_msg_cb cb, void *arg);
/* Poll now if idle (and then every poll_ms).  Returns GW_OK. */
int mail_imap_poll(struct mail_imap *im);
/* Cancel the timer and free (a transfer still in flight is freed by mail_xfers_release()).
 * NULL-safe; sets *imp = NULL. */
void mail_imap_free(struct mail_imap **imp);
/* {"imap":"ok"|"error","last_ok_ms":..,"error":".."} into buf; returns 1 when healthy. */
int mail_imap_health(const struct mail_imap *im, char *buf, size_t len);

/* Parsers (exposed for tests). */
/* "* STATUS INBOX (UIDVALIDITY 123 UIDNEXT 45)" -> 0 with both set, else GW_EINVAL. */
int mail_imap_parse_status(const char *resp, uint32_t *uidvalidity, uint32_t *uidnext);
/* "* SEARCH 4 9 7" -> the UIDs > after, ascending, at most max; returns how many. */
size_t mail_imap_parse_search(const char *resp, uint32_t after, uint32_t *out, size_t max);

#endif
