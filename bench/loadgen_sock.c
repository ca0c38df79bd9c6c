/* loadgen_sock.c — the load generator's sockets: loopback TCP connections, epoll watches,
 * write buffers flushed as the socket allows. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loadgen.h"

void die(const char *what)
{
    fprintf(stderr, "loadgen: %s\n", what);
    exit(1);
}

int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

struct sock *sock_new(int fd, int kind, int idx)
{
    struct sock *s = calloc(1, sizeof *s);
    s->fd = fd;
    s->kind = kind;
    s->idx = idx;
    s->r = malloc(RB + 1);
    s->seq = -1;
    return s;
}

void watch(struct sock *s, unsigned ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = s};
    if (epoll_ctl(G.ep, EPOLL_CTL_MOD, s->fd, &e) < 0)
        epoll_ctl(G.ep, EPOLL_CTL_ADD, s->fd, &e);
}

void flush_w(struct sock *s)
{
    while (s->wlen) {
        ssize_t n = write(s->fd, s->w, s->wlen);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            die("write");
        }
        memmove(s->w, s->w + n, s->wlen - (size_t)n);
        s->wlen -= (size_t)n;
    }
    watch(s, EPOLLIN | (s->wlen ? EPOLLOUT : 0));
}

void send_buf(struct sock *s, const char *p, size_t n)
{
    if (s->wlen + n > s->wcap) {
        s->wcap = (s->wlen + n) * 2;
        s->w = realloc(s->w, s->wcap);
    }
    memcpy(s->w + s->wlen, p, n);
    s->wlen += n;
    if (s->wlen == n)
        flush_w(s);
}

void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void wr(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        die("write");
}
