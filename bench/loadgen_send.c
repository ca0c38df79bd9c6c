/* loadgen_send.c — what the load generator sends: counsellor c2s logins (blocking, before the
 * loop) and their replies, the seeker side's HTTP connections and POSTs.  Each timed message
 * records its send time in G.t_sent. */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loadgen.h"

/* --- blocking set-up of a c2s client --- */

static void read_until(int fd, char *buf, size_t *len, const char *needle)
{
    for (;;) {
        buf[*len] = 0;
        if (strstr(buf, needle))
            return;
        if (strstr(buf, "<failure") || strstr(buf, "stream:error"))
            die(buf);
        ssize_t n = read(fd, buf + *len, RB - *len);
        if (n <= 0)
            die("c2s closed during login");
        *len += (size_t)n;
    }
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

struct sock *login(int i)
{
    char user[32], buf[1024], cred[256], enc[400];
    snprintf(user, sizeof user, "%s%d", G.uprefix, i);
    int fd = tcp_connect(G.cport);
    struct sock *s = sock_new(fd, 0, i);
    char open_stream[256];
    snprintf(open_stream, sizeof open_stream,
             "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
             "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
             G.host);
    wr(fd, open_stream);
    read_until(fd, s->r, &s->rlen, "</stream:features>");
    int cl = snprintf(cred, sizeof cred, "%c%s%c%s", 0, user, 0, G.pass);
    b64((unsigned char *)cred, (size_t)cl, enc);
    snprintf(buf, sizeof buf,
             "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", enc);
    wr(fd, buf);
    read_until(fd, s->r, &s->rlen, "<success");
    s->rlen = 0;
    wr(fd, open_stream);
    read_until(fd, s->r, &s->rlen, "</stream:features>");
    s->rlen = 0;
    wr(fd, "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>bench</resource></bind></iq>");
    read_until(fd, s->r, &s->rlen, "</iq>");
    s->rlen = 0;
    wr(fd, "<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
    read_until(fd, s->r, &s->rlen, "id='s1'");
    s->rlen = 0;
    wr(fd, "<presence/>");
    if (G.queue) {
        snprintf(buf, sizeof buf, "<presence to='%s'/>", G.queue);
        wr(fd, buf);
    }
    set_nonblock(fd);
    watch(s, EPOLLIN);
    return s;
}

/* --- seeker side: HTTP --- */

struct sock *http_conn(int idx, int kind)
{
    int fd = tcp_connect(G.hport);
    struct sock *s = sock_new(fd, kind, idx);
    if (kind == 2)
        wr(fd, "GET /loopback/events HTTP/1.0\r\n\r\n"); /* close-delimited: no chunking */
    set_nonblock(fd);
    watch(s, EPOLLIN);
    return s;
}

/* POST one seeker message (gw) or "send this to the client" (zw) on connection s. */
void post(struct sock *s, int conv, char marker, int64_t seq, int fresh)
{
    char body[512], req[1024];
    int bl;
    if (G.zw)
        bl = snprintf(body, sizeof body, "{\"to\":\"%s%d@%s\",\"from\":\"%s\",\"body\":\"%c%lld\"}",
                      G.uprefix, G.convs[conv].cidx, G.host, G.convs[conv].token, marker,
                      (long long)seq);
    else
        bl = snprintf(body, sizeof body, "{\"address\":\"bench%d\",\"body\":\"%c%lld\"%s}", conv,
                      marker, (long long)seq, fresh ? ",\"new\":true" : "");
    int rl = snprintf(req, sizeof req,
                      "POST /loopback/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                      bl, body);
    s->busy = 1;
    s->seq = seq;
    if (seq >= 0 && seq < MAXSEQ)
        G.t_sent[seq] = now_ns();
    send_buf(s, req, (size_t)rl);
}

/* POST one web chat message (gw: the session's bearer token; zw: where to send it). */
void post_web(struct sock *s, char marker, int64_t seq)
{
    char body[128], req[1024];
    int bl = snprintf(body, sizeof body, "{\"text\":\"%c%lld\"}", marker, (long long)seq);
    int rl;
    if (G.zw)
        rl = snprintf(req, sizeof req,
                      "POST /webchat/message?to=%s%d@%s&from=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                      G.uprefix, G.convs[G.web].cidx, G.host, G.convs[G.web].token, bl, body);
    else
        rl = snprintf(req, sizeof req,
                      "POST /webchat/message HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      G.web_token, bl, body);
    s->busy = 1;
    s->seq = seq;
    if (seq >= 0 && seq < MAXSEQ)
        G.t_sent[seq] = now_ns();
    send_buf(s, req, (size_t)rl);
}

/* A counsellor's reply into conversation conv. */
void reply(int conv, char marker, int64_t seq)
{
    char st[512];
    int n = snprintf(st, sizeof st,
                     "<message type='chat' to='%s@%s' id='%c%lld'><body>%c%lld</body></message>",
                     G.convs[conv].token, G.comp, marker, (long long)seq, marker, (long long)seq);
    if (seq >= 0 && seq < MAXSEQ)
        G.t_sent[seq] = now_ns();
    send_buf(G.xc[G.convs[conv].cidx], st, (size_t)n);
}
