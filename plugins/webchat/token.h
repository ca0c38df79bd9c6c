/* token.h — web chat session tokens and ids: generation (getrandom), syntax check, hashing. */
#ifndef WEB_TOKEN_H
#define WEB_TOKEN_H

#include <stddef.h>
#include <stdint.h>

/* A session token is 24 random bytes (192 bits) in unpadded base64url: 32 characters. */
#define WEB_TOKEN_BYTES 24
#define WEB_TOKEN_LEN 32
/* A session id (the seeker's public address on the channel, never secret): 64 random
 * bits as 16 lowercase hex digits. */
#define WEB_SID_LEN 16
/* The SHA-256 of a token as 64 lowercase hex digits: the key under which a session is
 * kept in memory and in the host's key/value store, so the store never holds a token. */
#define WEB_TOKEN_KEY_LEN 64

/* Fill `buf` with `len` bytes from the kernel's CSPRNG (getrandom).  GW_OK or GW_EIO. */
int web_random(void *buf, size_t len);
/* A new token into out (outlen >= WEB_TOKEN_LEN + 1).  GW_OK, GW_EINVAL (small buffer)
 * or GW_EIO (no randomness: the caller must refuse to create a session). */
int web_token_new(char *out, size_t outlen);
/* 1 if `s` has the syntax of a token (exactly WEB_TOKEN_LEN base64url characters), else 0.
 * NULL-safe. */
int web_token_valid(const char *s);
/* A new session id into out (outlen >= WEB_SID_LEN + 1).  GW_OK, GW_EINVAL or GW_EIO. */
int web_sid_new(char *out, size_t outlen);
/* 1 if `s` is a session id (WEB_SID_LEN lowercase hex digits), else 0.  NULL-safe. */
int web_sid_valid(const char *s);
/* The key of a token (SHA-256, hex) into out (outlen >= WEB_TOKEN_KEY_LEN + 1).
 * GW_OK or GW_EINVAL (small buffer or a string that is not a token). */
int web_token_key(const char *token, char *out, size_t outlen);
/* Extract the token from an "Authorization: Bearer <token>" header value.  Returns a
 * pointer into `header` (the token runs to the end or to trailing spaces, which make the
 * token invalid) or NULL when the header is NULL or not a Bearer credential. */
const char *web_token_from_bearer(const char *header);

#endif
