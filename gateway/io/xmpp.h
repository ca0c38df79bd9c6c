/* xmpp.h — the XEP-0114 component link: connect, reconnect with backoff, send, ack barrier. */
#ifndef GW_XMPP_H
#define GW_XMPP_H

#include <stddef.h>
#include <stdint.h>
#include <strophe.h>

struct gw_loop;
struct gw_xmpp;

struct gw_xmpp_conf {
    const char *host;
    int port;
    const char *domain; /* component domain, e.g. "gw.no.test" */
    const char *secret;
    int reconnect_max_s; /* backoff cap */
};

/* What the link reports to its owner.  Stanza handlers get the stanza (borrowed). */
struct gw_xmpp_handlers {
    void (*online)(void *arg);
    void (*offline)(void *arg);
    void (*message)(void *arg, xmpp_stanza_t *st);
    void (*presence)(void *arg, xmpp_stanza_t *st);
    /* Return 1 when the iq was answered; 0 lets the link answer service-unavailable. */
    int (*iq)(void *arg, xmpp_stanza_t *st);
    /* Every stanza sent before barrier `seq` has been accepted by the server. */
    void (*acked)(void *arg, uint64_t seq);
};

/* Create the link (no I/O).  Strings are copied.  NULL on failure. */
struct gw_xmpp *gw_xmpp_new(struct gw_loop *loop, const struct gw_xmpp_conf *conf,
                            const struct gw_xmpp_handlers *h, void *arg);
/* Start connecting; reconnects by itself from then on. */
int gw_xmpp_start(struct gw_xmpp *x);
/* Close the stream and keep reading until the server has closed its side (at most 1.5 s):
 * the server forwards nothing after it has seen our close (it bounces with an error), and
 * what it forwarded before arrives before its own close, so once that is read nothing sent
 * to us is left unread.  The handlers get those stanzas; nothing is sent after our close
 * (the link counts as offline).  Returns 1 when the server closed the stream, 0 when it
 * did not answer in time or the connection broke, -1 when the link was not up. */
int gw_xmpp_close(struct gw_xmpp *x);
/* Close the stream politely (if gw_xmpp_close() has not) and free.  NULL-safe. */
void gw_xmpp_free(struct gw_xmpp **xp);

/* 1 when the component handshake has completed and the stream is up. */
int gw_xmpp_online(const struct gw_xmpp *x);
xmpp_ctx_t *gw_xmpp_ctx(struct gw_xmpp *x);
const char *gw_xmpp_domain(const struct gw_xmpp *x);
/* A short text describing the link state ("online", "connecting", "backoff 4s: reason"). */
const char *gw_xmpp_state(const struct gw_xmpp *x);
/* Ack barriers sent since start (each one a ping the server must route back: /health). */
uint64_t gw_xmpp_barriers(const struct gw_xmpp *x);

/* Send a stanza or ready XML.  GW_EAGAIN when offline (callers that must not lose it use
 * the outbox). */
int gw_xmpp_send(struct gw_xmpp *x, xmpp_stanza_t *st);
/* `xml` must be NUL-terminated at len: libstrophe 0.12.2's xmpp_send_raw() copies it with
 * strlen() although it takes a length. */
int gw_xmpp_send_raw(struct gw_xmpp *x, const char *xml, size_t len);
/* Write what is queued now rather than at the end of the turn (NULL-safe). */
void gw_xmpp_flush(struct gw_xmpp *x);
/* Ask the server to confirm everything sent so far: a ping the server routes back to our
 * own domain; when it comes back, handlers->acked(seq).  Returns seq (> 0) or 0 offline. */
uint64_t gw_xmpp_barrier(struct gw_xmpp *x);
/* Answer `iq` with an error (type cancel/modify/auth... condition as in RFC 6120). */
void gw_xmpp_iq_error(struct gw_xmpp *x, xmpp_stanza_t *iq, const char *type,
                      const char *condition);
/* Reply to a message/presence with a stanza error (same id, swapped addresses). */
void gw_xmpp_stanza_error(struct gw_xmpp *x, xmpp_stanza_t *st, const char *type,
                          const char *condition, const char *text);
/* Set the software version answered to XEP-0092 and the disco identity name. */
void gw_xmpp_set_identity(struct gw_xmpp *x, const char *name, const char *version);

/* Strip what XML 1.0 forbids (control characters, invalid UTF-8, U+FFFE/FFFF) and cut
 * at max bytes on a character boundary.  Returns a malloc'd string (caller frees). */
char *gw_xml_safe(const char *in, size_t max);
/* Write `in` escaped for XML text or a double-quoted attribute (& < > " ') at `out`, which
 * must have room for 6 * strlen(in) + 1 bytes; returns the end (NUL-terminated there). */
char *gw_xml_escape(char *out, const char *in);

#endif
