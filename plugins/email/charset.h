/* charset.h — text decoding for mail: charsets to UTF-8, RFC 2047 words, format=flowed. */
#ifndef MAIL_CHARSET_H
#define MAIL_CHARSET_H

#include <stddef.h>

/* Convert `len` bytes in `charset` (NULL/unknown: UTF-8 when valid, else windows-1252;
 * ISO-8859-1 is read as windows-1252 like browsers do) to valid UTF-8 with LF line ends.
 * Returns a malloc'd string or NULL on allocation failure. */
char *mail_to_utf8(const char *bytes, size_t len, const char *charset);

/* Undo format=flowed (RFC 3676) soft line breaks.  Returns malloc'd text or NULL. */
char *mail_unflow(const char *text, int delsp);

/* Decode an unstructured header value (RFC 2047 encoded words, unfolding, undeclared 8-bit
 * as UTF-8 or windows-1252) to UTF-8.  Each word is decoded on its own; the bytes of
 * adjacent words in one charset are joined before conversion, so characters split across
 * words survive.  (GMime 3.2.13 loses text after a '='-padded B word: upstream bug #133.)
 * Returns a malloc'd string or NULL on allocation failure. */
char *mail_rfc2047_decode(const char *raw);

#endif
