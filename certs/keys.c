/* Signing keys on OpenSSL 3: loading and checking the PEM files of [keys],
 * RFC 7638 thumbprints as kids, the JWKS document and JWS signing.
 *
 * JWS are built here with EVP_DigestSign rather than with libjwt: libjwt
 * 1.10 always writes typ "JWT", and access tokens ("at+jwt") and logout
 * tokens ("logout+jwt") need other values (RFC 9068, OIDC Back-Channel
 * Logout). RS256 = RSASSA-PKCS1-v1_5 with SHA-256; ES256 = ECDSA P-256 with
 * SHA-256, signature as the raw 64-byte r ‖ s (RFC 7518 §3.4), converted
 * from OpenSSL's DER. The unit test checks the tokens with libjwt too.
 *
 * A keyset is immutable once loaded: EVP_PKEY objects are safe to use for
 * signing from several threads at once (one EVP_MD_CTX per call). */
#include "certs/keys.h"
#include "certs/keys_internal.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"

#define KEYS_PEM_MAX (64 * 1024) /* one PEM file */
#define KEYS_RSA_MIN_BITS 2048
#define KEYS_RSA_MAX_BITS 8192
#define KEYS_CLAIMS_MAX (64 * 1024)
#define KEYS_TYP_MAX 32
#define KEYS_JWKS_MAX (64 * 1024)

struct kh_key {
	EVP_PKEY *pkey; /* NULL when not configured */
	X509 *cert; /* RSA only */
	enum kh_jws_alg alg;
	char kid[KH_KEYS_KID_LEN + 1];
	char *key_pem; /* PKCS#8, RSA only; wiped on free */
	char *cert_pem;
	char *cert_b64; /* base64 DER, no armour */
};

struct kh_keyset {
	struct kh_key rsa, ec, next_rsa, next_ec;
};

static int set_errmsg(char **errmsg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
set_errmsg(char **errmsg, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	if (errmsg == NULL || *errmsg != NULL)
		return KH_ERR_CONFIG;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	*errmsg = kh_strdup(buf);
	return KH_ERR_CONFIG;
}

static int
configured(const char *path)
{
	return path != NULL && path[0] != '\0';
}

/* Never prompts for a passphrase: encrypted keys are refused. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Reads a whole PEM file (at most KEYS_PEM_MAX bytes) into a memory BIO.
 * *data is wiped and freed by the caller with kh_freezero(data, len + 1). */
static int
read_file(const char *path, char **data, size_t *len, char **errmsg)
{
	FILE *fp = NULL;
	char *buf = NULL;
	size_t n;
	int r = KH_ERR_CONFIG;

	*data = NULL;
	*len = 0;
	if ((fp = fopen(path, "rb")) == NULL)
		return set_errmsg(errmsg, "[keys] %s: cannot open", path);
	if ((buf = malloc(KEYS_PEM_MAX + 1)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	n = fread(buf, 1, KEYS_PEM_MAX + 1, fp);
	if (ferror(fp)) {
		r = set_errmsg(errmsg, "[keys] %s: read error", path);
		goto out;
	}
	if (n > KEYS_PEM_MAX) {
		r = set_errmsg(errmsg, "[keys] %s: larger than %d bytes", path, KEYS_PEM_MAX);
		goto out;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	buf = NULL; /* transferred */
	r = KH_OK;
out:
	if (buf != NULL)
		kh_freezero(buf, KEYS_PEM_MAX + 1);
	if (fp != NULL)
		fclose(fp);
	return r;
}

static int
load_private_key(const char *path, EVP_PKEY **out, char **errmsg)
{
	struct stat sb;
	char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	int r;

	*out = NULL;
	if ((r = read_file(path, &data, &len, errmsg)) != KH_OK)
		return r;
	if (stat(path, &sb) == 0 && (sb.st_mode & 0077) != 0)
		kh_warn("keys.permissions", "file", path, "error",
		    "private key readable by group or others", NULL);
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	if ((*out = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)) == NULL) {
		r = set_errmsg(errmsg, "[keys] %s: not an unencrypted PEM private key", path);
		goto out;
	}
	r = KH_OK;
out:
	ERR_clear_error();
	BIO_free(bio);
	kh_freezero(data, len + 1);
	return r;
}

static int
load_cert(const char *path, X509 **out, char **errmsg)
{
	char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	int r;

	*out = NULL;
	if ((r = read_file(path, &data, &len, errmsg)) != KH_OK)
		return r;
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	if ((*out = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) == NULL) {
		r = set_errmsg(errmsg, "[keys] %s: not a PEM certificate", path);
		goto out;
	}
	r = KH_OK;
out:
	ERR_clear_error();
	BIO_free(bio);
	kh_freezero(data, len + 1);
	return r;
}

/* base64url of a big number parameter: minimal bytes (RSA) or padded to
 * pad bytes (EC coordinates). */
static int
bn_param_b64(const EVP_PKEY *pkey, const char *name, int pad, char **out)
{
	BIGNUM *bn = NULL;
	unsigned char *raw = NULL;
	int n, r = KH_ERR_CRYPTO;

	*out = NULL;
	if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1)
		goto out;
	n = pad > 0 ? pad : BN_num_bytes(bn);
	if (n <= 0 || n > KEYS_RSA_MAX_BITS / 8 || (raw = malloc((size_t)n)) == NULL) {
		r = n <= 0 || n > KEYS_RSA_MAX_BITS / 8 ? KH_ERR_CRYPTO : KH_ERR_NOMEM;
		goto out;
	}
	if ((pad > 0 ? BN_bn2binpad(bn, raw, n) : BN_bn2bin(bn, raw)) != n)
		goto out;
	if ((*out = malloc(kh_b64url_enclen((size_t)n))) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	kh_b64url_encode(raw, (size_t)n, *out);
	r = KH_OK;
out:
	ERR_clear_error();
	free(raw);
	BN_free(bn);
	return r;
}

/* The public JWK members of a key. With canonical set, exactly the required
 * members in lexicographic order (RFC 7638 §3.2) — jansson keeps insertion
 * order, and JSON_COMPACT leaves no white space. */
static int
jwk_public(const EVP_PKEY *pkey, enum kh_jws_alg alg, json_t **out)
{
	char *a = NULL, *b = NULL;
	json_t *o = NULL;
	int r;

	*out = NULL;
	if (alg == KH_ALG_RS256) {
		if ((r = bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0, &a)) != KH_OK ||
		    (r = bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0, &b)) != KH_OK)
			goto out;
		o = json_pack("{s:s, s:s, s:s}", "e", a, "kty", "RSA", "n", b);
	} else {
		if ((r = bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32, &a)) != KH_OK ||
		    (r = bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32, &b)) != KH_OK)
			goto out;
		o = json_pack("{s:s, s:s, s:s, s:s}", "crv", "P-256", "kty", "EC", "x", a, "y", b);
	}
	if (o == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	*out = o;
	r = KH_OK;
out:
	free(a);
	free(b);
	return r;
}

int
kh_keys_thumbprint(const EVP_PKEY *pkey, char kid[KH_KEYS_KID_LEN + 1])
{
	unsigned char md[32];
	char enc[64];
	unsigned int mdlen = 0;
	enum kh_jws_alg alg;
	json_t *o = NULL;
	char *s = NULL;
	int r;

	kid[0] = '\0';
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
		alg = KH_ALG_RS256;
	else if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC)
		alg = KH_ALG_ES256;
	else
		return KH_ERR_INVALID;
	if ((r = jwk_public(pkey, alg, &o)) != KH_OK)
		return r;
	if ((s = json_dumps(o, JSON_COMPACT)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	if (EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		r = KH_ERR_CRYPTO;
		goto out;
	}
	/* The encoder writes the padded form first: it needs
	 * kh_b64url_enclen(32) = 45 bytes, one more than kid holds. */
	kh_b64url_encode(md, mdlen, enc);
	if (strlen(enc) != KH_KEYS_KID_LEN) {
		r = KH_ERR_INTERNAL;
		goto out;
	}
	memcpy(kid, enc, KH_KEYS_KID_LEN + 1);
	r = KH_OK;
out:
	free(s);
	json_decref(o);
	return r;
}

static int
pem_of_bio(BIO *bio, char **out)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);

	*out = NULL;
	if (n <= 0 || p == NULL)
		return KH_ERR_CRYPTO;
	if ((*out = malloc((size_t)n + 1)) == NULL)
		return KH_ERR_NOMEM;
	memcpy(*out, p, (size_t)n);
	(*out)[n] = '\0';
	return KH_OK;
}

/* PEM of the private key (PKCS#8) and of the certificate, and the base64
 * DER of the certificate, for lasso and the SAML metadata. */
static int
export_rsa(struct kh_key *k)
{
	BIO *bio = NULL;
	unsigned char *der = NULL;
	int n, r = KH_ERR_CRYPTO;

	if ((bio = BIO_new(BIO_s_secmem())) == NULL)
		goto out;
	if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	if ((r = pem_of_bio(bio, &k->key_pem)) != KH_OK)
		goto out;
	BIO_free(bio);
	r = KH_ERR_CRYPTO;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (PEM_write_bio_X509(bio, k->cert) != 1)
		goto out;
	if ((r = pem_of_bio(bio, &k->cert_pem)) != KH_OK)
		goto out;
	r = KH_ERR_CRYPTO;
	if ((n = i2d_X509(k->cert, &der)) <= 0)
		goto out;
	if ((k->cert_b64 = malloc(4 * (((size_t)n + 2) / 3) + 1)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)k->cert_b64, der, n);
	r = KH_OK;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	BIO_free(bio);
	return r;
}

static int
load_key(const char *key_path, const char *cert_path, enum kh_jws_alg alg, struct kh_key *k,
    char **errmsg)
{
	char group[64];
	size_t glen = 0;
	EVP_PKEY *certpub;
	int bits, r;

	memset(k, 0, sizeof(*k));
	k->alg = alg;
	if ((r = load_private_key(key_path, &k->pkey, errmsg)) != KH_OK)
		return r;
	if (alg == KH_ALG_RS256) {
		if (EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA)
			return set_errmsg(errmsg, "[keys] %s: not an RSA key", key_path);
		bits = EVP_PKEY_get_bits(k->pkey);
		if (bits < KEYS_RSA_MIN_BITS || bits > KEYS_RSA_MAX_BITS)
			return set_errmsg(errmsg,
			    "[keys] %s: RSA key of %d bits (%d to %d required)", key_path, bits,
			    KEYS_RSA_MIN_BITS, KEYS_RSA_MAX_BITS);
	} else {
		if (EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_EC ||
		    EVP_PKEY_get_utf8_string_param(
			k->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) != 1 ||
		    strcmp(group, "prime256v1") != 0) {
			ERR_clear_error();
			return set_errmsg(errmsg, "[keys] %s: not an EC key on P-256", key_path);
		}
	}
	if (cert_path != NULL) {
		if ((r = load_cert(cert_path, &k->cert, errmsg)) != KH_OK)
			return r;
		if ((certpub = X509_get0_pubkey(k->cert)) == NULL ||
		    EVP_PKEY_eq(certpub, k->pkey) != 1) {
			ERR_clear_error();
			return set_errmsg(errmsg,
			    "[keys] %s: the certificate does not match the key in %s", cert_path,
			    key_path);
		}
		if (X509_cmp_current_time(X509_get0_notAfter(k->cert)) <= 0)
			return set_errmsg(
			    errmsg, "[keys] %s: the certificate has expired", cert_path);
		if (X509_cmp_current_time(X509_get0_notBefore(k->cert)) > 0)
			return set_errmsg(
			    errmsg, "[keys] %s: the certificate is not valid yet", cert_path);
		if ((r = export_rsa(k)) != KH_OK)
			return r;
	}
	return kh_keys_thumbprint(k->pkey, k->kid);
}

static void
key_free(struct kh_key *k)
{
	EVP_PKEY_free(k->pkey);
	X509_free(k->cert);
	if (k->key_pem != NULL)
		kh_free_str(k->key_pem);
	free(k->cert_pem);
	free(k->cert_b64);
	explicit_bzero(k, sizeof(*k));
}

void
kh_keys_free(struct kh_keyset *ks)
{
	if (ks == NULL)
		return;
	key_free(&ks->rsa);
	key_free(&ks->ec);
	key_free(&ks->next_rsa);
	key_free(&ks->next_ec);
	free(ks);
}

int
kh_keys_load(const struct kh_config *cfg, struct kh_keyset **out, char **errmsg)
{
	struct kh_keyset *ks = NULL;
	int r = KH_ERR_INTERNAL;

	if (out != NULL)
		*out = NULL;
	if (errmsg != NULL)
		*errmsg = NULL;
	if (cfg == NULL || out == NULL)
		return KH_ERR_INVALID;
	if ((ks = calloc(1, sizeof(*ks))) == NULL)
		return KH_ERR_NOMEM;
	if (configured(cfg->keys_rsa_key) != configured(cfg->keys_rsa_cert) ||
	    configured(cfg->keys_next_rsa_key) != configured(cfg->keys_next_rsa_cert)) {
		r = set_errmsg(errmsg, "[keys] an RSA key and its certificate go together");
		goto out;
	}
	if ((configured(cfg->keys_next_rsa_key) && !configured(cfg->keys_rsa_key)) ||
	    (configured(cfg->keys_next_ec_key) && !configured(cfg->keys_ec_key))) {
		r = set_errmsg(errmsg, "[keys] a next_* key needs the current key of its kind");
		goto out;
	}
	if (configured(cfg->keys_rsa_key) &&
	    (r = load_key(cfg->keys_rsa_key, cfg->keys_rsa_cert, KH_ALG_RS256, &ks->rsa, errmsg)) !=
		KH_OK)
		goto out;
	if (configured(cfg->keys_next_rsa_key) &&
	    (r = load_key(cfg->keys_next_rsa_key, cfg->keys_next_rsa_cert, KH_ALG_RS256,
		 &ks->next_rsa, errmsg)) != KH_OK)
		goto out;
	if (configured(cfg->keys_ec_key) &&
	    (r = load_key(cfg->keys_ec_key, NULL, KH_ALG_ES256, &ks->ec, errmsg)) != KH_OK)
		goto out;
	if (configured(cfg->keys_next_ec_key) &&
	    (r = load_key(cfg->keys_next_ec_key, NULL, KH_ALG_ES256, &ks->next_ec, errmsg)) !=
		KH_OK)
		goto out;
	if ((ks->next_rsa.pkey != NULL && strcmp(ks->rsa.kid, ks->next_rsa.kid) == 0) ||
	    (ks->next_ec.pkey != NULL && strcmp(ks->ec.kid, ks->next_ec.kid) == 0)) {
		r = set_errmsg(errmsg, "[keys] a next_* key is the same as the current key");
		goto out;
	}
	*out = ks;
	ks = NULL; /* transferred */
	r = KH_OK;
out:
	if (r != KH_OK && errmsg != NULL && *errmsg == NULL)
		set_errmsg(errmsg, "[keys] cannot load the keys: %s", kh_strerror(r));
	kh_keys_free(ks);
	return r;
}

static const struct kh_key *
current(const struct kh_keyset *ks, enum kh_jws_alg alg)
{
	const struct kh_key *k;

	if (ks == NULL)
		return NULL;
	if (alg == KH_ALG_RS256)
		k = &ks->rsa;
	else if (alg == KH_ALG_ES256)
		k = &ks->ec;
	else
		return NULL;
	return k->pkey != NULL ? k : NULL;
}

int
kh_keys_have(const struct kh_keyset *ks, enum kh_jws_alg alg)
{
	return current(ks, alg) != NULL;
}

const char *
kh_keys_kid(const struct kh_keyset *ks, enum kh_jws_alg alg)
{
	const struct kh_key *k = current(ks, alg);

	return k != NULL ? k->kid : NULL;
}

static const char *
alg_name(enum kh_jws_alg alg)
{
	return alg == KH_ALG_RS256 ? "RS256" : "ES256";
}

static int
jwks_add(json_t *keys, const struct kh_key *k)
{
	json_t *o = NULL;
	int r;

	if (k->pkey == NULL)
		return KH_OK;
	if ((r = jwk_public(k->pkey, k->alg, &o)) != KH_OK)
		return r;
	if (json_object_set_new(o, "use", json_string("sig")) != 0 ||
	    json_object_set_new(o, "alg", json_string(alg_name(k->alg))) != 0 ||
	    json_object_set_new(o, "kid", json_string(k->kid)) != 0 ||
	    (k->cert_b64 != NULL &&
		json_object_set_new(o, "x5c", json_pack("[s]", k->cert_b64)) != 0) ||
	    json_array_append_new(keys, o) != 0) {
		json_decref(o);
		return KH_ERR_NOMEM;
	}
	return KH_OK;
}

int
kh_keys_jwks(const struct kh_keyset *ks, struct kh_buf *out)
{
	json_t *doc = NULL, *keys;
	char *s = NULL;
	int r;

	if (ks == NULL || out == NULL)
		return KH_ERR_INVALID;
	if ((doc = json_object()) == NULL || (keys = json_array()) == NULL ||
	    json_object_set_new(doc, "keys", keys) != 0) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	if ((r = jwks_add(keys, &ks->rsa)) != KH_OK || (r = jwks_add(keys, &ks->ec)) != KH_OK ||
	    (r = jwks_add(keys, &ks->next_rsa)) != KH_OK ||
	    (r = jwks_add(keys, &ks->next_ec)) != KH_OK)
		goto out;
	if ((s = json_dumps(doc, JSON_COMPACT)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	r = kh_buf_append_str(out, s);
out:
	free(s);
	json_decref(doc);
	return r;
}

/* base64url of len bytes appended to b. */
static int
append_b64url(struct kh_buf *b, const void *p, size_t len)
{
	char *enc;
	int r;

	if ((enc = malloc(kh_b64url_enclen(len))) == NULL)
		return KH_ERR_NOMEM;
	kh_b64url_encode(p, len, enc);
	r = kh_buf_append_str(b, enc);
	free(enc);
	return r;
}

/* Signs in (SHA-256) with k; the JWS signature bytes into sig/siglen
 * (sig holds at least KEYS_RSA_MAX_BITS / 8 bytes). */
static int
jws_sign(const struct kh_key *k, const char *in, size_t inlen, unsigned char *sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char der[256];
	const unsigned char *p;
	size_t derlen = sizeof(der);
	ECDSA_SIG *es = NULL;
	const BIGNUM *br, *bs;
	int r = KH_ERR_CRYPTO;

	*siglen = 0;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) != 1)
		goto out;
	if (k->alg == KH_ALG_RS256) {
		/* The default RSA padding is PKCS#1 v1.5: RS256. */
		*siglen = KEYS_RSA_MAX_BITS / 8;
		if (EVP_DigestSign(ctx, sig, siglen, (const unsigned char *)in, inlen) != 1)
			goto out;
	} else {
		if (EVP_DigestSign(ctx, der, &derlen, (const unsigned char *)in, inlen) != 1)
			goto out;
		p = der;
		if ((es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
			goto out;
		ECDSA_SIG_get0(es, &br, &bs);
		if (BN_bn2binpad(br, sig, 32) != 32 || BN_bn2binpad(bs, sig + 32, 32) != 32)
			goto out;
		*siglen = 64;
	}
	r = KH_OK;
out:
	ERR_clear_error();
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	return r;
}

static int
typ_ok(const char *typ)
{
	size_t i;

	for (i = 0; typ[i] != '\0'; i++)
		if (i >= KEYS_TYP_MAX || typ[i] <= ' ' || typ[i] > '~' || typ[i] == '"' ||
		    typ[i] == '\\')
			return 0;
	return i > 0;
}

int
kh_keys_sign_jwt(const struct kh_keyset *ks, enum kh_jws_alg alg, const char *typ,
    const char *claims_json, char **jwt)
{
	const struct kh_key *k;
	struct kh_buf b;
	json_t *claims = NULL, *hdr = NULL;
	char *hs = NULL, *cs = NULL;
	unsigned char sig[KEYS_RSA_MAX_BITS / 8];
	size_t siglen = 0, len;
	int r;

	kh_buf_init(&b, 2 * KEYS_CLAIMS_MAX);
	if (jwt != NULL)
		*jwt = NULL;
	if (jwt == NULL || claims_json == NULL)
		return KH_ERR_INVALID;
	if (typ == NULL)
		typ = "JWT";
	if (!typ_ok(typ))
		return KH_ERR_INVALID;
	if ((k = current(ks, alg)) == NULL)
		return KH_ERR_NOT_FOUND;
	if (strlen(claims_json) > KEYS_CLAIMS_MAX)
		return KH_ERR_TOO_LARGE;
	/* The claims must be one JSON object without duplicate members; they
	 * are re-serialised compactly. */
	if ((claims = json_loads(claims_json, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(claims)) {
		r = KH_ERR_INVALID;
		goto out;
	}
	if ((hdr = json_pack("{s:s, s:s, s:s}", "alg", alg_name(alg), "kid", k->kid, "typ", typ)) ==
		NULL ||
	    (hs = json_dumps(hdr, JSON_COMPACT)) == NULL ||
	    (cs = json_dumps(claims, JSON_COMPACT)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	if ((r = append_b64url(&b, hs, strlen(hs))) != KH_OK ||
	    (r = kh_buf_append(&b, ".", 1)) != KH_OK ||
	    (r = append_b64url(&b, cs, strlen(cs))) != KH_OK)
		goto out;
	if ((r = jws_sign(k, kh_buf_cstr(&b), b.len, sig, &siglen)) != KH_OK)
		goto out;
	if ((r = kh_buf_append(&b, ".", 1)) != KH_OK ||
	    (r = append_b64url(&b, sig, siglen)) != KH_OK)
		goto out;
	/* Handed out as a plain malloc'd string: free(). */
	if ((*jwt = malloc(b.len + 1)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	len = b.len;
	memcpy(*jwt, kh_buf_cstr(&b), len + 1);
	r = KH_OK;
out:
	kh_buf_free(&b);
	free(hs);
	free(cs);
	json_decref(hdr);
	json_decref(claims);
	return r;
}

const char *
kh_keys_saml_key_pem(const struct kh_keyset *ks)
{
	return ks != NULL ? ks->rsa.key_pem : NULL;
}

const char *
kh_keys_saml_cert_pem(const struct kh_keyset *ks)
{
	return ks != NULL ? ks->rsa.cert_pem : NULL;
}

const char *
kh_keys_saml_cert_b64(const struct kh_keyset *ks)
{
	return ks != NULL ? ks->rsa.cert_b64 : NULL;
}

const char *
kh_keys_saml_next_cert_b64(const struct kh_keyset *ks)
{
	return ks != NULL ? ks->next_rsa.cert_b64 : NULL;
}
