/* libFuzzer target for the JOSE parsers of idp/oidc/jose.c: oidc_jwks_parse
 * (client "jwks" / jwks_uri documents) and oidc_jws_verify (compact JWS:
 * private_key_jwt client assertions, id_token_hint).
 *
 * LLVMFuzzerInitialize generates an RSA-2048 and an EC P-256 key with
 * OpenSSL, writes their public JWKS and parses it with oidc_jwks_parse (the
 * keys the tokens are checked against), and signs four fixed tokens: RS256
 * and ES256 with those keys, HS256 keyed with the RSA JWK text (the classic
 * alg confusion) and alg "none".
 *
 * The first input byte chooses the mode (bits 0-1):
 *   0: the rest is a compact JWS, verified against the init keys;
 *   1: the rest is a JWKS document; the four fixed tokens are verified
 *      against whatever it yields;
 *   2, 3: the next byte is a length L; the following L bytes are the JWS
 *      header and the remainder the payload. The harness base64url-encodes
 *      them and signs "header.payload" with the EC key (bit 2 clear) or the
 *      RSA key (bit 2 set); bit 3 set: one byte of the signature is flipped
 *      (offset and mask from bits 4-7); the token is verified against the
 *      init keys.
 *
 * Properties (abort() with a message when one fails):
 *  - no crash, leak or UB; the token or document is an exact-size heap copy;
 *  - mode 0: random bytes never verify (nobody but the harness holds the keys);
 *  - mode 1: a success yields 1..16 keys, each RS256 or ES256 with a key;
 *    a fixed token verifies only if a parsed key is our public key with the
 *    token's algorithm; HS256 and none never verify;
 *  - modes 2, 3: a verified token carries an untampered signature by a key
 *    whose algorithm the header's "alg" names exactly (RS256 for RSA, ES256
 *    for EC), no "crit", and the payload returned is the payload signed;
 *    *payload is NULL and *typ NULL after a failure; typ equals the header's. */
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs/keys.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "idp/oidc/oidc.h"

enum { TOK_RS256, TOK_ES256, TOK_HS256, TOK_NONE, TOK__COUNT };

static EVP_PKEY *rsa_key, *ec_key;
static struct oidc_jwk *keys;
static size_t nkeys;
static char *tokens[TOK__COUNT];

static void
fail(const char *what)
{
	fprintf(stderr, "oidc_jose: %s\n", what);
	abort();
}

static char *
b64u(const void *in, size_t n)
{
	char *out = malloc(kh_b64url_enclen(n));

	if (out == NULL)
		fail("out of memory");
	kh_b64url_encode(in, n, out);
	return out;
}

static char *
bn_b64u(EVP_PKEY *k, const char *param)
{
	BIGNUM *bn = NULL;
	unsigned char buf[512];
	int n;
	char *s;

	if (EVP_PKEY_get_bn_param(k, param, &bn) != 1 || (n = BN_bn2bin(bn, buf)) <= 0)
		fail("EVP_PKEY_get_bn_param");
	s = b64u(buf, (size_t)n);
	BN_free(bn);
	return s;
}

/* "h.p" signed with k: the JWS signature bytes (raw r||s for EC). */
static size_t
sign(EVP_PKEY *k, const char *input, unsigned char *sig, size_t sigmax)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[600];
	const unsigned char *p = der;
	size_t derlen = sizeof(der);
	ECDSA_SIG *es;
	const BIGNUM *r, *s;

	if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(md, der, &derlen, (const unsigned char *)input, strlen(input)) != 1)
		fail("EVP_DigestSign");
	EVP_MD_CTX_free(md);
	if (k == rsa_key) {
		if (derlen > sigmax)
			fail("signature too long");
		memcpy(sig, der, derlen);
		return derlen;
	}
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
		fail("d2i_ECDSA_SIG");
	ECDSA_SIG_get0(es, &r, &s);
	if (sigmax < 64 || BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
		fail("BN_bn2binpad");
	ECDSA_SIG_free(es);
	return 64;
}

/* header and payload (raw bytes) to a compact JWS with signature sig. */
static char *
compact(const void *h, size_t hn, const void *p, size_t pn, const unsigned char *sig, size_t sn)
{
	char *eh = b64u(h, hn), *ep = b64u(p, pn), *es = sig ? b64u(sig, sn) : NULL;
	size_t n = strlen(eh) + strlen(ep) + (es ? strlen(es) : 0) + 3;
	char *out = malloc(n);

	if (out == NULL)
		fail("out of memory");
	snprintf(out, n, "%s.%s.%s", eh, ep, es ? es : "");
	free(eh);
	free(ep);
	free(es);
	return out;
}

static char *
signed_token(EVP_PKEY *k, const char *hdr, const char *pl)
{
	unsigned char sig[600];
	char *unsigned_tok = compact(hdr, strlen(hdr), pl, strlen(pl), NULL, 0), *tok;
	size_t sn;

	unsigned_tok[strlen(unsigned_tok) - 1] = '\0'; /* "h.p" */
	sn = sign(k, unsigned_tok, sig, sizeof(sig));
	tok = compact(hdr, strlen(hdr), pl, strlen(pl), sig, sn);
	free(unsigned_tok);
	return tok;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char pl[] =
	    "{\"iss\":\"c1\",\"sub\":\"c1\",\"aud\":\"https://idp\",\"exp\":1}";
	unsigned char pub[65], mac[32];
	size_t publen = sizeof(pub);
	char *n, *e, *x, *y, *jwks, *hs_in, *ehs;
	unsigned int maclen = sizeof(mac);
	size_t len;

	(void)argc;
	(void)argv;
	if ((rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) == NULL ||
	    (ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		fail("key generation");
	n = bn_b64u(rsa_key, OSSL_PKEY_PARAM_RSA_N);
	e = bn_b64u(rsa_key, OSSL_PKEY_PARAM_RSA_E);
	if (EVP_PKEY_get_octet_string_param(
		ec_key, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &publen) != 1 ||
	    publen != 65 || pub[0] != 0x04)
		fail("EC public key");
	x = b64u(pub + 1, 32);
	y = b64u(pub + 33, 32);
	len = strlen(n) + strlen(e) + strlen(x) + strlen(y) + 256;
	if ((jwks = malloc(len)) == NULL)
		fail("out of memory");
	snprintf(jwks, len,
	    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"},"
	    "{\"kty\":\"EC\",\"kid\":\"ec1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
	    n, e, x, y);
	if (oidc_jwks_parse(jwks, &keys, &nkeys) != KH_OK || nkeys != 2)
		fail("our own JWKS does not parse");
	/* a JWKS written by the harness, for the seeds of mode 1 */
	if (getenv("FUZZ_OIDC_JOSE_PRINT_JWKS") != NULL)
		printf("%s\n", jwks);

	tokens[TOK_RS256] = signed_token(rsa_key, "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", pl);
	tokens[TOK_ES256] = signed_token(ec_key, "{\"alg\":\"ES256\",\"kid\":\"ec1\"}", pl);
	/* HS256 keyed with the public JWK text: what an alg-confused verifier takes */
	hs_in = compact("{\"alg\":\"HS256\"}", 15, pl, strlen(pl), NULL, 0);
	hs_in[strlen(hs_in) - 1] = '\0';
	if (HMAC(EVP_sha256(), jwks, (int)strlen(jwks), (const unsigned char *)hs_in, strlen(hs_in),
		mac, &maclen) == NULL)
		fail("HMAC");
	ehs = b64u(mac, maclen);
	len = strlen(hs_in) + strlen(ehs) + 2;
	if ((tokens[TOK_HS256] = malloc(len)) == NULL)
		fail("out of memory");
	snprintf(tokens[TOK_HS256], len, "%s.%s", hs_in, ehs);
	tokens[TOK_NONE] = compact("{\"alg\":\"none\"}", 14, pl, strlen(pl), NULL, 0);

	free(hs_in);
	free(ehs);
	free(jwks);
	free(n);
	free(e);
	free(x);
	free(y);
	return 0;
}

static void
check_failure(int r, json_t *pl, char *typ)
{
	if (r == KH_OK)
		fail("internal: check_failure on success");
	if (pl != NULL || typ != NULL)
		fail("outputs set after a failure");
}

static void
mode_random(const uint8_t *d, size_t n)
{
	char *tok = malloc(n + 1);
	json_t *pl = NULL;
	char *typ = NULL;
	int r;

	if (tok == NULL)
		fail("out of memory");
	memcpy(tok, d, n);
	tok[n] = '\0';
	r = oidc_jws_verify(tok, keys, nkeys, &pl, &typ);
	if (r == KH_OK)
		fail("a token nobody signed verified");
	check_failure(r, pl, typ);
	free(tok);
}

static int
holds(const struct oidc_jwk *k, size_t nk, EVP_PKEY *pub, int alg)
{
	size_t i;

	for (i = 0; i < nk; i++)
		if (k[i].alg == alg && EVP_PKEY_eq(k[i].pkey, pub) == 1)
			return 1;
	return 0;
}

static void
mode_jwks(const uint8_t *d, size_t n)
{
	char *doc = malloc(n + 1), *typ;
	struct oidc_jwk *k = NULL;
	size_t nk = 0, i;
	json_t *pl;
	int r, t;

	if (doc == NULL)
		fail("out of memory");
	memcpy(doc, d, n);
	doc[n] = '\0';
	r = oidc_jwks_parse(doc, &k, &nk);
	free(doc);
	if (r != KH_OK) {
		if (k != NULL || nk != 0)
			fail("jwks outputs set after a failure");
		return;
	}
	if (k == NULL || nk == 0 || nk > 16)
		fail("jwks success with 0 or more than 16 keys");
	for (i = 0; i < nk; i++)
		if ((k[i].alg != KH_ALG_RS256 && k[i].alg != KH_ALG_ES256) || k[i].pkey == NULL)
			fail("jwks key without an allowed algorithm or a key");
	for (t = 0; t < TOK__COUNT; t++) {
		pl = NULL;
		typ = NULL;
		r = oidc_jws_verify(tokens[t], k, nk, &pl, &typ);
		if (r != KH_OK) {
			check_failure(r, pl, typ);
			continue;
		}
		if (t == TOK_HS256 || t == TOK_NONE)
			fail("HS256 or none token verified");
		if (t == TOK_RS256 && !holds(k, nk, rsa_key, KH_ALG_RS256))
			fail("RS256 token verified without our RSA key in the set");
		if (t == TOK_ES256 && !holds(k, nk, ec_key, KH_ALG_ES256))
			fail("ES256 token verified without our EC key in the set");
		json_decref(pl);
		free(typ);
	}
	oidc_jwk_free(k, nk);
}

static void
mode_signed(const uint8_t *d, size_t n, unsigned flags)
{
	EVP_PKEY *key = (flags & 4) ? rsa_key : ec_key;
	const char *want = (flags & 4) ? "RS256" : "ES256", *alg, *htyp;
	size_t hn, pn, sn, off;
	const uint8_t *h, *p;
	unsigned char sig[600];
	char *tok, *in, *typ = NULL, *exact;
	json_t *pl = NULL, *hdr, *ref;
	int r, tampered = (flags & 8) != 0;

	if (n < 1)
		return;
	hn = d[0] < n - 1 ? d[0] : n - 1;
	h = d + 1;
	p = h + hn;
	pn = n - 1 - hn;
	in = compact(h, hn, p, pn, NULL, 0);
	in[strlen(in) - 1] = '\0';
	sn = sign(key, in, sig, sizeof(sig));
	if (tampered) {
		off = ((flags >> 4) * 7) % sn;
		sig[off] ^= (unsigned char)(1u << ((flags >> 4) & 7));
	}
	tok = compact(h, hn, p, pn, sig, sn);
	free(in);
	/* exact-size heap copy */
	if ((exact = malloc(strlen(tok) + 1)) == NULL)
		fail("out of memory");
	memcpy(exact, tok, strlen(tok) + 1);
	free(tok);

	r = oidc_jws_verify(exact, keys, nkeys, &pl, &typ);
	free(exact);
	if (r != KH_OK) {
		check_failure(r, pl, typ);
		return;
	}
	if (tampered)
		fail("a token with a tampered signature verified");
	hdr = json_loadb((const char *)h, hn, JSON_REJECT_DUPLICATES, NULL);
	if (hdr == NULL || !json_is_object(hdr))
		fail("verified a token whose header is not a JSON object");
	alg = json_string_value(json_object_get(hdr, "alg"));
	if (alg == NULL || strcmp(alg, want) != 0)
		fail("verified a token whose alg does not name the signing key's algorithm");
	if (json_object_get(hdr, "crit") != NULL)
		fail("verified a token with crit");
	htyp = json_string_value(json_object_get(hdr, "typ"));
	if ((htyp == NULL) != (typ == NULL) || (htyp != NULL && strcmp(htyp, typ) != 0))
		fail("typ differs from the header's");
	ref = json_loadb((const char *)p, pn, JSON_REJECT_DUPLICATES, NULL);
	if (ref == NULL || pl == NULL || !json_is_object(pl) || !json_equal(ref, pl))
		fail("payload returned differs from the payload signed");
	json_decref(ref);
	json_decref(hdr);
	json_decref(pl);
	free(typ);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0: mode_random(data + 1, size - 1); break;
	case 1: mode_jwks(data + 1, size - 1); break;
	default: mode_signed(data + 1, size - 1, data[0]); break;
	}
	return 0;
}
