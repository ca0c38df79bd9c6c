/* sse.h — Server-Sent Events framing (the web chat's down channel). */
#ifndef WEB_SSE_H
#define WEB_SSE_H

#include <stdint.h>

#include "buf.h"

/* Append one event to `b`:
 *     event: <event>\n  (omitted when event is NULL or "message")
 *     id: <id>\n        (omitted when id <= 0: ephemeral events do not move Last-Event-ID)
 *     data: <line>\n    (one per line of `data`; CR, LF and CRLF all split lines)
 *     \n
 * `event` must not contain CR or LF (GW_EINVAL).  Returns GW_OK, GW_EINVAL or GW_ENOMEM. */
int web_sse_event(struct web_buf *b, const char *event, int64_t id, const char *data);
/* Append a comment line ": <text>\n\n" (a heartbeat that clients ignore); CR/LF in text
 * are replaced by spaces.  Returns GW_OK or GW_ENOMEM. */
int web_sse_comment(struct web_buf *b, const char *text);
/* Append "retry: <ms>\n\n" (the client's reconnect delay).  Returns GW_OK or GW_ENOMEM. */
int web_sse_retry(struct web_buf *b, unsigned ms);
/* Parse a Last-Event-ID header or `after` parameter: a decimal id >= 0.  Returns the id,
 * 0 for NULL/empty, or -1 when malformed. */
int64_t web_sse_parse_id(const char *s);

#endif
