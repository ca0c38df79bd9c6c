/* compose.h — build outbound mail with GMime: UTF-8, Message-ID, threading headers, RFC 3834. */
#ifndef MAIL_COMPOSE_H
#define MAIL_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

/* What one outbound mail carries.  All strings borrowed, UTF-8. */
struct mail_out {
    const char *from_addr;      /* required: the service address */
    const char *from_name;      /* display name or NULL */
    const char *reply_to;       /* Reply-To address (local+token@domain) or NULL */
    const char *to;             /* required: recipient address */
    const char *subject;        /* final subject (see mail_reply_subject) */
    const char *in_reply_to;    /* "<id>" or NULL */
    const char *references;     /* "<a> <b> ..." or NULL */
    const char *message_id;     /* "<id>" to use, or NULL to generate one */
    const char *msgid_domain;   /* domain for generated ids (defaults to from_addr's) */
    const char *body;           /* required: text */
    const char *lang;           /* Content-Language or NULL */
    const char *auto_submitted; /* NULL (a person wrote it), "auto-replied", "auto-generated" */
    int64_t date_ms;            /* Date header, unix ms */
};

/* Build an RFC 5322 message with CRLF line ends, ready for SMTP DATA.  The text part is
 * text/plain; charset=utf-8 in quoted-printable (or 7bit when plain ASCII with short
 * lines).  Automatic mail also gets "X-Auto-Response-Suppress: All" so Exchange does not
 * answer it.  g_mime_init() must have been called.
 * Returns the malloc'd message (caller frees) with its length in *len, and the Message-ID
 * ("<id>", malloc'd) in *msgid_out; NULL with err on failure. */
char *mail_compose(const struct mail_out *o, size_t *len, char **msgid_out, char *err,
                   size_t errlen);

/* "Re: <orig>" unless orig already starts with a reply prefix (Re/RE/SV/Sv/AW/VS/Vs/Ynt,
 * also "Re[2]:"); `fallback` when orig is NULL or empty.  Returns malloc'd or NULL. */
char *mail_reply_subject(const char *orig, const char *fallback);

/* A fresh random Message-ID "<hex.hex@domain>".  Returns malloc'd or NULL. */
char *mail_new_message_id(const char *domain);

/* References for a reply: `prev` ("<a> <b>", may be NULL) followed by `id`, keeping the
 * first id and the newest ones so at most `max` ids remain (RFC 5322 suggests trimming
 * the middle).  Returns malloc'd or NULL. */
char *mail_references_add(const char *prev, const char *id, size_t max);

#endif
