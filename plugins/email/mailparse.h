/* mailparse.h — parse one RFC 5322 message with GMime into the facts the email channel uses. */
#ifndef MAIL_MAILPARSE_H
#define MAIL_MAILPARSE_H

#include <stddef.h>

#include "charset.h"
#include "html.h"

/* An attachment as the counsellor sees it: never forwarded, only named. */
struct mail_attachment {
    char *name; /* filename (RFC 2231/2047 decoded) or "" */
    char *type; /* "application/pdf" */
    size_t size; /* decoded bytes */
};

struct mail_header {
    char *name;
    char *value; /* unfolded, RFC 2047 decoded */
};

/* Everything is UTF-8 and malloc'd; strings are "" rather than NULL unless noted. */
struct mail_parsed {
    char *from_addr;  /* first From mailbox address, "" when missing */
    char *from_name;  /* its display name or "" */
    char *reply_to;   /* first Reply-To address or NULL */
    char **rcpts;     /* addresses from To, Cc, Delivered-To, X-Original-To, Envelope-To */
    size_t n_rcpts;
    char *subject;    /* decoded */
    char *message_id; /* "<id@host>" or NULL when the message has none */
    char *in_reply_to; /* "<id>" or NULL */
    char **references; /* "<id>" each, oldest first */
    size_t n_references;
    char *lang;       /* Content-Language value or NULL */
    char *text;       /* the body as text: text/plain preferred, else HTML converted; full,
                         quotes included; LF line ends; footnote markers "[n]" when HTML */
    int from_html;    /* text came from HTML */
    struct mail_links links; /* footnote targets for the markers in text */
    struct mail_attachment *att;
    size_t n_att;
    struct mail_header *headers; /* top-level headers, in order */
    size_t n_headers;
    /* multipart/report (RFC 3464/6522) */
    char *report_type;         /* "delivery-status" ..., or NULL when not a report */
    char *dsn_text;            /* the message/delivery-status part, or NULL */
    char *dsn_orig_message_id; /* Message-ID of the returned message ("<id>"), or NULL */
};

/* Parse `len` bytes of a raw message (CRLF or LF).  g_mime_init() must have been called.
 * Bad input still yields a result (GMime is forgiving); failure is only for no memory or
 * an empty input.  On success *out is owned by the caller (mail_parsed_free).
 * Returns 0 or GW_EINVAL/GW_ENOMEM (-1/-2) with detail in err. */
int mail_parse(const char *raw, size_t len, struct mail_parsed **out, char *err, size_t errlen);

/* The first top-level header `name` (case-insensitive), or NULL.  Borrowed from p. */
const char *mail_parsed_header(const struct mail_parsed *p, const char *name);

/* Free a parse result and set *pp = NULL; NULL-safe. */
void mail_parsed_free(struct mail_parsed **pp);

/* "<id>" form of a message id given with or without brackets (malloc'd), NULL for "". */
char *mail_msgid_canon(const char *id);

#endif
