/* testsrv.h — a one-request-at-a-time HTTP server on 127.0.0.1 for SMS plugin tests: the
 * test performs a recorded fetch against it, then completes the fetch in the fake host. */
#ifndef SMS_TESTSRV_H
#define SMS_TESTSRV_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakehost.h"

struct testsrv {
    int fd;
    int port;
    pthread_t th;
    /* the canned answer */
    int status;
    char type[64];
    char answer[4096];
    /* the last request */
    char req[65536];
    size_t reqlen;
    char method[8];
    char target[8192]; /* path and query */
    const char *body;
};

__attribute__((unused)) static void testsrv_init(struct testsrv *s)
{
    memset(s, 0, sizeof *s);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) || listen(s->fd, 4) ||
        getsockname(s->fd, (struct sockaddr *)&a, &al))
        abort();
    s->port = ntohs(a.sin_port);
}

__attribute__((unused)) static void testsrv_close(struct testsrv *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

__attribute__((unused)) static void *testsrv_thread(void *arg)
{
    struct testsrv *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    s->reqlen = 0;
    size_t want = 0;
    for (;;) {
        ssize_t n = read(c, s->req + s->reqlen, sizeof s->req - 1 - s->reqlen);
        if (n <= 0)
            break;
        s->reqlen += (size_t)n;
        s->req[s->reqlen] = '\0';
        char *end = strstr(s->req, "\r\n\r\n");
        if (!end)
            continue;
        if (!want) {
            const char *cl = strcasestr(s->req, "\r\nContent-Length:");
            want = (size_t)(end + 4 - s->req) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (s->reqlen >= want)
            break;
    }
    char *end = strstr(s->req, "\r\n\r\n");
    s->body = end ? end + 4 : "";
    sscanf(s->req, "%7s %8191s", s->method, s->target);
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      s->status, s->type, strlen(s->answer));
    if (write(c, hdr, (size_t)hl) < 0 || write(c, s->answer, strlen(s->answer)) < 0)
        perror("testsrv write");
    close(c);
    return NULL;
}

/* Answer the next request with status/type/body. */
__attribute__((unused)) static void testsrv_answer(struct testsrv *s, int status, const char *type, const char *body)
{
    s->status = status;
    snprintf(s->type, sizeof s->type, "%s", type);
    snprintf(s->answer, sizeof s->answer, "%s", body);
}

/* Perform fetch `idx` of the fake host against this server (blocking) and complete it. */
__attribute__((unused)) static int testsrv_run(struct testsrv *s, struct fakehost *fh, size_t idx)
{
    pthread_create(&s->th, NULL, testsrv_thread, s);
    CURLcode rc = curl_easy_perform(fh->fetches[idx].easy);
    pthread_join(s->th, NULL);
    fakehost_fetch_complete(fh, idx, (int)rc);
    return (int)rc;
}

/* A request header's value (copied into a static buffer), or NULL. */
__attribute__((unused)) static const char *testsrv_header(struct testsrv *s, const char *name)
{
    static char v[1024];
    char pat[128];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    const char *h = strcasestr(s->req, pat);
    const char *end = strstr(s->req, "\r\n\r\n");
    if (!h || (end && h > end))
        return NULL;
    h += strlen(pat);
    while (*h == ' ')
        h++;
    size_t n = strcspn(h, "\r\n");
    snprintf(v, sizeof v, "%.*s", (int)n, h);
    return v;
}

#endif
