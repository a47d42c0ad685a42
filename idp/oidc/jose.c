/* JOSE for the provider side: JWK import and JWS verification with OpenSSL.
 *
 * Only RS256 and ES256 are ever accepted. The algorithm comes from the key
 * (its "kty"/"crv"), and the token's header must name that same algorithm:
 * "none", HS* (the classic alg confusion, HMAC keyed with a public key) and
 * anything else fail before any cryptography runs. Keys are parsed once when
 * a registry view is built, never per request. */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "certs/keys.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "idp/oidc/oidc.h"

#define JWK_MAX_KEYS 16
#define JWK_PART_MAX 1024 /* bytes of one decoded member (RSA n up to 8192 bits) */

void
oidc_jwk_free(struct oidc_jwk *k, size_t n)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(k[i].kid);
		EVP_PKEY_free(k[i].pkey);
	}
	free(k);
}

/* A base64url member of k decoded into buf; its length, or -1. */
static int
b64_member(json_t *k, const char *name, unsigned char *buf, size_t max)
{
	const char *s = json_string_value(json_object_get(k, name));

	return s != NULL ? kh_b64url_decode(s, strlen(s), buf, max) : -1;
}

static EVP_PKEY *
rsa_from_jwk(json_t *k)
{
	unsigned char n[JWK_PART_MAX], e[JWK_PART_MAX];
	int nl = b64_member(k, "n", n, sizeof(n)), el = b64_member(k, "e", e, sizeof(e));

	if (nl <= 0 || el <= 0)
		return NULL;
	return kh_pkey_rsa(n, (size_t)nl, e, (size_t)el, 2048, JWK_PART_MAX * 8);
}

static EVP_PKEY *
ec_from_jwk(json_t *k)
{
	unsigned char x[64], y[64];
	const char *crv = json_string_value(json_object_get(k, "crv"));

	if (crv == NULL || strcmp(crv, "P-256") != 0 || b64_member(k, "x", x, sizeof(x)) != 32 ||
	    b64_member(k, "y", y, sizeof(y)) != 32)
		return NULL;
	return kh_pkey_p256(x, y);
}

int
oidc_jwks_parse(const char *json, struct oidc_jwk **out, size_t *nout)
{
	json_t *root = NULL, *keys, *k;
	struct oidc_jwk *v = NULL;
	size_t i, n = 0;
	const char *kty, *use, *alg, *kid;
	int r = KH_ERR_INVALID;

	*out = NULL;
	*nout = 0;
	if (json == NULL || (root = json_loads(json, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		goto out;
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys) || json_array_size(keys) > JWK_MAX_KEYS)
		goto out;
	if ((v = calloc(json_array_size(keys) + 1, sizeof(*v))) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(keys, i, k)
	{
		kty = json_string_value(json_object_get(k, "kty"));
		use = json_string_value(json_object_get(k, "use"));
		alg = json_string_value(json_object_get(k, "alg"));
		kid = json_string_value(json_object_get(k, "kid"));
		if (kty == NULL || (use != NULL && strcmp(use, "sig") != 0))
			continue;
		if (strcmp(kty, "RSA") == 0 && (alg == NULL || strcmp(alg, "RS256") == 0)) {
			v[n].alg = KH_ALG_RS256;
			v[n].pkey = rsa_from_jwk(k);
		} else if (strcmp(kty, "EC") == 0 && (alg == NULL || strcmp(alg, "ES256") == 0)) {
			v[n].alg = KH_ALG_ES256;
			v[n].pkey = ec_from_jwk(k);
		} else
			continue;
		if (v[n].pkey == NULL)
			continue;
		if (kid != NULL && (v[n].kid = strdup(kid)) == NULL) {
			EVP_PKEY_free(v[n].pkey);
			r = KH_ERR_NOMEM;
			goto out;
		}
		n++;
	}
	if (n == 0)
		goto out;
	*out = v;
	*nout = n;
	v = NULL; /* transferred */
	r = KH_OK;
out:
	oidc_jwk_free(v, n);
	json_decref(root);
	return r;
}

/* Raw r‖s (64 bytes) to a DER ECDSA-Sig-Value for OpenSSL. */
static int
es256_der(const unsigned char *sig, unsigned char *der, size_t *derlen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *p = der;
	int n;

	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		ECDSA_SIG_free(es);
		BN_free(r);
		BN_free(s);
		return KH_ERR_CRYPTO;
	}
	n = i2d_ECDSA_SIG(es, &p);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return KH_ERR_CRYPTO;
	*derlen = (size_t)n;
	return KH_OK;
}

static int
verify_sig(const struct oidc_jwk *k, const char *input, size_t inlen, const unsigned char *sig,
    size_t siglen)
{
	unsigned char der[80];
	size_t derlen = 0;
	EVP_MD_CTX *md = NULL;
	int ok = 0;

	if (k->alg == KH_ALG_ES256) {
		if (siglen != 64 || es256_der(sig, der, &derlen) != KH_OK)
			return 0;
		sig = der;
		siglen = derlen;
	}
	if ((md = EVP_MD_CTX_new()) == NULL)
		return 0;
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)input, inlen) == 1)
		ok = 1;
	EVP_MD_CTX_free(md);
	return ok;
}

static json_t *
b64_json(const char *s, size_t n)
{
	unsigned char buf[OIDC_ASSERTION_MAX];
	int len;

	len = kh_b64url_decode(s, n, buf, sizeof(buf) - 1);
	if (len <= 0)
		return NULL;
	return json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
}

int
oidc_jws_verify(
    const char *jws, const struct oidc_jwk *keys, size_t nkeys, json_t **payload, char **typ)
{
	const char *dot1, *dot2, *alg, *kid, *t;
	unsigned char sig[1100];
	json_t *hdr = NULL, *pl = NULL;
	size_t len, i;
	int siglen, want, r = KH_ERR_DENIED;

	*payload = NULL;
	if (typ != NULL)
		*typ = NULL;
	if (jws == NULL || (len = strlen(jws)) > OIDC_ASSERTION_MAX)
		return KH_ERR_INVALID;
	if ((dot1 = strchr(jws, '.')) == NULL || (dot2 = strchr(dot1 + 1, '.')) == NULL ||
	    strchr(dot2 + 1, '.') != NULL)
		return KH_ERR_INVALID;
	if ((hdr = b64_json(jws, (size_t)(dot1 - jws))) == NULL || !json_is_object(hdr)) {
		r = KH_ERR_INVALID;
		goto out;
	}
	alg = json_string_value(json_object_get(hdr, "alg"));
	kid = json_string_value(json_object_get(hdr, "kid"));
	if (alg == NULL)
		goto out;
	if (strcmp(alg, "RS256") == 0)
		want = KH_ALG_RS256;
	else if (strcmp(alg, "ES256") == 0)
		want = KH_ALG_ES256;
	else
		goto out; /* none, HS256, PS256, ...: refused */
	if (json_object_get(hdr, "crit") != NULL)
		goto out;
	siglen = kh_b64url_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig));
	if (siglen <= 0)
		goto out;
	for (i = 0; i < nkeys; i++) {
		if (keys[i].alg != want)
			continue;
		if (kid != NULL && keys[i].kid != NULL && strcmp(kid, keys[i].kid) != 0)
			continue;
		if (verify_sig(&keys[i], jws, (size_t)(dot2 - jws), sig, (size_t)siglen))
			break;
	}
	if (i == nkeys)
		goto out;
	if ((pl = b64_json(dot1 + 1, (size_t)(dot2 - dot1 - 1))) == NULL || !json_is_object(pl)) {
		r = KH_ERR_INVALID;
		goto out;
	}
	if (typ != NULL && (t = json_string_value(json_object_get(hdr, "typ"))) != NULL &&
	    (*typ = strdup(t)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	*payload = pl;
	pl = NULL; /* transferred */
	r = KH_OK;
out:
	json_decref(pl);
	json_decref(hdr);
	return r;
}

void
oidc_half_hash(const char *s, char out[44])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)s, strlen(s), md);
	kh_b64url_encode(md, 16, out);
}
