/* Internal to certs/ (and its unit test): helpers behind certs/keys.h. */
#ifndef KH_KEYS_INTERNAL_H
#define KH_KEYS_INTERNAL_H

#include <openssl/evp.h>

#define KH_KEYS_KID_LEN 43 /* base64url of a SHA-256 */

/* RFC 7638 JWK thumbprint (SHA-256, base64url) of the public part of an RSA
 * or EC P-256 key: the kid. */
int kh_keys_thumbprint(const EVP_PKEY *pkey, char kid[KH_KEYS_KID_LEN + 1]);

#endif
