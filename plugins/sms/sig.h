/* sig.h — webhook authentication: JWT HS256 (GatewayAPI), Twilio HMAC-SHA1, Basic auth,
 * shared secrets and source-address allowlists; form decoding for the signed parameters. */
#ifndef SMS_SIG_H
#define SMS_SIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Base64 (RFC 4648 §4) of n bytes into out, NUL-terminated.  Returns the length written,
 * or -1 when outlen is too small. */
int sms_b64_encode(const unsigned char *in, size_t n, char *out, size_t outlen);

/* Decode base64 (url = 0) or base64url without padding (url = 1).  Returns a malloc'd
 * buffer (caller frees; NUL-terminated for convenience) and its length in *outlen, or
 * NULL for invalid input or out of memory. */
unsigned char *sms_b64_decode(const char *in, size_t n, int url, size_t *outlen);

/* Verify a compact JWS signed with HMAC-SHA256 under `key`.  Only {"alg":"HS256"} is
 * accepted: "none", other algorithms and a missing alg are refused.  When the claims carry
 * "exp" or "nbf" (seconds) they are checked against now_s with 60 s leeway.
 * On success returns 0 and, if claims != NULL, the decoded claims object in *claims
 * (caller json_decref()s).  Returns GW_EPERM for a wrong signature, wrong algorithm or
 * expired token, GW_EINVAL for a malformed token; a short reason goes into why (never
 * any part of the key). */
int sms_jwt_hs256_verify(const char *token, const unsigned char *key, size_t keylen,
                         int64_t now_s, json_t **claims, char *why, size_t whylen);

/* Sign `claims_json` (a JSON object text) as a compact HS256 JWS.  Returns a malloc'd
 * token (caller frees) or NULL.  Used by tests; the gateway itself only verifies. */
char *sms_jwt_hs256_sign(const char *claims_json, const unsigned char *key, size_t keylen);

/* A decoded application/x-www-form-urlencoded body or query string. */
struct sms_param {
    char *name;  /* owned */
    char *value; /* owned */
};
struct sms_form {
    struct sms_param *v;
    size_t n;
};

/* Decode `len` bytes of form data ('+' is a space, %XX escapes).  Returns 0, GW_EINVAL
 * (bad escape, NUL byte, invalid input) or GW_ENOMEM.  On failure f is left empty.
 * Release with sms_form_release(). */
int sms_form_parse(const char *body, size_t len, struct sms_form *f);
/* The first value of `name`, or NULL.  Borrowed from f. */
const char *sms_form_get(const struct sms_form *f, const char *name);
/* Free f's contents (f itself is the caller's).  NULL-safe. */
void sms_form_release(struct sms_form *f);

/* Twilio's request signature: base64(HMAC-SHA1(auth_token, url + each POST parameter's
 * name and value concatenated, sorted by name)).  Writes it into out (>= 29 bytes).
 * Returns 0 or GW_EINVAL. */
int sms_twilio_sign(const char *auth_token, const char *url, const struct sms_form *params,
                    char *out, size_t outlen);
/* Check an X-Twilio-Signature header value in constant time.  Returns 0 or GW_EPERM. */
int sms_twilio_verify(const char *auth_token, const char *url, const struct sms_form *params,
                      const char *header);

/* Check an Authorization header ("Basic base64(user:pass)") against user and pass in
 * constant time.  Returns 0, or GW_EPERM (missing, malformed or wrong). */
int sms_basic_auth_check(const char *header, const char *user, const char *pass);

/* Build "Basic base64(user:pass)" into out.  Returns 0 or GW_EINVAL (too small). */
int sms_basic_auth_header(const char *user, const char *pass, char *out, size_t outlen);

/* Compare two secrets in time independent of where they differ and of their lengths
 * (both are hashed first).  Returns 1 when equal, 0 otherwise (NULL never equals). */
int sms_secret_eq(const char *a, const char *b);

/* 1 if `cidr` is a valid IPv4/IPv6 address or network ("127.0.0.1", "10.0.0.0/8",
 * "::1", "2001:db8::/32"), else 0. */
int sms_cidr_valid(const char *cidr);
/* 1 if the textual address `peer` is inside one of the n networks, else 0.  An IPv4
 * peer written as an IPv4-mapped IPv6 address ("::ffff:127.0.0.1") matches IPv4 rules. */
int sms_ip_allowed(const char *peer, const char *const *cidrs, size_t n);

#endif
