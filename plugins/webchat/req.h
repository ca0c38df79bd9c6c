/* req.h — parse and validate the JSON bodies of the web chat API (jansson). */
#ifndef WEB_REQ_H
#define WEB_REQ_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define WEB_CID_MAX 64
#define WEB_ACK_MAX 100

/* Every parser returns GW_OK, GW_EINVAL (malformed; `code` names the problem, e.g.
 * "text_missing"), or GW_ELIMIT (a length limit; code "too_long").  `code` is a short
 * machine-readable token the widget maps to a text in the seeker's language; it is always
 * set on failure (codelen >= 32 is enough). */

/* POST session: {"lang":"nb","queue":"general","fields":{"topic":"work"}}; all optional. */
struct web_req_start {
    char lang[3];   /* a configured language (the default when absent or unknown) */
    char queue[64]; /* a configured queue (the default when absent) */
    json_t *fields; /* validated pre-chat answers (owned; an object, maybe empty) */
};
int web_req_start(const struct web_conf *c, const char *body, size_t len, struct web_req_start *out,
                  char *code, size_t codelen);
/* Free what *r owns.  NULL-safe. */
void web_req_start_release(struct web_req_start *r);

/* POST message: {"text":"...","cid":"c-123"}.  text: 1..max_chars characters, not only
 * white space.  cid (optional, [A-Za-z0-9_-]{1,64}) makes retries idempotent. */
struct web_req_message {
    char *text;                /* owned */
    char cid[WEB_CID_MAX + 1]; /* "" when absent */
};
int web_req_message(const struct web_conf *c, const char *body, size_t len,
                    struct web_req_message *out, char *code, size_t codelen);
void web_req_message_release(struct web_req_message *r);

/* POST typing: {"state":"composing"|"paused"}.  *composing = 1 or 0. */
int web_req_typing(const char *body, size_t len, int *composing, char *code, size_t codelen);

/* POST feedback: {"rating":1..5,"comment":"..."} (comment optional, <= 2000 characters).
 * *comment is owned (NULL when absent or empty). */
int web_req_feedback(const char *body, size_t len, int *rating, char **comment, char *code,
                     size_t codelen);

/* POST transcript-email: {"address":"kari@example.no"} (a plausible single address,
 * <= 254 bytes).  *address is owned. */
int web_req_email(const char *body, size_t len, char **address, char *code, size_t codelen);

/* POST ack: {"ids":[12,13]} (1..WEB_ACK_MAX positive ids).  Writes up to `max` ids. */
int web_req_ack(const char *body, size_t len, int64_t *ids, size_t max, size_t *n, char *code,
                size_t codelen);

/* Number of Unicode code points in a valid UTF-8 string. */
size_t web_utf8_len(const char *s);

#endif
