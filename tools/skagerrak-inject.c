/* skagerrak-inject.c — hand one RFC 5322 message from the MTA to the gateway's email channel.
 *
 * For sites that deliver mail by pipe instead of letting the gateway poll IMAP, e.g. in
 * Postfix's master.cf:  skagerrak unix - n n - - pipe
 *     user=skagerrak argv=/usr/local/bin/skagerrak-inject -t /etc/skagerrak/inject.token
 * Exit codes follow sysexits.h, which MTAs understand: 0 stored, 65 refused for good (the
 * MTA bounces), 75 try again later (the MTA keeps the mail queued), 77 bad token, 64 usage. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_DATAERR_ 65
#define EX_TEMPFAIL_ 75
#define EX_NOPERM_ 77
#define MAX_MESSAGE (32u << 20)

static void usage(FILE *f)
{
    fprintf(f, "usage: skagerrak-inject [-u URL] [-t TOKEN_FILE] < message.eml\n"
               "  -u URL         the email channel's inject endpoint\n"
               "                 (default http://127.0.0.1:8080/email/inject)\n"
               "  -t TOKEN_FILE  file holding the inject_token (else $SKAGERRAK_INJECT_TOKEN)\n");
}

static char *read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[512];
    char *r = NULL;
    if (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = 0;
        r = *buf ? strdup(buf) : NULL;
    }
    fclose(f);
    return r;
}

static char *read_all(FILE *in, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, in);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            if (cap >= MAX_MESSAGE) {
                free(buf);
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    *len = n;
    return buf;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

int main(int argc, char **argv)
{
    const char *url = "http://127.0.0.1:8080/email/inject", *token_file = NULL;
    int o;
    while ((o = getopt(argc, argv, "u:t:h")) != -1) {
        switch (o) {
        case 'u': url = optarg; break;
        case 't': token_file = optarg; break;
        case 'h': usage(stdout); return EX_OK_;
        default: usage(stderr); return EX_USAGE_;
        }
    }
    char *token = token_file ? read_token(token_file)
                             : (getenv("SKAGERRAK_INJECT_TOKEN") ? strdup(getenv("SKAGERRAK_INJECT_TOKEN")) : NULL);
    if (!token) {
        fprintf(stderr, "skagerrak-inject: no token (-t FILE or SKAGERRAK_INJECT_TOKEN)\n");
        return EX_USAGE_;
    }
    size_t len = 0;
    char *msg = read_all(stdin, &len);
    if (!msg || !len) {
        fprintf(stderr, "skagerrak-inject: %s\n", msg ? "empty message" : "message too large");
        free(msg);
        free(token);
        return EX_DATAERR_;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    char auth[600];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: message/rfc822");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, msg);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    int ex;
    if (rc != CURLE_OK) {
        fprintf(stderr, "skagerrak-inject: %s: %s\n", url, curl_easy_strerror(rc));
        ex = EX_TEMPFAIL_; /* the gateway is down: the MTA keeps the mail and retries */
    } else if (status == 200) {
        ex = EX_OK_;
    } else if (status == 401 || status == 403) {
        fprintf(stderr, "skagerrak-inject: refused (HTTP %ld): check the token\n", status);
        ex = EX_NOPERM_;
    } else if (status == 422 || status == 413) {
        fprintf(stderr, "skagerrak-inject: not accepted (HTTP %ld)\n", status);
        ex = EX_DATAERR_;
    } else {
        fprintf(stderr, "skagerrak-inject: HTTP %ld, try again later\n", status);
        ex = EX_TEMPFAIL_;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    explicit_bzero(token, strlen(token));
    free(token);
    free(msg);
    return ex;
}
