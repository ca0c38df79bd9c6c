/* util.h — small helpers for the email plugin: a growable string buffer and string bits. */
#ifndef MAIL_UTIL_H
#define MAIL_UTIL_H

#include <stdarg.h>
#include <stddef.h>

/* A growable NUL-terminated string.  Zero-initialise ({0}) before use.  After an
 * allocation failure `oom` is set and further appends are ignored, so callers check once
 * at the end (git's strbuf without the die()). */
struct mail_buf {
    char *s;
    size_t len, cap;
    int oom;
};

/* Append `n` bytes of `p`. */
void mail_buf_add(struct mail_buf *b, const char *p, size_t n);
/* Append a NUL-terminated string (NULL appends nothing). */
void mail_buf_adds(struct mail_buf *b, const char *s);
/* Append one byte. */
void mail_buf_addc(struct mail_buf *b, char c);
/* Append printf-formatted text. */
void mail_buf_addf(struct mail_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Remove trailing bytes that are in `set`. */
void mail_buf_rtrim(struct mail_buf *b, const char *set);
/* Take the string out (caller frees; "" when empty) and reset the buffer.  NULL if an
 * allocation failed at any point (the buffer is then released). */
char *mail_buf_detach(struct mail_buf *b);
/* Free the contents and reset. */
void mail_buf_release(struct mail_buf *b);

/* Case-insensitive ASCII prefix test: returns a pointer after the prefix or NULL. */
const char *mail_prefix(const char *s, const char *prefix);
/* strdup that accepts NULL (returns NULL). */
char *mail_strdup(const char *s);
/* Free *p and set it to NULL. */
void mail_freep(char **p);
/* Lowercase ASCII letters in place; returns s. */
char *mail_lower(char *s);
/* Replace "{name}" in tmpl with value.  Returns a malloc'd string or NULL (ENOMEM). */
char *mail_subst(const char *tmpl, const char *name, const char *value);

#endif
