/* idp/webauthn.h: registration ("none", "packed" self and x5c) and
 * assertions (ES256, RS256, EdDSA), built here with OpenSSL keys and
 * certificates and libcbor encoding; every check that should refuse, caps,
 * truncation and trailing bytes; the stored credential JSON.
 *
 * With KH_WA_CORPUS=DIR set, the valid inputs are also written to DIR in the
 * input format of tests/fuzz/fuzz_webauthn.c (the seed corpus
 * tests/fuzz/corpus/webauthn/ was made that way). */
#include <cbor.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/errors.h"
#include "idp/webauthn.h"
#include "tests/unit/tap.h"

/* shared with tests/fuzz/fuzz_webauthn.c */
#define RP_ID "localhost"
#define ORIGIN "http://localhost:8080"

#define JSON_TMPL                                                                                  \
	"{\"id\":\"%s\",\"alg\":%s,\"pubkey\":\"%s\",\"sign_count\":%s,\"aaguid\":\"%s\","         \
	"\"fmt\":\"%s\",\"uv\":%s,\"backup_eligible\":false%s}"

#define ES256 (-7)
#define RS256 (-257)
#define EDDSA (-8)
#define F_UP 0x01
#define F_UV 0x04
#define F_BE 0x08
#define F_BS 0x10
#define F_AT 0x40
#define F_ED 0x80

enum { ATT_NONE, ATT_SELF, ATT_X5C };

static char challenge[64];
static const unsigned char aaguid[16] = { 0xf8, 0xa0, 0x11, 0xf3, 0x8c, 0x0a, 0x4d, 0x15, 0x80,
	0x06, 0x17, 0x11, 0x1f, 0x9e, 0xdc, 0x7d };
static const unsigned char cred_id[20] = "kakehashi-cred-id-01";

static void
die(const char *what)
{
	fprintf(stderr, "test_webauthn: %s\n", what);
	exit(2);
}

static char *
b64(const void *p, size_t n)
{
	char *s = malloc(kh_b64url_enclen(n));

	if (s == NULL)
		die("out of memory");
	kh_b64url_encode(p, n, s);
	return s;
}

/* ---- CBOR building ---- */

static cbor_item_t *
cint(int64_t v)
{
	uint64_t u = v >= 0 ? (uint64_t)v : (uint64_t)(-1 - v);
	cbor_item_t *it;

	if (u < 256)
		it = v >= 0 ? cbor_build_uint8((uint8_t)u) : cbor_build_negint8((uint8_t)u);
	else if (u < 65536)
		it = v >= 0 ? cbor_build_uint16((uint16_t)u) : cbor_build_negint16((uint16_t)u);
	else
		it = v >= 0 ? cbor_build_uint32((uint32_t)u) : cbor_build_negint32((uint32_t)u);
	if (it == NULL)
		die("cbor");
	return it;
}

static void
put(cbor_item_t *map, cbor_item_t *k, cbor_item_t *v)
{
	if (k == NULL || v == NULL ||
	    !cbor_map_add(map, (struct cbor_pair){ .key = cbor_move(k), .value = cbor_move(v) }))
		die("cbor_map_add");
}

static cbor_item_t *
cbytes(const void *p, size_t n)
{
	cbor_item_t *it = cbor_build_bytestring(p, n);

	if (it == NULL)
		die("cbor bytes");
	return it;
}

static unsigned char *
serialize(cbor_item_t *it, size_t *n)
{
	unsigned char *buf = NULL;
	size_t cap = 0;

	if ((*n = cbor_serialize_alloc(it, &buf, &cap)) == 0)
		die("cbor_serialize_alloc");
	cbor_decref(&it);
	return buf;
}

/* ---- keys ---- */

static EVP_PKEY *
keygen(int alg)
{
	EVP_PKEY *k = NULL;

	if (alg == ES256)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (alg == RS256)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (k == NULL)
		die("keygen");
	return k;
}

static unsigned char *
bn_bytes(EVP_PKEY *k, const char *name, size_t *n)
{
	BIGNUM *bn = NULL;
	unsigned char *p;

	if (EVP_PKEY_get_bn_param(k, name, &bn) != 1 || (p = malloc(BN_num_bytes(bn))) == NULL)
		die("bn param");
	*n = (size_t)BN_bn2bin(bn, p);
	BN_free(bn);
	return p;
}

/* the COSE_Key of k, declared as alg */
static unsigned char *
cose_key(EVP_PKEY *k, int alg, size_t *n)
{
	cbor_item_t *m = cbor_new_definite_map(5);
	unsigned char pub[65], *nb, *eb;
	size_t len = sizeof(pub), nl, el;

	if (m == NULL)
		die("cbor");
	if (EVP_PKEY_is_a(k, "EC")) {
		if (EVP_PKEY_get_octet_string_param(
			k, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &len) != 1 ||
		    len != 65)
			die("EC public key");
		put(m, cint(1), cint(2));
		put(m, cint(3), cint(alg));
		put(m, cint(-1), cint(1));
		put(m, cint(-2), cbytes(pub + 1, 32));
		put(m, cint(-3), cbytes(pub + 33, 32));
	} else if (EVP_PKEY_is_a(k, "RSA")) {
		nb = bn_bytes(k, OSSL_PKEY_PARAM_RSA_N, &nl);
		eb = bn_bytes(k, OSSL_PKEY_PARAM_RSA_E, &el);
		put(m, cint(1), cint(3));
		put(m, cint(3), cint(alg));
		put(m, cint(-1), cbytes(nb, nl));
		put(m, cint(-2), cbytes(eb, el));
		free(nb);
		free(eb);
	} else {
		if (EVP_PKEY_get_raw_public_key(k, pub, &len) != 1 || len != 32)
			die("Ed25519 public key");
		put(m, cint(1), cint(1));
		put(m, cint(3), cint(alg));
		put(m, cint(-1), cint(6));
		put(m, cint(-2), cbytes(pub, 32));
	}
	return serialize(m, n);
}

static size_t
sign(EVP_PKEY *k, const unsigned char *m, size_t n, unsigned char *sig, size_t max)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t len = max;

	if (md == NULL ||
	    EVP_DigestSignInit(
		md, NULL, EVP_PKEY_is_a(k, "ED25519") ? NULL : EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(md, sig, &len, m, n) != 1)
		die("sign");
	EVP_MD_CTX_free(md);
	return len;
}

/* sig over ad ‖ SHA-256(cd) */
static size_t
sign_ad(EVP_PKEY *k, const unsigned char *ad, size_t adlen, const char *cd, unsigned char *sig)
{
	unsigned char *m = malloc(adlen + 32);
	size_t n;

	if (m == NULL)
		die("out of memory");
	memcpy(m, ad, adlen);
	SHA256((const unsigned char *)cd, strlen(cd), m + adlen);
	n = sign(k, m, adlen + 32, sig, 1024);
	free(m);
	return n;
}

/* ---- certificates ---- */

struct certopt {
	const char *ou;
	int ca, no_bc, version, no_c;
	const unsigned char *aaguid; /* AAGUID extension value, NULL: none */
	int aaguid_crit;
};

static X509 *
mk_cert(EVP_PKEY *key, EVP_PKEY *issuer_key, X509 *issuer, const struct certopt *o)
{
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	X509_EXTENSION *e;
	ASN1_OCTET_STRING *in, *outer;
	ASN1_OBJECT *obj;
	unsigned char *der = NULL;
	int dl;

	if (x == NULL || nm == NULL)
		die("X509_new");
	X509_set_version(x, o->version);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
	if (!o->no_c)
		X509_NAME_add_entry_by_txt(
		    nm, "C", MBSTRING_UTF8, (const unsigned char *)"JP", -1, -1, 0);
	X509_NAME_add_entry_by_txt(
	    nm, "O", MBSTRING_UTF8, (const unsigned char *)"Kakehashi Test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(
	    nm, "OU", MBSTRING_UTF8, (const unsigned char *)o->ou, -1, -1, 0);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
	    (const unsigned char *)(o->ca ? "Test Attestation Root" : "Test Batch Certificate"), -1,
	    -1, 0);
	X509_set_subject_name(x, nm);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : nm);
	X509_NAME_free(nm);
	X509_set_pubkey(x, key);
	if (!o->no_bc) {
		e = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
		    o->ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
		if (e == NULL || X509_add_ext(x, e, -1) != 1)
			die("basic constraints");
		X509_EXTENSION_free(e);
	}
	if (o->aaguid != NULL) {
		in = ASN1_OCTET_STRING_new();
		outer = ASN1_OCTET_STRING_new();
		obj = OBJ_txt2obj("1.3.6.1.4.1.45724.1.1.4", 1);
		if (in == NULL || outer == NULL || obj == NULL ||
		    ASN1_OCTET_STRING_set(in, o->aaguid, 16) != 1 ||
		    (dl = i2d_ASN1_OCTET_STRING(in, &der)) <= 0 ||
		    ASN1_OCTET_STRING_set(outer, der, dl) != 1 ||
		    (e = X509_EXTENSION_create_by_OBJ(NULL, obj, o->aaguid_crit, outer)) == NULL ||
		    X509_add_ext(x, e, -1) != 1)
			die("aaguid extension");
		X509_EXTENSION_free(e);
		OPENSSL_free(der);
		ASN1_OCTET_STRING_free(in);
		ASN1_OCTET_STRING_free(outer);
		ASN1_OBJECT_free(obj);
	}
	if (X509_sign(x, issuer_key, EVP_sha256()) <= 0)
		die("X509_sign");
	return x;
}

static unsigned char *
cert_der(X509 *x, size_t *n)
{
	unsigned char *der = NULL;
	int dl = i2d_X509(x, &der);

	if (dl <= 0)
		die("i2d_X509");
	*n = (size_t)dl;
	return der;
}

/* ---- authenticator data, client data ---- */

static size_t
mk_ad(unsigned char *out, const char *rp_id, unsigned flags, uint32_t count,
    const unsigned char *cose, size_t coselen, const unsigned char *ext, size_t extlen)
{
	size_t n = 0;

	SHA256((const unsigned char *)rp_id, strlen(rp_id), out);
	n = 32;
	out[n++] = (unsigned char)flags;
	out[n++] = (unsigned char)(count >> 24);
	out[n++] = (unsigned char)(count >> 16);
	out[n++] = (unsigned char)(count >> 8);
	out[n++] = (unsigned char)count;
	if (flags & F_AT) {
		memcpy(out + n, aaguid, 16);
		n += 16;
		out[n++] = 0;
		out[n++] = sizeof(cred_id);
		memcpy(out + n, cred_id, sizeof(cred_id));
		n += sizeof(cred_id);
		if (cose != NULL)
			memcpy(out + n, cose, coselen);
		n += coselen;
	}
	if (ext != NULL) {
		memcpy(out + n, ext, extlen);
		n += extlen;
	}
	return n;
}

static char *
mk_cd(const char *type, const char *chal, const char *origin, const char *cross)
{
	char *s = malloc(1024);

	if (s == NULL)
		die("out of memory");
	snprintf(s, 1024, "{\"type\":\"%s\",\"challenge\":\"%s\",\"origin\":\"%s\"%s%s}", type,
	    chal, origin, cross != NULL ? ",\"crossOrigin\":" : "", cross != NULL ? cross : "");
	return s;
}

/* ---- a registration ---- */

struct reg {
	/* what to build */
	const char *type, *chal, *origin, *rp_id, *fmt, *cross;
	unsigned flags;
	int att, stmt_alg, tamper, trailing, ext, none_stmt, dup_fmt;
	EVP_PKEY *cred_key, *att_key;
	int cred_alg;
	X509 *x5c[2];
	int nx5c;
	/* what was built */
	char *cd, *cd_b64, *ao_b64;
	unsigned char *ao;
	size_t aolen;
};

static void reg_free(struct reg *g);

/* g: zeroed or previously used */
static void
reg_init(struct reg *g, EVP_PKEY *cred_key, int cred_alg, int att)
{
	reg_free(g);
	memset(g, 0, sizeof(*g));
	g->type = "webauthn.create";
	g->chal = challenge;
	g->origin = ORIGIN;
	g->rp_id = RP_ID;
	g->fmt = att == ATT_NONE ? "none" : "packed";
	g->cross = "false";
	g->flags = F_UP | F_UV | F_AT;
	g->att = att;
	g->cred_key = cred_key;
	g->cred_alg = cred_alg;
	g->stmt_alg = cred_alg;
}

static void
reg_free(struct reg *g)
{
	free(g->cd);
	free(g->cd_b64);
	free(g->ao_b64);
	free(g->ao);
	g->cd = g->cd_b64 = g->ao_b64 = NULL;
	g->ao = NULL;
}

static void
reg_build(struct reg *g)
{
	unsigned char ad[8192], sig[1024], *cose, *ext = NULL, *der;
	size_t coselen, adlen, siglen, extlen = 0, dl;
	cbor_item_t *root, *stmt, *arr, *em;
	int i;

	reg_free(g);
	cose = cose_key(g->cred_key, g->cred_alg, &coselen);
	if (g->ext) {
		em = cbor_new_definite_map(1);
		put(em, cbor_build_string("credProtect"), cint(2));
		ext = serialize(em, &extlen);
	}
	adlen = mk_ad(ad, g->rp_id, g->flags | (g->ext ? F_ED : 0), 0, cose, coselen, ext, extlen);
	free(cose);
	free(ext);
	g->cd = mk_cd(g->type, g->chal, g->origin, g->cross);

	if ((stmt = cbor_new_definite_map(3)) == NULL)
		die("cbor");
	if (g->att == ATT_NONE && g->none_stmt)
		put(stmt, cbor_build_string("alg"), cint(-7));
	if (g->att != ATT_NONE) {
		siglen =
		    sign_ad(g->att == ATT_SELF ? g->cred_key : g->att_key, ad, adlen, g->cd, sig);
		if (g->tamper)
			sig[siglen / 2] ^= 0x01;
		put(stmt, cbor_build_string("alg"), cint(g->stmt_alg));
		put(stmt, cbor_build_string("sig"), cbytes(sig, siglen));
	}
	if (g->att == ATT_X5C) {
		if ((arr = cbor_new_definite_array(g->nx5c)) == NULL)
			die("cbor");
		for (i = 0; i < g->nx5c; i++) {
			der = cert_der(g->x5c[i], &dl);
			if (!cbor_array_push(arr, cbor_move(cbytes(der, dl))))
				die("cbor_array_push");
			OPENSSL_free(der);
		}
		put(stmt, cbor_build_string("x5c"), arr);
	}
	if ((root = cbor_new_definite_map(4)) == NULL)
		die("cbor");
	put(root, cbor_build_string("fmt"), cbor_build_string(g->fmt));
	if (g->dup_fmt)
		put(root, cbor_build_string("fmt"), cbor_build_string(g->fmt));
	put(root, cbor_build_string("attStmt"), stmt);
	put(root, cbor_build_string("authData"), cbytes(ad, adlen));
	g->ao = serialize(root, &g->aolen);
	if (g->trailing) {
		if ((g->ao = realloc(g->ao, g->aolen + 1)) == NULL)
			die("out of memory");
		g->ao[g->aolen++] = 0x00;
	}
	g->cd_b64 = b64(g->cd, strlen(g->cd));
	g->ao_b64 = b64(g->ao, g->aolen);
}

static int
reg_run(struct reg *g, int require_uv, struct kh_wa_cred *c, const char **why)
{
	struct kh_wa_rp rp = { RP_ID, ORIGIN };

	reg_build(g);
	return kh_wa_verify_registration(&rp, challenge, g->cd_b64, g->ao_b64, require_uv, c, why);
}

/* The result of one build, freed; only the return code is kept. */
static int
reg_rc(struct reg *g, int require_uv)
{
	struct kh_wa_cred c;
	const char *why = NULL;
	int r = reg_run(g, require_uv, &c, &why);

	if (r == KH_OK)
		kh_wa_cred_clear(&c);
	else if (why == NULL || c.id != NULL || c.pubkey != NULL || c.alg != 0)
		r = 999; /* contract broken: no reason, or output left set */
	return r;
}

/* ---- an assertion ---- */

struct asr {
	const char *type, *chal, *origin, *rp_id;
	unsigned flags;
	uint32_t count;
	EVP_PKEY *key;
	int tamper, ext;
	char *cd, *cd_b64, *ad_b64, *sig_b64;
	unsigned char ad[512], sig[1024];
	size_t adlen, siglen;
};

static void asr_free(struct asr *a);

/* a: zeroed or previously used */
static void
asr_init(struct asr *a, EVP_PKEY *key, uint32_t count)
{
	asr_free(a);
	memset(a, 0, sizeof(*a));
	a->type = "webauthn.get";
	a->chal = challenge;
	a->origin = ORIGIN;
	a->rp_id = RP_ID;
	a->flags = F_UP | F_UV;
	a->count = count;
	a->key = key;
}

static void
asr_free(struct asr *a)
{
	free(a->cd);
	free(a->cd_b64);
	free(a->ad_b64);
	free(a->sig_b64);
	a->cd = a->cd_b64 = a->ad_b64 = a->sig_b64 = NULL;
}

static void
asr_build(struct asr *a)
{
	unsigned char *ext = NULL;
	size_t extlen = 0;
	cbor_item_t *em;

	asr_free(a);
	if (a->ext) {
		em = cbor_new_definite_map(1);
		put(em, cbor_build_string("credProtect"), cint(2));
		ext = serialize(em, &extlen);
	}
	a->adlen =
	    mk_ad(a->ad, a->rp_id, a->flags | (a->ext ? F_ED : 0), a->count, NULL, 0, ext, extlen);
	free(ext);
	a->cd = mk_cd(a->type, a->chal, a->origin, "false");
	a->siglen = sign_ad(a->key, a->ad, a->adlen, a->cd, a->sig);
	if (a->tamper)
		a->sig[a->siglen - 1] ^= 0x01;
	a->cd_b64 = b64(a->cd, strlen(a->cd));
	a->ad_b64 = b64(a->ad, a->adlen);
	a->sig_b64 = b64(a->sig, a->siglen);
}

static int
asr_run(struct asr *a, const struct kh_wa_cred *c, int require_uv, uint32_t *count)
{
	struct kh_wa_rp rp = { RP_ID, ORIGIN };
	const char *why = NULL;
	uint32_t dummy;
	int r;

	asr_build(a);
	r = kh_wa_verify_assertion(&rp, challenge, c, a->cd_b64, a->ad_b64, a->sig_b64, require_uv,
	    count != NULL ? count : &dummy, &why);
	if (r != KH_OK && why == NULL)
		r = 999;
	return r;
}

/* ---- seed corpus for tests/fuzz/fuzz_webauthn.c ---- */

static void
seed_put(unsigned char *buf, size_t *off, const void *p, size_t n, int last)
{
	if (!last) {
		buf[(*off)++] = (unsigned char)(n >> 8);
		buf[(*off)++] = (unsigned char)n;
	}
	memcpy(buf + *off, p, n);
	*off += n;
}

static void
seed_write(const char *name, const unsigned char *buf, size_t n)
{
	const char *dir = getenv("KH_WA_CORPUS");
	char path[512];
	FILE *f;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(buf, 1, n, f) != n || fclose(f) != 0)
		die("cannot write a seed");
}

/* mode 0: registration, fields clientDataJSON ‖ attestationObject */
static void
seed_reg(const char *name, const struct reg *g)
{
	unsigned char buf[16384];
	size_t off = 0;

	buf[off++] = 0x00;
	seed_put(buf, &off, g->cd, strlen(g->cd), 0);
	seed_put(buf, &off, g->ao, g->aolen, 1);
	seed_write(name, buf, off);
}

/* mode 1: assertion against the COSE key in the input; mode 2: clientDataJSON
 * and authenticatorData signed by the harness */
static void
seed_asr(const char *name, const struct asr *a, const struct kh_wa_cred *c, int algsel)
{
	unsigned char buf[8192], cose[1024];
	size_t off = 0;
	int n;

	if ((n = kh_b64url_decode(c->pubkey, strlen(c->pubkey), cose, sizeof(cose))) <= 0)
		die("stored key");
	buf[off++] = (unsigned char)(0x01 | algsel << 2);
	seed_put(buf, &off, cose, (size_t)n, 0);
	seed_put(buf, &off, a->cd, strlen(a->cd), 0);
	seed_put(buf, &off, a->ad, a->adlen, 0);
	seed_put(buf, &off, a->sig, a->siglen, 1);
	seed_write(name, buf, off);
}

static void
seed_signed(const char *name, const struct asr *a)
{
	unsigned char buf[4096];
	size_t off = 0;

	buf[off++] = 0x02;
	seed_put(buf, &off, a->cd, strlen(a->cd), 0);
	seed_put(buf, &off, a->ad, a->adlen, 1);
	seed_write(name, buf, off);
}

static void
seed_json(const char *name, const char *json)
{
	unsigned char buf[4096];
	size_t n = strlen(json);

	buf[0] = 0x03;
	memcpy(buf + 1, json, n);
	seed_write(name, buf, n + 1);
}

/* ---- the tests ---- */

static void
test_registration(EVP_PKEY *ec, EVP_PKEY *ec2, EVP_PKEY *rsa)
{
	static const unsigned char other_guid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7,
		8 };
	struct certopt co = { "Authenticator Attestation", 0, 0, X509_VERSION_3, 0, NULL, 0 };
	struct certopt caopt = { "Test CA", 1, 0, X509_VERSION_3, 0, NULL, 0 };
	EVP_PKEY *att = keygen(ES256), *cakey = keygen(ES256);
	X509 *ca = mk_cert(cakey, cakey, NULL, &caopt), *leaf, *selfleaf, *bad;
	struct kh_wa_cred c;
	struct reg g = { 0 };
	const char *why = NULL;
	char *id;
	int r;

	co.aaguid = aaguid;
	leaf = mk_cert(att, cakey, ca, &co);
	co.aaguid = NULL;
	selfleaf = mk_cert(att, att, NULL, &co); /* like Chromium's virtual authenticator */

	/* "none" */
	reg_init(&g, ec, ES256, ATT_NONE);
	r = reg_run(&g, 1, &c, &why);
	ok(r == KH_OK, "none: accepted (%s)", why ? why : "");
	id = b64(cred_id, sizeof(cred_id));
	ok(r == KH_OK && strcmp(c.id, id) == 0 && c.alg == ES256 && strcmp(c.fmt, "none") == 0 &&
		c.sign_count == 0 && c.uv == 1 && c.backup_eligible == 0 &&
		strcmp(c.aaguid, "00000000-0000-0000-0000-000000000000") == 0 && c.pubkey != NULL,
	    "none: credential fields (AAGUID recorded as zeros)");
	free(id);
	seed_reg("reg_none", &g);
	kh_wa_cred_clear(&c);

	/* packed, self attestation */
	reg_init(&g, ec, ES256, ATT_SELF);
	g.flags |= F_BE | F_BS;
	r = reg_run(&g, 1, &c, &why);
	ok(r == KH_OK && strcmp(c.fmt, "packed") == 0 && c.backup_eligible == 1 &&
		strcmp(c.aaguid, "f8a011f3-8c0a-4d15-8006-17111f9edc7d") == 0,
	    "packed self: accepted, backup eligible, AAGUID kept (%s)", why ? why : "");
	seed_reg("reg_packed_self", &g);
	kh_wa_cred_clear(&c);

	/* packed x5c: leaf by a test CA, chain [leaf, CA], AAGUID extension */
	reg_init(&g, ec, ES256, ATT_X5C);
	g.att_key = att;
	g.x5c[0] = leaf;
	g.x5c[1] = ca;
	g.nx5c = 2;
	r = reg_run(&g, 0, &c, &why);
	ok(r == KH_OK && strcmp(c.fmt, "packed") == 0, "packed x5c: accepted (%s)", why ? why : "");
	seed_reg("reg_packed_x5c", &g);
	kh_wa_cred_clear(&c);

	/* Chromium's virtual authenticator: one self-signed leaf, no AAGUID extension */
	g.x5c[0] = selfleaf;
	g.nx5c = 1;
	ok(reg_rc(&g, 1) == KH_OK, "packed x5c: a single self-signed leaf is accepted (no trust)");
	seed_reg("reg_packed_x5c_selfsigned", &g);
	g.tamper = 1;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed x5c: tampered signature refused");
	g.tamper = 0;
	g.stmt_alg = RS256;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed x5c: alg naming another key type refused");
	g.stmt_alg = -35;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed x5c: unsupported alg refused");
	g.stmt_alg = ES256;
	g.att_key = ec2;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed x5c: signed by a key other than the leaf's");
	g.att_key = att;

	co.aaguid = other_guid;
	bad = mk_cert(att, cakey, ca, &co);
	g.x5c[0] = bad;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed x5c: AAGUID extension differing refused");
	X509_free(bad);
	co.aaguid = aaguid;
	co.aaguid_crit = 1;
	bad = mk_cert(att, cakey, ca, &co);
	g.x5c[0] = bad;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed x5c: critical AAGUID extension refused");
	X509_free(bad);
	co.aaguid = NULL;
	co.aaguid_crit = 0;
	co.ou = "Authenticator";
	bad = mk_cert(att, cakey, ca, &co);
	g.x5c[0] = bad;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed x5c: OU other than Authenticator Attestation");
	X509_free(bad);
	co.ou = "Authenticator Attestation";
	co.ca = 1;
	bad = mk_cert(att, cakey, ca, &co);
	g.x5c[0] = bad;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed x5c: leaf with CA:TRUE refused");
	X509_free(bad);
	co.ca = 0;
	co.no_bc = 1;
	bad = mk_cert(att, cakey, ca, &co);
	g.x5c[0] = bad;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed x5c: leaf without basic constraints refused");
	X509_free(bad);
	co.no_bc = 0;
	co.no_c = 1;
	bad = mk_cert(att, cakey, ca, &co);
	g.x5c[0] = bad;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed x5c: subject without C refused");
	X509_free(bad);
	co.no_c = 0;
	co.no_bc = 1;
	co.version = X509_VERSION_1;
	bad = mk_cert(att, cakey, ca, &co);
	g.x5c[0] = bad;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed x5c: X.509 v1 certificate refused");
	X509_free(bad);
	g.nx5c = 0;
	ok(reg_rc(&g, 1) == KH_ERR_INVALID, "packed x5c: empty x5c array refused");

	/* self attestation: alg must be the credential's */
	reg_init(&g, ec, ES256, ATT_SELF);
	g.stmt_alg = RS256;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed self: alg differing from the key refused");
	g.stmt_alg = ES256;
	g.tamper = 1;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "packed self: tampered signature refused");

	/* RSA and EdDSA credentials register too */
	reg_init(&g, rsa, RS256, ATT_SELF);
	ok(reg_rc(&g, 1) == KH_OK, "packed self: RS256 credential accepted");
	reg_init(&g, ec, RS256, ATT_NONE);
	ok(reg_rc(&g, 1) == KH_ERR_INVALID, "EC key declared RS256 refused");
	reg_init(&g, ec, -35, ATT_NONE);
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "COSE alg ES384 not supported");

	/* client data and flags */
	reg_init(&g, ec, ES256, ATT_NONE);
	g.chal = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	ok(reg_rc(&g, 0) == KH_ERR_DENIED, "wrong challenge refused");
	reg_init(&g, ec, ES256, ATT_NONE);
	g.origin = "http://localhost:8081";
	ok(reg_rc(&g, 0) == KH_ERR_DENIED, "wrong origin refused");
	g.origin = "http://localhost:8080/";
	ok(reg_rc(&g, 0) == KH_ERR_DENIED, "origin with a trailing slash refused (exact compare)");
	reg_init(&g, ec, ES256, ATT_NONE);
	g.type = "webauthn.get";
	ok(reg_rc(&g, 0) == KH_ERR_DENIED, "type webauthn.get refused at registration");
	reg_init(&g, ec, ES256, ATT_NONE);
	g.rp_id = "evil.example";
	ok(reg_rc(&g, 0) == KH_ERR_DENIED, "wrong RP ID hash refused");
	reg_init(&g, ec, ES256, ATT_NONE);
	g.flags &= ~F_UP;
	ok(reg_rc(&g, 0) == KH_ERR_DENIED, "UP missing refused");
	reg_init(&g, ec, ES256, ATT_NONE);
	g.flags &= ~F_UV;
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "UV missing refused when required");
	ok(reg_rc(&g, 0) == KH_OK, "UV missing accepted when not required");
	reg_init(&g, ec, ES256, ATT_NONE);
	g.cross = "true";
	ok(reg_rc(&g, 0) == KH_ERR_DENIED, "crossOrigin true refused");
	g.cross = "\"false\"";
	ok(reg_rc(&g, 0) == KH_ERR_INVALID, "crossOrigin not a boolean refused");
	g.cross = NULL;
	ok(reg_rc(&g, 0) == KH_OK, "crossOrigin absent accepted");
	reg_init(&g, ec, ES256, ATT_NONE);
	g.flags = F_UP | F_UV | F_BS | F_AT;
	ok(reg_rc(&g, 0) == KH_ERR_INVALID, "BS without BE refused");
	g.flags = F_UP | F_UV;
	ok(reg_rc(&g, 0) == KH_ERR_INVALID, "no attested credential data refused");

	/* structure */
	reg_init(&g, ec, ES256, ATT_NONE);
	g.ext = 1;
	ok(reg_rc(&g, 1) == KH_OK, "extensions (ED) tolerated");
	seed_reg("reg_none_ext", &g);
	g.ext = 0;
	g.trailing = 1;
	ok(reg_rc(&g, 1) == KH_ERR_INVALID, "trailing byte after the attestationObject refused");
	g.trailing = 0;
	g.none_stmt = 1;
	ok(reg_rc(&g, 1) == KH_ERR_INVALID, "\"none\" with a non-empty attStmt refused");
	g.none_stmt = 0;
	g.dup_fmt = 1;
	ok(reg_rc(&g, 1) == KH_ERR_INVALID, "repeated fmt key refused");
	g.dup_fmt = 0;
	g.fmt = "tpm";
	ok(reg_rc(&g, 1) == KH_ERR_DENIED, "unsupported attestation format refused");
	reg_free(&g);

	X509_free(leaf);
	X509_free(selfleaf);
	X509_free(ca);
	EVP_PKEY_free(att);
	EVP_PKEY_free(cakey);
}

/* raw attestationObject bytes, b64url-encoded, against a fixed client data */
static int
reg_raw(const unsigned char *ao, size_t n)
{
	struct kh_wa_rp rp = { RP_ID, ORIGIN };
	struct kh_wa_cred c;
	char *cd = mk_cd("webauthn.create", challenge, ORIGIN, NULL);
	char *cdb = b64(cd, strlen(cd)), *aob = b64(ao, n);
	const char *why = NULL;
	int r = kh_wa_verify_registration(&rp, challenge, cdb, aob, 0, &c, &why);

	if (r == KH_OK)
		kh_wa_cred_clear(&c);
	else if (why == NULL || c.id != NULL)
		r = 999;
	free(cd);
	free(cdb);
	free(aob);
	return r;
}

static void
test_malformed(EVP_PKEY *ec)
{
	struct kh_wa_rp rp = { RP_ID, ORIGIN };
	struct kh_wa_cred c;
	struct reg g = { 0 };
	const char *why;
	unsigned char big[KH_WA_ATT_OBJ_MAX + 16], deep[64];
	char *s, *cdb;
	size_t i, bad = 0;
	int r;

	reg_init(&g, ec, ES256, ATT_NONE);
	reg_build(&g);
	/* every truncation of a valid attestation object */
	for (i = 0; i < g.aolen; i++)
		if ((r = reg_raw(g.ao, i)) != KH_ERR_INVALID)
			bad++;
	ok(bad == 0, "every truncated attestationObject is refused as invalid (%zu bad)", bad);
	ok(reg_raw(g.ao, g.aolen) == KH_OK, "the untruncated one is accepted");

	/* containers that claim more than the input holds: no huge allocation */
	ok(reg_raw((const unsigned char *)"\x9b\x00\x00\x00\x01\x00\x00\x00\x00", 9) ==
		KH_ERR_INVALID,
	    "array claiming 2^32 items refused");
	ok(reg_raw((const unsigned char *)"\xbb\x40\x00\x00\x00\x00\x00\x00\x00", 9) ==
		KH_ERR_INVALID,
	    "map claiming 2^62 pairs refused");
	ok(reg_raw((const unsigned char *)"\x5b\xff\xff\xff\xff\xff\xff\xff\xff", 9) ==
		KH_ERR_INVALID,
	    "byte string claiming 2^64 bytes refused");
	memset(deep, 0x81, sizeof(deep));
	deep[sizeof(deep) - 1] = 0x00;
	ok(reg_raw(deep, sizeof(deep)) == KH_ERR_TOO_LARGE, "nesting deeper than the cap refused");
	ok(reg_raw((const unsigned char *)"\x9f\x9f\xff", 3) == KH_ERR_INVALID,
	    "unterminated indefinite array refused");
	ok(reg_raw((const unsigned char *)"\xa1\x63"
					  "fmt",
	       5) == KH_ERR_INVALID,
	    "map missing its value refused");
	ok(reg_raw((const unsigned char *)"\xa0", 1) == KH_ERR_INVALID, "empty map refused");
	ok(reg_raw((const unsigned char *)"\x5f\x5f\xff\xff", 4) == KH_ERR_INVALID,
	    "nested indefinite byte string refused");

	/* caps on the encoded inputs */
	memset(big, 0xa0, sizeof(big));
	ok(reg_raw(big, KH_WA_ATT_OBJ_MAX + 1) == KH_ERR_TOO_LARGE,
	    "attestationObject over the cap refused");
	if ((s = malloc(KH_WA_CLIENT_DATA_MAX + 64)) == NULL)
		die("out of memory");
	snprintf(s, KH_WA_CLIENT_DATA_MAX + 64,
	    "{\"type\":\"webauthn.create\",\"challenge\":\"%s\",\"origin\":\"" ORIGIN "\",\"x\":\"",
	    challenge);
	for (i = strlen(s); i < KH_WA_CLIENT_DATA_MAX + 8; i++)
		s[i] = 'a';
	memcpy(s + i, "\"}", 3);
	cdb = b64(s, strlen(s));
	ok(kh_wa_verify_registration(&rp, challenge, cdb, g.ao_b64, 0, &c, &why) ==
		KH_ERR_TOO_LARGE,
	    "clientDataJSON over the cap refused");
	free(cdb);
	free(s);
	ok(kh_wa_verify_registration(&rp, challenge, "e30", g.ao_b64, 0, &c, &why) ==
		KH_ERR_INVALID,
	    "clientDataJSON {} refused as invalid");
	ok(kh_wa_verify_registration(&rp, challenge, "bm90IGpzb24", g.ao_b64, 0, &c, &why) ==
		KH_ERR_INVALID,
	    "clientDataJSON not JSON refused");
	ok(kh_wa_verify_registration(&rp, challenge, g.cd_b64, "o2Nm+", 0, &c, &why) ==
		KH_ERR_INVALID,
	    "attestationObject not base64url refused");
	ok(kh_wa_verify_registration(&rp, challenge, g.cd_b64, "", 0, &c, &why) == KH_ERR_INVALID,
	    "empty attestationObject refused");
	ok(kh_wa_verify_registration(&rp, challenge, NULL, g.ao_b64, 0, &c, &why) == KH_ERR_INVALID,
	    "missing clientDataJSON refused");
	ok(kh_wa_verify_registration(&rp, "", g.cd_b64, g.ao_b64, 0, &c, &why) == KH_ERR_INVALID,
	    "empty expected challenge refused");
	reg_free(&g);
}

static void
test_assertion(EVP_PKEY *ec, EVP_PKEY *ec2, EVP_PKEY *rsa, EVP_PKEY *ed)
{
	struct kh_wa_rp rp = { RP_ID, ORIGIN };
	struct kh_wa_cred c, crsa, ced, wrong;
	struct reg g = { 0 };
	struct asr a = { 0 };
	uint32_t count = 0;
	const char *why;
	char *json;
	int r;

	reg_init(&g, ec, ES256, ATT_NONE);
	if (reg_run(&g, 1, &c, &why) != KH_OK)
		die("registration for the assertion tests");
	reg_init(&g, rsa, RS256, ATT_NONE);
	if (reg_run(&g, 1, &crsa, &why) != KH_OK)
		die("RSA registration");
	reg_init(&g, ed, EDDSA, ATT_NONE);
	if (reg_run(&g, 1, &ced, &why) != KH_OK)
		die("Ed25519 registration");
	reg_free(&g);

	asr_init(&a, ec, 7);
	ok(asr_run(&a, &c, 1, &count) == KH_OK && count == 7,
	    "ES256 assertion accepted, counter 7");
	seed_asr("asr_es256", &a, &c, 0);
	seed_signed("signed_asr", &a);
	asr_init(&a, rsa, 0x01020304);
	ok(asr_run(&a, &crsa, 1, &count) == KH_OK && count == 0x01020304,
	    "RS256 assertion accepted, counter returned");
	seed_asr("asr_rs256", &a, &crsa, 1);
	asr_init(&a, ed, 0);
	ok(asr_run(&a, &ced, 1, &count) == KH_OK && count == 0,
	    "EdDSA assertion accepted, counter 0");
	seed_asr("asr_eddsa", &a, &ced, 2);
	asr_init(&a, ec, 8);
	a.ext = 1;
	ok(asr_run(&a, &c, 1, &count) == KH_OK && count == 8, "assertion with extensions accepted");
	seed_signed("signed_asr_ext", &a);

	asr_init(&a, ec, 9);
	a.chal = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	ok(asr_run(&a, &c, 1, &count) == KH_ERR_DENIED && count == 0,
	    "assertion: wrong challenge refused, counter 0");
	asr_init(&a, ec, 9);
	a.type = "webauthn.create";
	ok(asr_run(&a, &c, 1, NULL) == KH_ERR_DENIED, "assertion: type webauthn.create refused");
	asr_init(&a, ec, 9);
	a.origin = "https://localhost:8080";
	ok(asr_run(&a, &c, 1, NULL) == KH_ERR_DENIED, "assertion: wrong origin refused");
	asr_init(&a, ec, 9);
	a.rp_id = "localhost.";
	ok(asr_run(&a, &c, 1, NULL) == KH_ERR_DENIED, "assertion: wrong RP ID hash refused");
	asr_init(&a, ec, 9);
	a.flags = F_UV;
	ok(asr_run(&a, &c, 0, NULL) == KH_ERR_DENIED, "assertion: UP missing refused");
	asr_init(&a, ec, 9);
	a.flags = F_UP;
	ok(asr_run(&a, &c, 1, NULL) == KH_ERR_DENIED,
	    "assertion: UV missing refused when required");
	ok(asr_run(&a, &c, 0, NULL) == KH_OK, "assertion: UV missing accepted when not required");
	asr_init(&a, ec, 9);
	a.tamper = 1;
	ok(asr_run(&a, &c, 1, NULL) == KH_ERR_DENIED, "assertion: tampered signature refused");
	asr_init(&a, ec2, 9);
	ok(asr_run(&a, &c, 1, NULL) == KH_ERR_DENIED, "assertion: signed by another key refused");
	asr_init(&a, rsa, 9);
	ok(asr_run(&a, &crsa, 1, NULL) == KH_OK, "RS256 control");
	a.tamper = 1;
	ok(asr_run(&a, &crsa, 1, NULL) == KH_ERR_DENIED, "assertion: tampered RS256 refused");
	asr_init(&a, ec, 9);
	a.flags = F_UP | F_UV | F_AT;
	ok(asr_run(&a, &c, 1, NULL) == KH_ERR_INVALID, "assertion: AT flag refused");

	/* a stored credential whose alg differs from its key */
	wrong = c;
	wrong.alg = RS256;
	asr_init(&a, ec, 9);
	ok(asr_run(&a, &wrong, 1, NULL) == KH_ERR_INVALID,
	    "assertion: stored alg differing refused");

	/* truncated and oversized */
	asr_init(&a, ec, 9);
	asr_build(&a);
	ok(kh_wa_verify_assertion(
	       &rp, challenge, &c, a.cd_b64, "AAAA", a.sig_b64, 0, &count, &why) == KH_ERR_INVALID,
	    "assertion: 3-byte authenticatorData refused");
	a.ad_b64[strlen(a.ad_b64) - 2] = '\0';
	ok(kh_wa_verify_assertion(&rp, challenge, &c, a.cd_b64, a.ad_b64, a.sig_b64, 0, &count,
	       &why) == KH_ERR_INVALID,
	    "assertion: truncated authenticatorData refused");
	{
		size_t bl = 2 * KH_WA_AUTH_DATA_MAX;
		char *big = malloc(bl);
		if (big == NULL)
			die("out of memory");
		memset(big, 'A', bl - 1);
		big[bl - 1] = '\0';
		asr_build(&a);
		ok(kh_wa_verify_assertion(&rp, challenge, &c, a.cd_b64, a.ad_b64, big, 0, &count,
		       &why) == KH_ERR_TOO_LARGE,
		    "assertion: signature over the cap refused");
		ok(kh_wa_verify_assertion(&rp, challenge, &c, a.cd_b64, big, a.sig_b64, 0, &count,
		       &why) == KH_ERR_TOO_LARGE,
		    "assertion: authenticatorData over the cap refused");
		free(big);
	}
	/* trailing bytes after the authenticator data */
	{
		unsigned char ad[64];
		char *adb, *sigb;
		unsigned char sig[1024];
		size_t sl;
		memcpy(ad, a.ad, a.adlen);
		ad[a.adlen] = 0xa0;
		sl = sign_ad(ec, ad, a.adlen + 1, a.cd, sig);
		adb = b64(ad, a.adlen + 1);
		sigb = b64(sig, sl);
		ok(kh_wa_verify_assertion(
		       &rp, challenge, &c, a.cd_b64, adb, sigb, 0, &count, &why) == KH_ERR_INVALID,
		    "assertion: a byte after authenticatorData without ED refused");
		free(adb);
		free(sigb);
	}
	asr_free(&a);

	/* stored JSON */
	c.sign_count = 4000000000u;
	r = kh_wa_cred_to_json(&c, &json);
	ok(r == KH_OK && json != NULL, "cred to JSON");
	if (r == KH_OK) {
		struct kh_wa_cred back;
		char *again = NULL;
		r = kh_wa_cred_from_json(json, &back);
		ok(r == KH_OK && strcmp(back.id, c.id) == 0 && strcmp(back.pubkey, c.pubkey) == 0 &&
			back.alg == c.alg && back.sign_count == 4000000000u &&
			strcmp(back.aaguid, c.aaguid) == 0 && strcmp(back.fmt, c.fmt) == 0 &&
			back.uv == c.uv && back.backup_eligible == c.backup_eligible,
		    "cred JSON round trip");
		ok(kh_wa_cred_to_json(&back, &again) == KH_OK && strcmp(again, json) == 0,
		    "cred JSON is stable");
		seed_json("cred_json", json);
		free(again);
		kh_wa_cred_clear(&back);
		free(json);
	}
	if (kh_wa_cred_to_json(&crsa, &json) == KH_OK) {
		seed_json("cred_json_rsa", json);
		free(json);
	}
	kh_wa_cred_clear(&c);
	kh_wa_cred_clear(&crsa);
	kh_wa_cred_clear(&ced);
}

static void
test_json(EVP_PKEY *ec, EVP_PKEY *rsa)
{
	struct kh_wa_cred c;
	unsigned char *cose;
	size_t n;
	char *ec_pub, *rsa_pub, doc[4096];

	const char *g = "00000000-0000-0000-0000-000000000000";
	size_t i;
	struct {
		const char *id, *alg, *pub, *count, *guid, *fmt, *uv, *extra, *name;
		int want;
	} t[] = {
		{ "a2g", "-7", NULL, "0", NULL, "none", "true", "", "valid", KH_OK },
		{ "a2g", "-7", NULL, "0", NULL, "none", "true", ",\"name\":\"x\"",
		    "unknown member ignored", KH_OK },
		{ "a2g", "-257", "rsa", "4294967295", NULL, "packed", "false", "", "valid RSA",
		    KH_OK },
		{ "a2g", "-257", NULL, "0", NULL, "none", "true", "", "alg differing from the key",
		    KH_ERR_INVALID },
		{ "a2g", "-35", NULL, "0", NULL, "none", "true", "", "unknown alg",
		    KH_ERR_INVALID },
		{ "a2g", "\"-7\"", NULL, "0", NULL, "none", "true", "", "alg as a string",
		    KH_ERR_INVALID },
		{ "a2g", "-7", NULL, "-1", NULL, "none", "true", "", "negative counter",
		    KH_ERR_INVALID },
		{ "a2g", "-7", NULL, "4294967296", NULL, "none", "true", "", "counter over 32 bits",
		    KH_ERR_INVALID },
		{ "a+g", "-7", NULL, "0", NULL, "none", "true", "", "id not base64url",
		    KH_ERR_INVALID },
		{ "", "-7", NULL, "0", NULL, "none", "true", "", "empty id", KH_ERR_INVALID },
		{ "a2g", "-7", "bm9wZQ", "0", NULL, "none", "true", "", "pubkey not a COSE key",
		    KH_ERR_INVALID },
		{ "a2g", "-7", NULL, "0", "0000", "none", "true", "", "bad aaguid",
		    KH_ERR_INVALID },
		{ "a2g", "-7", NULL, "0", "0000000G-0000-0000-0000-000000000000", "none", "true",
		    "", "aaguid not hex", KH_ERR_INVALID },
		{ "a2g", "-7", NULL, "0", NULL, "NONE", "true", "", "fmt upper case",
		    KH_ERR_INVALID },
		{ "a2g", "-7", NULL, "0", NULL, "averyverylongfmt", "true", "", "fmt too long",
		    KH_ERR_INVALID },
		{ "a2g", "-7", NULL, "0", NULL, "none", "1", "", "uv not a boolean",
		    KH_ERR_INVALID },
		{ "a2g", "-7", NULL, "0", NULL, "none", "true", ",\"alg\":-7", "repeated member",
		    KH_ERR_INVALID },
	};

	cose = cose_key(ec, ES256, &n);
	ec_pub = b64(cose, n);
	free(cose);
	cose = cose_key(rsa, RS256, &n);
	rsa_pub = b64(cose, n);
	free(cose);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *pub = t[i].pub == NULL ? ec_pub
		    : strcmp(t[i].pub, "rsa") == 0 ? rsa_pub
						   : t[i].pub;
		int r;
		snprintf(doc, sizeof(doc), JSON_TMPL, t[i].id, t[i].alg, pub, t[i].count,
		    t[i].guid ? t[i].guid : g, t[i].fmt, t[i].uv, t[i].extra);
		r = kh_wa_cred_from_json(doc, &c);
		ok(r == t[i].want && (r == KH_OK) == (c.id != NULL), "from_json: %s", t[i].name);
		kh_wa_cred_clear(&c);
	}
	ok(kh_wa_cred_from_json("[]", &c) == KH_ERR_INVALID && c.id == NULL,
	    "from_json: not an object");
	ok(kh_wa_cred_from_json("{\"id\":", &c) == KH_ERR_INVALID, "from_json: not JSON");
	ok(kh_wa_cred_from_json("{}", &c) == KH_ERR_INVALID, "from_json: empty object");
	ok(kh_wa_cred_from_json(NULL, &c) == KH_ERR_INVALID, "from_json: NULL");
	memset(&c, 0, sizeof(c));
	free(ec_pub);
	ok(kh_wa_cred_to_json(&c, &ec_pub) == KH_ERR_INVALID && ec_pub == NULL,
	    "to_json: empty credential refused");
	free(rsa_pub);
}

int
main(void)
{
	unsigned char raw[32];
	EVP_PKEY *ec, *ec2, *rsa, *ed;
	int i;

	for (i = 0; i < 32; i++)
		raw[i] = (unsigned char)(i + 1);
	kh_b64url_encode(raw, sizeof(raw), challenge);
	ec = keygen(ES256);
	ec2 = keygen(ES256);
	rsa = keygen(RS256);
	ed = keygen(EDDSA);

	test_registration(ec, ec2, rsa);
	test_malformed(ec);
	test_assertion(ec, ec2, rsa, ed);
	test_json(ec, rsa);

	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec2);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	return tap_done();
}
