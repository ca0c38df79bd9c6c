/* autoreply.h — tell people from robots (RFC 3834): autoresponders, lists, bounces (RFC 3464). */
#ifndef MAIL_AUTOREPLY_H
#define MAIL_AUTOREPLY_H

#include "mailparse.h"

enum mail_sender_kind {
    MAIL_PERSON = 0, /* a person wrote this */
    MAIL_AUTOREPLY,  /* vacation / out-of-office answer to something we sent */
    MAIL_AUTOMATED,  /* other machine mail: Auto-Submitted, null sender, no-reply senders */
    MAIL_BULK,       /* mailing list, newsletter, Precedence bulk/list/junk */
    MAIL_BOUNCE,     /* delivery status notification or MAILER-DAEMON mail */
};

struct mail_auto_info {
    enum mail_sender_kind kind;
    int no_autoreply;     /* 1: never answer this mail automatically (every robot, and a
                             person's mail carrying X-Auto-Response-Suppress: All/OOF/AutoReply) */
    const char *why;      /* static: which rule decided ("auto-submitted", "list-id", ...) */
    int weak;             /* 1 when only the subject decided ("Automatic reply: ..."): a person
                             may have written it, so such mail must never be dropped */
    /* MAIL_BOUNCE only (malloc'd or NULL): */
    char *failed_rcpt;    /* address that could not be reached (Final-Recipient) */
    char *action;         /* "failed" "delayed" "delivered" "relayed" "expanded" */
    char *status;         /* "5.1.1" */
    char *diagnostic;     /* Diagnostic-Code text */
    int permanent;        /* 1 when Action is failed (or status 5.x.x): stop mailing that address */
};

/* Classify a parsed message.  The rules, first match wins:
 *  bounce: multipart/report with report-type delivery-status, or a MAILER-DAEMON/postmaster
 *          sender;
 *  autoreply: Auto-Submitted: auto-replied, X-Autoreply/X-Autorespond, Precedence:
 *          auto_reply, or (weak) an out-of-office subject prefix in en/nb/nn/da/sv/de
 *          ("Automatic reply:", "Automatisk svar:", "Ude af kontoret:", ...);
 *  bulk:   Precedence bulk/list/junk, List-Id, List-Unsubscribe, List-Post;
 *  automated: any other Auto-Submitted value than "no", empty or missing sender
 *          (Return-Path: <>, no From), no-reply senders.
 * Returns 0, or GW_ENOMEM (out is then released). */
int mail_auto_classify(const struct mail_parsed *p, struct mail_auto_info *out);

/* Parse a message/delivery-status body: the first recipient whose Action is "failed" (else
 * the first recipient at all).  Fills failed_rcpt/action/status/diagnostic/permanent.
 * Returns 0 (also when nothing was found) or GW_ENOMEM. */
int mail_dsn_parse(const char *dsn, struct mail_auto_info *out);

/* Free the strings inside; the struct itself is the caller's.  NULL-safe. */
void mail_auto_info_release(struct mail_auto_info *ai);

/* Name of a kind for logs and meta ("person", "autoreply", "automated", "bulk", "bounce"). */
const char *mail_sender_kind_name(enum mail_sender_kind k);

#endif
