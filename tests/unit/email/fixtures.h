/* fixtures.h — load the .eml fixtures (tests/fixtures/email) for the email plugin tests. */
#ifndef MAIL_TEST_FIXTURES_H
#define MAIL_TEST_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read a fixture by file name.  The directory is $MAIL_FIXTURES or
 * tests/fixtures/email relative to the repository root (tests run from there).
 * Returns malloc'd NUL-terminated bytes (length in *len) or aborts: it is test code. */
static inline char *fixture_load(const char *name, size_t *len)
{
    const char *dir = getenv("MAIL_FIXTURES");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/fixtures/email", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fixture %s: cannot open (run from the repository root)\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

#endif
