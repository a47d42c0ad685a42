/* Signing keys: the only module that reads private key material. Everything
 * that signs (ID tokens, access tokens, logout tokens, SAML via lasso) goes
 * through this interface so signing can later move to a separate process.
 *
 * [keys] rsa_key/rsa_cert (RS256 and SAML, required for SAML and OIDC),
 * ec_key (ES256, optional), next_* (published in JWKS and metadata during a
 * rotation, not used to sign). kid = RFC 7638 JWK thumbprint. */
#ifndef KH_KEYS_H
#define KH_KEYS_H

#include <stddef.h>

#include "common/buf.h"

struct kh_config;
struct kh_keyset;

enum kh_jws_alg { KH_ALG_RS256 = 1, KH_ALG_ES256 = 2 };

/* Loads and checks the keys (RSA >= 2048 bits, EC on P-256, cert matches key).
 * With no [keys] configured *out is an empty keyset (kh_keys_have() == 0). */
int kh_keys_load(const struct kh_config *cfg, struct kh_keyset **out, char **errmsg);
void kh_keys_free(struct kh_keyset *ks);
int kh_keys_have(const struct kh_keyset *ks, enum kh_jws_alg alg);
/* kid of the current key for alg, NULL when none. */
const char *kh_keys_kid(const struct kh_keyset *ks, enum kh_jws_alg alg);
/* {"keys":[...]} with current and next public keys (use=sig, alg, kid). */
int kh_keys_jwks(const struct kh_keyset *ks, struct kh_buf *out);
/* Signs a JWS compact token over claims (a JSON object) with the current key
 * for alg; header carries alg, kid and typ (e.g. "JWT", "at+jwt",
 * "logout+jwt"). *jwt: free(). */
int kh_keys_sign_jwt(const struct kh_keyset *ks, enum kh_jws_alg alg, const char *typ,
    const char *claims_json, char **jwt);
/* PEM of the current (and next) RSA private key and certificate, for lasso's
 * LassoServer. NULL when absent. The certificate body (base64 DER without
 * PEM armour) is for metadata. */
const char *kh_keys_saml_key_pem(const struct kh_keyset *ks);
const char *kh_keys_saml_cert_pem(const struct kh_keyset *ks);
const char *kh_keys_saml_cert_b64(const struct kh_keyset *ks);
const char *kh_keys_saml_next_cert_b64(const struct kh_keyset *ks);

#endif
