/* smtp.h — send one composed mail with libcurl SMTP (STARTTLS, AUTH) on the core loop. */
#ifndef MAIL_SMTP_H
#define MAIL_SMTP_H

#include <stddef.h>

#include "xfer.h"

/* Result of a send: status is GW_OK, GW_EAGAIN (try again later: connection, timeout, 4xx,
 * login) or GW_EPERM (the server refused the sender/recipient/content with 5xx);
 * `reason` is a short text for logs and the counsellor ("SMTP 550"), never NULL. */
typedef void (*mail_smtp_done)(void *arg, int status, const char *reason);

/* Send `data` (len bytes, CRLF, ownership taken in every case) from envelope sender
 * `mail_from` to `rcpt` through `srv`.  `done` runs once, later, from the loop.
 * Returns GW_OK (done will run) or an error (done will not run). */
int mail_smtp_send(struct mail_xfers *xs, const struct mail_server *srv, const char *mail_from,
                   const char *rcpt, char *data, size_t len, mail_smtp_done done, void *arg);

/* Map a finished transfer to GW_OK/GW_EAGAIN/GW_EPERM and a reason (tests use it). */
int mail_smtp_classify(int curl_code, long smtp_code, char *reason, size_t len);

#endif
