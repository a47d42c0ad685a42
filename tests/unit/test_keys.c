/* certs/keys: loading and checks, RFC 7638 thumbprints, JWKS and JWS.
 * Keys are generated here with OpenSSL (and once with certs/gen-dev-keys.sh);
 * every token is verified independently with OpenSSL against the JWKS key,
 * and the typ "JWT" ones also with libjwt. */
#include <jansson.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs/keys.h"
#include "certs/keys_internal.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "tests/unit/tap.h"

static char dir[] = "/tmp/kh-test-keys-XXXXXX";

static char *
path(const char *name)
{
	static char buf[8][256];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void
write_key(EVP_PKEY *k, const char *name, const char *pass)
{
	FILE *fp = fopen(path(name), "w");

	if (fp == NULL)
		abort();
	if (pass != NULL)
		PEM_write_PrivateKey(fp, k, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)pass);
	else
		PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	chmod(path(name), 0600);
}

/* Self-signed certificate for k, valid from now + from_s to now + to_s. */
static X509 *
make_cert(EVP_PKEY *k, long from_s, long to_s)
{
	X509 *x = X509_new();
	X509_NAME *n;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(
	    n, "CN", MBSTRING_UTF8, (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_sign(x, k, EVP_sha256());
	return x;
}

static void
write_cert(X509 *x, const char *name)
{
	FILE *fp = fopen(path(name), "w");

	if (fp == NULL)
		abort();
	PEM_write_X509(fp, x);
	fclose(fp);
}

static void
write_text(const char *name, const char *text)
{
	FILE *fp = fopen(path(name), "w");

	if (fp == NULL)
		abort();
	fputs(text, fp);
	fclose(fp);
}

static struct kh_config cfg;

static void
cfg_set(const char *rsa_key, const char *rsa_cert, const char *ec_key, const char *next_rsa_key,
    const char *next_rsa_cert, const char *next_ec_key)
{
	cfg.keys_rsa_key = (char *)(rsa_key ? rsa_key : "");
	cfg.keys_rsa_cert = (char *)(rsa_cert ? rsa_cert : "");
	cfg.keys_ec_key = (char *)(ec_key ? ec_key : "");
	cfg.keys_next_rsa_key = (char *)(next_rsa_key ? next_rsa_key : "");
	cfg.keys_next_rsa_cert = (char *)(next_rsa_cert ? next_rsa_cert : "");
	cfg.keys_next_ec_key = (char *)(next_ec_key ? next_ec_key : "");
}

/* Loads with the current cfg; returns the rc, *err the message. */
static int
load(struct kh_keyset **ks, char **err)
{
	return kh_keys_load(&cfg, ks, err);
}

static int
expect_refused(const char *what, const char *needle)
{
	struct kh_keyset *ks = NULL;
	char *err = NULL;
	int r = load(&ks, &err);
	int good = r == KH_ERR_CONFIG && ks == NULL && err != NULL && strstr(err, needle) != NULL;

	ok(good, "%s refused (%s)", what, err ? err : "no message");
	free(err);
	kh_keys_free(ks);
	return good;
}

/* base64url decode into a fresh buffer. */
static unsigned char *
b64d(const char *s, size_t n, size_t *outlen)
{
	unsigned char *out = malloc(n + 1);
	int r = kh_b64url_decode(s, n, out, n + 1);

	if (r < 0) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)r;
	return out;
}

static BIGNUM *
b64_bn(const char *s)
{
	size_t n;
	unsigned char *raw = b64d(s, strlen(s), &n);
	BIGNUM *bn = raw ? BN_bin2bn(raw, (int)n, NULL) : NULL;

	free(raw);
	return bn;
}

/* A public EVP_PKEY from one JWK (RSA n/e or EC x/y). */
static EVP_PKEY *
jwk_to_pkey(json_t *jwk)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *n = NULL, *e = NULL;
	unsigned char pub[65], *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;
	const char *kty = json_string_value(json_object_get(jwk, "kty"));

	if (kty != NULL && strcmp(kty, "RSA") == 0) {
		n = b64_bn(json_string_value(json_object_get(jwk, "n")));
		e = b64_bn(json_string_value(json_object_get(jwk, "e")));
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else if (kty != NULL && strcmp(kty, "EC") == 0) {
		const char *xs = json_string_value(json_object_get(jwk, "x"));
		const char *ys = json_string_value(json_object_get(jwk, "y"));

		x = b64d(xs, strlen(xs), &xl);
		y = b64d(ys, strlen(ys), &yl);
		if (x == NULL || y == NULL || xl != 32 || yl != 32)
			goto out;
		pub[0] = 4;
		memcpy(pub + 1, x, 32);
		memcpy(pub + 33, y, 32);
		OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
		OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub));
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	} else
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pk = NULL;
out:
	free(x);
	free(y);
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

/* Verifies a compact JWS with pk; fills *hdr and *claims (decref). */
static int
jws_verify(const char *jwt, EVP_PKEY *pk, json_t **hdr, json_t **claims)
{
	const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	unsigned char *h = NULL, *c = NULL, *sig = NULL, der[128], *p;
	size_t hl, cl, sl;
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *es = NULL;
	int good = 0, derlen;

	*hdr = *claims = NULL;
	if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL)
		return 0;
	if ((h = b64d(jwt, (size_t)(d1 - jwt), &hl)) == NULL ||
	    (c = b64d(d1 + 1, (size_t)(d2 - d1 - 1), &cl)) == NULL ||
	    (sig = b64d(d2 + 1, strlen(d2 + 1), &sl)) == NULL)
		goto out;
	*hdr = json_loadb((char *)h, hl, 0, NULL);
	*claims = json_loadb((char *)c, cl, 0, NULL);
	md = EVP_MD_CTX_new();
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) != 1)
		goto out;
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		BIGNUM *r, *s;

		if (sl != 64)
			goto out;
		es = ECDSA_SIG_new();
		r = BN_bin2bn(sig, 32, NULL);
		s = BN_bin2bn(sig + 32, 32, NULL);
		ECDSA_SIG_set0(es, r, s);
		p = der;
		if ((derlen = i2d_ECDSA_SIG(es, &p)) <= 0)
			goto out;
		good = EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)jwt,
			   (size_t)(d2 - jwt)) == 1;
	} else
		good = EVP_DigestVerify(
			   md, sig, sl, (const unsigned char *)jwt, (size_t)(d2 - jwt)) == 1;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	free(h);
	free(c);
	free(sig);
	return good;
}

static char *
pub_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	PEM_write_bio_PUBKEY(b, k);
	n = BIO_get_mem_data(b, &p);
	out = malloc((size_t)n + 1);
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	return out;
}

static const char *
hstr(json_t *h, const char *k)
{
	const char *s = json_string_value(json_object_get(h, k));

	return s ? s : "";
}

static void
test_rfc7638(void)
{
	static const char n_b64[] =
	    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
	    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
	    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
	    "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
	json_t *jwk = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", n_b64, "e", "AQAB");
	EVP_PKEY *pk = jwk_to_pkey(jwk);
	char kid[KH_KEYS_KID_LEN + 1] = "";

	ok(pk != NULL && kh_keys_thumbprint(pk, kid) == KH_OK &&
		strcmp(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs") == 0,
	    "RFC 7638 §3.1 example key: thumbprint %s", kid);
	EVP_PKEY_free(pk);
	json_decref(jwk);
}

static void
test_empty(void)
{
	struct kh_keyset *ks = NULL;
	struct kh_buf b;
	char *err = NULL, *jwt = (char *)"x";

	cfg_set(NULL, NULL, NULL, NULL, NULL, NULL);
	ok(load(&ks, &err) == KH_OK && ks != NULL && err == NULL, "no [keys]: an empty keyset");
	ok(!kh_keys_have(ks, KH_ALG_RS256) && !kh_keys_have(ks, KH_ALG_ES256) &&
		kh_keys_kid(ks, KH_ALG_RS256) == NULL && kh_keys_saml_key_pem(ks) == NULL &&
		kh_keys_saml_cert_b64(ks) == NULL,
	    "an empty keyset has nothing");
	kh_buf_init(&b, 4096);
	ok(kh_keys_jwks(ks, &b) == KH_OK && strcmp(kh_buf_cstr(&b), "{\"keys\":[]}") == 0,
	    "empty JWKS: {\"keys\":[]}");
	kh_buf_free(&b);
	ok(kh_keys_sign_jwt(ks, KH_ALG_RS256, "JWT", "{}", &jwt) == KH_ERR_NOT_FOUND && jwt == NULL,
	    "signing without a key: NOT_FOUND, output NULL");
	kh_keys_free(ks);
}

/* Keys from certs/gen-dev-keys.sh load and sign. */
static void
test_script(void)
{
	const char *srcdir = getenv("srcdir");
	char cmd[1024], *err = NULL, *jwt = NULL;
	struct kh_keyset *ks = NULL;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s/certs/gen-dev-keys.sh %s/dev 'Test IdP' >/dev/null",
	    srcdir ? srcdir : ".", dir);
	rc = system(cmd);
	ok(rc == 0, "gen-dev-keys.sh runs");
	cfg_set(path("dev/rsa.key"), path("dev/rsa.crt"), path("dev/ec.key"), NULL, NULL, NULL);
	rc = load(&ks, &err);
	ok(rc == KH_OK, "its keys load (%s)", err ? err : "ok");
	ok(ks != NULL && kh_keys_sign_jwt(ks, KH_ALG_RS256, NULL, "{\"a\":1}", &jwt) == KH_OK,
	    "and sign");
	snprintf(cmd, sizeof(cmd), "%s/certs/gen-dev-keys.sh %s/dev 2>/dev/null >/dev/null",
	    srcdir ? srcdir : ".", dir);
	ok(system(cmd) != 0, "gen-dev-keys.sh never overwrites");
	free(jwt);
	free(err);
	kh_keys_free(ks);
}

int
main(void)
{
	EVP_PKEY *rsa, *rsa2, *ec, *ec2, *rsa1024, *p384;
	X509 *crt, *crt2, *expired, *future;
	struct kh_keyset *ks = NULL;
	struct kh_buf b;
	json_t *jwks = NULL, *keys, *hdr, *claims, *k0, *k1;
	EVP_PKEY *pk;
	char *err = NULL, *jwt = NULL, *pem;
	const char *kid_rsa, *kid_ec;
	jwt_t *jt = NULL;
	size_t i;
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	test_rfc7638();
	test_empty();
	test_script();

	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	crt = make_cert(rsa, -60, 86400);
	crt2 = make_cert(rsa2, -60, 86400);
	expired = make_cert(rsa, -86400 * 2, -86400);
	future = make_cert(rsa, 86400, 86400 * 2);
	write_key(rsa, "rsa.key", NULL);
	write_key(rsa2, "rsa2.key", NULL);
	write_key(rsa1024, "rsa1024.key", NULL);
	write_key(ec, "ec.key", NULL);
	write_key(ec2, "ec2.key", NULL);
	write_key(p384, "p384.key", NULL);
	write_key(rsa, "rsa-enc.key", "secret-pass");
	write_cert(crt, "rsa.crt");
	write_cert(crt2, "rsa2.crt");
	write_cert(expired, "expired.crt");
	write_cert(future, "future.crt");
	write_text(
	    "junk.pem", "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n");

	/* --- checks ---------------------------------------------------- */
	cfg_set(path("rsa.key"), path("rsa2.crt"), NULL, NULL, NULL, NULL);
	expect_refused("a certificate for another key", "rsa2.crt");
	cfg_set(path("rsa.key"), path("expired.crt"), NULL, NULL, NULL, NULL);
	expect_refused("an expired certificate", "expired.crt: the certificate has expired");
	cfg_set(path("rsa.key"), path("future.crt"), NULL, NULL, NULL, NULL);
	expect_refused("a certificate not valid yet", "future.crt");
	cfg_set(path("rsa1024.key"), path("rsa.crt"), NULL, NULL, NULL, NULL);
	expect_refused("an RSA-1024 key", "rsa1024.key: RSA key of 1024 bits");
	cfg_set(NULL, NULL, path("p384.key"), NULL, NULL, NULL);
	expect_refused("an EC P-384 key", "p384.key: not an EC key on P-256");
	cfg_set(NULL, NULL, path("rsa.key"), NULL, NULL, NULL);
	expect_refused("an RSA key as ec_key", "rsa.key: not an EC key");
	cfg_set(path("ec.key"), path("rsa.crt"), NULL, NULL, NULL, NULL);
	expect_refused("an EC key as rsa_key", "ec.key: not an RSA key");
	cfg_set(path("rsa-enc.key"), path("rsa.crt"), NULL, NULL, NULL, NULL);
	expect_refused("an encrypted key (no prompt)", "rsa-enc.key: not an unencrypted PEM");
	cfg_set(path("junk.pem"), path("rsa.crt"), NULL, NULL, NULL, NULL);
	expect_refused("a corrupt PEM", "junk.pem");
	cfg_set(path("missing.key"), path("rsa.crt"), NULL, NULL, NULL, NULL);
	expect_refused("a missing file", "missing.key: cannot open");
	cfg_set(path("rsa.key"), path("rsa.key"), NULL, NULL, NULL, NULL);
	expect_refused("a key given as the certificate", "not a PEM certificate");
	cfg_set(path("rsa.key"), NULL, NULL, NULL, NULL, NULL);
	expect_refused("rsa_key without rsa_cert", "go together");
	cfg_set(NULL, NULL, NULL, NULL, NULL, path("ec.key"));
	expect_refused("next_ec_key without ec_key", "next_");
	cfg_set(path("rsa.key"), path("rsa.crt"), NULL, path("rsa.key"), path("rsa.crt"), NULL);
	expect_refused("next key = current key", "same as the current");

	/* --- a full keyset --------------------------------------------- */
	cfg_set(path("rsa.key"), path("rsa.crt"), path("ec.key"), path("rsa2.key"),
	    path("rsa2.crt"), path("ec2.key"));
	rc = load(&ks, &err);
	ok(rc == KH_OK && ks != NULL && err == NULL, "a full keyset loads (%s)", err ? err : "ok");
	if (ks == NULL) {
		free(err);
		return tap_done();
	}
	kid_rsa = kh_keys_kid(ks, KH_ALG_RS256);
	kid_ec = kh_keys_kid(ks, KH_ALG_ES256);
	ok(kh_keys_have(ks, KH_ALG_RS256) && kh_keys_have(ks, KH_ALG_ES256) && kid_rsa && kid_ec &&
		strlen(kid_rsa) == 43 && strlen(kid_ec) == 43 && strcmp(kid_rsa, kid_ec) != 0,
	    "both algorithms present, with 43-character kids");
	{
		char k1s[44], k2s[44];

		kh_keys_thumbprint(rsa, k1s);
		kh_keys_thumbprint(ec, k2s);
		ok(strcmp(k1s, kid_rsa) == 0 && strcmp(k2s, kid_ec) == 0,
		    "kids are the thumbprints of the current keys");
	}

	kh_buf_init(&b, 65536);
	ok(kh_keys_jwks(ks, &b) == KH_OK && (jwks = json_loads(kh_buf_cstr(&b), 0, NULL)) != NULL,
	    "JWKS is JSON");
	keys = json_object_get(jwks, "keys");
	ok(json_array_size(keys) == 4, "JWKS has current and next keys (4)");
	k0 = json_array_get(keys, 0);
	k1 = json_array_get(keys, 1);
	ok(strcmp(hstr(k0, "kid"), kid_rsa) == 0 && strcmp(hstr(k0, "alg"), "RS256") == 0 &&
		strcmp(hstr(k0, "use"), "sig") == 0 && strcmp(hstr(k0, "kty"), "RSA") == 0 &&
		json_array_size(json_object_get(k0, "x5c")) == 1,
	    "JWKS RSA key: kid, alg RS256, use sig, x5c");
	ok(strcmp(hstr(k1, "kid"), kid_ec) == 0 && strcmp(hstr(k1, "alg"), "ES256") == 0 &&
		strcmp(hstr(k1, "crv"), "P-256") == 0 && strlen(hstr(k1, "x")) == 43 &&
		strlen(hstr(k1, "y")) == 43,
	    "JWKS EC key: kid, alg ES256, P-256, 32-byte x and y");
	ok(strstr(kh_buf_cstr(&b), "\"d\"") == NULL && strstr(kh_buf_cstr(&b), "\"p\"") == NULL,
	    "JWKS holds no private members");
	for (i = 0; i < 4; i++) {
		char kid[44] = "";
		json_t *k = json_array_get(keys, i);

		pk = jwk_to_pkey(k);
		ok(pk != NULL && kh_keys_thumbprint(pk, kid) == KH_OK &&
			strcmp(kid, hstr(k, "kid")) == 0,
		    "JWKS key %zu: kid = thumbprint of its published members", i);
		EVP_PKEY_free(pk);
	}

	/* --- RS256 --------------------------------------------------------- */
	rc = kh_keys_sign_jwt(ks, KH_ALG_RS256, "JWT",
	    "{\"iss\":\"https://idp.example.jp\",\"sub\":\"taro\",\"名前\":\"山田\"}", &jwt);
	ok(rc == KH_OK && jwt != NULL, "RS256 signs");
	pk = jwk_to_pkey(k0);
	ok(jwt && jws_verify(jwt, pk, &hdr, &claims), "RS256 verifies with the JWKS key");
	ok(strcmp(hstr(hdr, "alg"), "RS256") == 0 && strcmp(hstr(hdr, "kid"), kid_rsa) == 0 &&
		strcmp(hstr(hdr, "typ"), "JWT") == 0 && json_object_size(hdr) == 3,
	    "RS256 header: alg, kid, typ JWT");
	ok(strcmp(hstr(claims, "sub"), "taro") == 0 && strcmp(hstr(claims, "名前"), "山田") == 0,
	    "claims round-trip (UTF-8 included)");
	json_decref(hdr);
	json_decref(claims);
	EVP_PKEY_free(pk);
	pem = pub_pem(rsa);
	ok(jwt_decode(&jt, jwt, (unsigned char *)pem, (int)strlen(pem)) == 0 &&
		jwt_get_alg(jt) == JWT_ALG_RS256 && strcmp(jwt_get_grant(jt, "sub"), "taro") == 0,
	    "libjwt verifies the RS256 token");
	jwt_free(jt);
	jt = NULL;
	free(pem);
	pem = pub_pem(rsa2);
	ok(jwt_decode(&jt, jwt, (unsigned char *)pem, (int)strlen(pem)) != 0,
	    "libjwt refuses it with the next key");
	jwt_free(jt);
	jt = NULL;
	free(pem);
	/* tamper */
	{
		char *t = strdup(jwt), *dot = strchr(t, '.');

		dot[1] = dot[1] == 'e' ? 'f' : 'e';
		pk = jwk_to_pkey(k0);
		ok(!jws_verify(t, pk, &hdr, &claims), "a tampered payload does not verify");
		json_decref(hdr);
		json_decref(claims);
		EVP_PKEY_free(pk);
		free(t);
	}
	free(jwt);
	jwt = NULL;

	/* --- ES256 ------------------------------------------------------------ */
	rc = kh_keys_sign_jwt(
	    ks, KH_ALG_ES256, "at+jwt", "{\"sub\":\"hanako\",\"exp\":2000000000}", &jwt);
	ok(rc == KH_OK && jwt != NULL, "ES256 signs");
	pk = jwk_to_pkey(k1);
	ok(jwt && jws_verify(jwt, pk, &hdr, &claims),
	    "ES256 (raw r||s) verifies with the JWKS key");
	ok(strcmp(hstr(hdr, "alg"), "ES256") == 0 && strcmp(hstr(hdr, "kid"), kid_ec) == 0 &&
		strcmp(hstr(hdr, "typ"), "at+jwt") == 0,
	    "ES256 header carries typ at+jwt");
	ok(json_integer_value(json_object_get(claims, "exp")) == 2000000000, "numeric claims kept");
	json_decref(hdr);
	json_decref(claims);
	EVP_PKEY_free(pk);
	{
		const char *sig = strrchr(jwt, '.') + 1;

		ok(strlen(sig) == 86, "ES256 signature is 64 bytes (86 base64url characters)");
	}
	free(jwt);
	jwt = NULL;
	rc = kh_keys_sign_jwt(ks, KH_ALG_ES256, "JWT", "{\"sub\":\"hanako\"}", &jwt);
	pem = pub_pem(ec);
	ok(rc == KH_OK && jwt_decode(&jt, jwt, (unsigned char *)pem, (int)strlen(pem)) == 0 &&
		jwt_get_alg(jt) == JWT_ALG_ES256,
	    "libjwt verifies the ES256 token");
	jwt_free(jt);
	jt = NULL;
	free(pem);
	free(jwt);
	jwt = NULL;

	rc = kh_keys_sign_jwt(ks, KH_ALG_RS256, "logout+jwt", "{\"events\":{}}", &jwt);
	pk = jwk_to_pkey(k0);
	ok(rc == KH_OK && jws_verify(jwt, pk, &hdr, &claims) &&
		strcmp(hstr(hdr, "typ"), "logout+jwt") == 0,
	    "typ logout+jwt with RS256");
	json_decref(hdr);
	json_decref(claims);
	EVP_PKEY_free(pk);
	free(jwt);
	jwt = NULL;

	/* --- bad input --------------------------------------------------------- */
	ok(kh_keys_sign_jwt(ks, KH_ALG_RS256, "JWT", "[1,2]", &jwt) == KH_ERR_INVALID &&
		jwt == NULL,
	    "claims must be an object");
	ok(kh_keys_sign_jwt(ks, KH_ALG_RS256, "JWT", "{\"a\":1,\"a\":2}", &jwt) == KH_ERR_INVALID,
	    "duplicate claims refused");
	ok(kh_keys_sign_jwt(ks, KH_ALG_RS256, "JWT", "{\"a\":", &jwt) == KH_ERR_INVALID,
	    "malformed claims refused");
	ok(kh_keys_sign_jwt(ks, KH_ALG_RS256, "a\"b", "{}", &jwt) == KH_ERR_INVALID &&
		kh_keys_sign_jwt(ks, KH_ALG_RS256, "", "{}", &jwt) == KH_ERR_INVALID &&
		kh_keys_sign_jwt(ks, KH_ALG_RS256, "a b", "{}", &jwt) == KH_ERR_INVALID,
	    "bad typ values refused");
	ok(kh_keys_sign_jwt(ks, (enum kh_jws_alg)99, "JWT", "{}", &jwt) == KH_ERR_NOT_FOUND,
	    "unknown alg: NOT_FOUND");
	{
		char *big = malloc(70000);

		memset(big, 'a', 69999);
		big[0] = '{';
		big[69998] = '}';
		big[69999] = '\0';
		ok(kh_keys_sign_jwt(ks, KH_ALG_RS256, "JWT", big, &jwt) == KH_ERR_TOO_LARGE,
		    "oversize claims refused");
		free(big);
	}

	/* --- SAML credentials --------------------------------------------------- */
	{
		const char *kp = kh_keys_saml_key_pem(ks), *cp = kh_keys_saml_cert_pem(ks);
		const char *cb = kh_keys_saml_cert_b64(ks), *nb = kh_keys_saml_next_cert_b64(ks);
		unsigned char *der = NULL;
		int dl = i2d_X509(crt, &der);
		char *want = malloc(4 * ((size_t)dl + 2) / 3 + 8);

		EVP_EncodeBlock((unsigned char *)want, der, dl);
		ok(kp && strncmp(kp, "-----BEGIN PRIVATE KEY-----", 27) == 0,
		    "SAML key is PKCS#8 PEM");
		ok(cp && strncmp(cp, "-----BEGIN CERTIFICATE-----", 27) == 0, "SAML cert is PEM");
		ok(cb && strcmp(cb, want) == 0 && strchr(cb, '\n') == NULL,
		    "cert_b64 is the base64 DER, one line, no armour");
		ok(nb && strcmp(nb, cb) != 0, "next cert b64 present and different");
		OPENSSL_free(der);
		free(want);
	}

	json_decref(jwks);
	kh_buf_free(&b);
	kh_keys_free(ks);
	free(err);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec2);
	EVP_PKEY_free(p384);
	X509_free(crt);
	X509_free(crt2);
	X509_free(expired);
	X509_free(future);
	snprintf(dir + strlen(dir), 1, "%s", "");
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			ok(0, "cleanup");
	}
	return tap_done();
}
