/* TOTP (RFC 6238) and HOTP (RFC 4226) on liboath, base32 (RFC 4648) for the
 * secret shown to people and authenticator apps, and the otpauth:// URI the
 * QR code carries. No state: replay protection (a used step cannot be used
 * again) is the caller's, through the matched step this returns. */
#ifndef KH_TOTP_H
#define KH_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define KH_TOTP_SECRET_LEN 20 /* 160 bits, what RFC 4226 recommends for SHA-1 */
#define KH_TOTP_DIGITS 6
#define KH_TOTP_PERIOD 30
#define KH_TOTP_B32_MAX 65 /* base32 of a secret up to 40 bytes (64), NUL included */

/* Once, before threads (oath_init). */
int kh_totp_global_init(void);
void kh_totp_global_done(void);

/* The code for time step `step` (= unix time / period), digits 6..8, HMAC-SHA-1
 * (hash 1), SHA-256 (256) or SHA-512 (512) — the latter two for the RFC 6238
 * test vectors; enrolment always uses SHA-1, 6 digits, 30 s. out: digits + 1. */
int kh_totp_code(const unsigned char *secret, size_t len, uint64_t step, int digits, int hash,
    char *out, size_t outlen);

/* Checks a 6-digit code typed by a person (surrounding spaces and one inner
 * space allowed, nothing else) against steps now/period - window ..
 * now/period + window, comparing in constant time and trying every step.
 * KH_OK with *matched = the step it matched; KH_ERR_INVALID otherwise
 * (also for malformed input). A code whose step is <= last_step (-1: none used
 * yet) gives KH_ERR_REPLAY. window: 0..10; the lowest matching step above
 * last_step is the one returned. */
int kh_totp_verify(const unsigned char *secret, size_t len, const char *code, int64_t now,
    int window, int64_t last_step, int64_t *matched);

/* Base32 without padding, upper case, into out (NUL-terminated). */
int kh_base32_encode(const unsigned char *in, size_t n, char *out, size_t outlen);

/* Appends otpauth://totp/ISSUER:ACCOUNT?secret=B32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
 * with label and parameters percent-encoded (UTF-8 kept as %XX). issuer and
 * account: 1..256 bytes of UTF-8 text, b32 as kh_base32_encode writes it
 * (else KH_ERR_INVALID); on failure out is left as it was. */
int kh_totp_uri(const char *issuer, const char *account, const char *b32, struct kh_buf *out);

#endif
