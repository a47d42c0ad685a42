/* Crypto helpers on OpenSSL 3: randomness, constant-time compare, HMAC-SHA-256,
 * base64url, hex and AES-256-GCM. Nothing here logs its inputs. */
#ifndef KH_CRYPTO_H
#define KH_CRYPTO_H

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#define KH_HMAC_LEN 32
#define KH_GCM_KEY_LEN 32
#define KH_GCM_IV_LEN 12
#define KH_GCM_TAG_LEN 16
/* version byte ‖ iv ‖ ciphertext ‖ tag */
#define KH_GCM_OVERHEAD (1 + KH_GCM_IV_LEN + KH_GCM_TAG_LEN)

int kh_random(void *out, size_t n);
/* 1 when equal. Runs in time that depends only on n. */
int kh_ct_equal(const void *a, const void *b, size_t n);
/* Compares two NUL-terminated strings without early exit on content;
 * length differences are not hidden. 1 when equal. */
int kh_ct_streq(const char *a, const char *b);
int kh_hmac_sha256(
    const void *key, size_t keylen, const void *msg, size_t msglen, unsigned char out[KH_HMAC_LEN]);
/* HMAC over several parts; parts are length-prefixed so ("ab","c") != ("a","bc"). */
int kh_hmac_sha256_parts(const void *key, size_t keylen, const void *const *parts,
    const size_t *lens, size_t nparts, unsigned char out[KH_HMAC_LEN]);

/* Encoders write a NUL-terminated string; out must hold kh_b64url_enclen(n)
 * bytes (the unpadded length + 1) or 2n+1 for hex. */
size_t kh_b64url_enclen(size_t n);
void kh_b64url_encode(const void *in, size_t n, char *out);
/* Decodes unpadded base64url; returns bytes written or a negative KH_ERR. */
int kh_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax);
void kh_hex_encode(const void *in, size_t n, char *out); /* out: 2n+1 */
int kh_hex_decode(const char *in, unsigned char *out, size_t outlen);

/* AES-256-GCM with a random IV. out must hold n + KH_GCM_OVERHEAD bytes. */
int kh_gcm_seal(const unsigned char key[KH_GCM_KEY_LEN], const void *aad, size_t aadlen,
    const void *in, size_t n, unsigned char *out, size_t *outlen);
/* out must hold n - KH_GCM_OVERHEAD bytes; fails with KH_ERR_CRYPTO on any tamper. */
int kh_gcm_open(const unsigned char key[KH_GCM_KEY_LEN], const void *aad, size_t aadlen,
    const unsigned char *in, size_t n, unsigned char *out, size_t *outlen);

/* Public keys from their raw parts (JWKs, COSE keys), through OpenSSL 3
 * fromdata. P-256: the affine coordinates; the point must be on the curve
 * and pass EVP_PKEY_public_check. RSA: big-endian n and e with
 * min_bits <= bits(n) <= max_bits and e odd, > 1, at most 64 bits. NULL when
 * refused; free with EVP_PKEY_free. */
EVP_PKEY *kh_pkey_p256(const unsigned char x[32], const unsigned char y[32]);
EVP_PKEY *kh_pkey_rsa(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen,
    int min_bits, int max_bits);

/* A random token of nbytes bytes, base64url encoded, in a fresh allocation. */
int kh_random_token(size_t nbytes, char **out);

#endif
