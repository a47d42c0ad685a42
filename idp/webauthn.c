/* WebAuthn relying-party checks (see webauthn.h).
 *
 * Every input is decoded and parsed completely before any check that can
 * fail a well-formed response: malformed input is KH_ERR_INVALID or
 * KH_ERR_TOO_LARGE, a well-formed response that fails a check is
 * KH_ERR_DENIED. CBOR goes through libcbor only; because libcbor 0.8
 * allocates a definite array or map at the size its header claims (a 9-byte
 * input can ask for gigabytes), every CBOR item is first walked with
 * libcbor's streaming decoder, which bounds the nesting depth and refuses a
 * container that claims more items than bytes remain, and only then built
 * with cbor_load. Public keys (COSE_Key: EC2 P-256, RSA, OKP Ed25519) become
 * EVP_PKEYs; signatures are checked with OpenSSL EVP_DigestVerify. */
#include <cbor.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/errors.h"
#include "idp/webauthn.h"

#define WA_ALG_ES256 (-7)
#define WA_ALG_RS256 (-257)
#define WA_ALG_EDDSA (-8)

#define WA_FLAG_UP 0x01
#define WA_FLAG_UV 0x04
#define WA_FLAG_BE 0x08
#define WA_FLAG_BS 0x10
#define WA_FLAG_AT 0x40
#define WA_FLAG_ED 0x80

#define WA_AUTH_DATA_MIN 37 /* rpIdHash 32, flags 1, signCount 4 */
#define WA_AAGUID_LEN 16
#define WA_CBOR_DEPTH 8 /* nesting of any CBOR item we read */
#define WA_MAP_MAX 16 /* pairs in the attestation object, attStmt, COSE_Key */
#define WA_X5C_MAX 5 /* certificates in a packed x5c */
#define WA_COSE_KEY_MAX 1024 /* a stored COSE_Key (RSA-4096 is about 530 bytes) */
#define WA_CRED_JSON_MAX 8192
#define WA_RSA_MIN_BITS 2048
#define WA_RSA_MAX_BITS 4096
#define WA_FMT_NONE "none"
#define WA_FMT_PACKED "packed"
#define WA_OU_ATTESTATION "Authenticator Attestation"
#define WA_OID_AAGUID "1.3.6.1.4.1.45724.1.1.4"

#define FAIL(code, msg)                                                                            \
	do {                                                                                       \
		r = (code);                                                                        \
		*why = (msg);                                                                      \
		goto out;                                                                          \
	} while (0)

/* ---- CBOR: bounded walk, then libcbor's builder ---- */

enum wa_ev { EV_NONE, EV_SCALAR, EV_OPEN, EV_OPEN_INDEF, EV_TAG, EV_BREAK };

struct wa_scan {
	enum wa_ev ev;
	size_t n; /* EV_OPEN: items the container holds (2 per map pair) */
	int bad;
};

static void
sc_scalar(void *c)
{
	((struct wa_scan *)c)->ev = EV_SCALAR;
}

static void
sc_u8(void *c, uint8_t v)
{
	(void)v;
	sc_scalar(c);
}

static void
sc_u16(void *c, uint16_t v)
{
	(void)v;
	sc_scalar(c);
}

static void
sc_u32(void *c, uint32_t v)
{
	(void)v;
	sc_scalar(c);
}

static void
sc_u64(void *c, uint64_t v)
{
	(void)v;
	sc_scalar(c);
}

static void
sc_str(void *c, cbor_data d, size_t n)
{
	(void)d;
	(void)n;
	sc_scalar(c);
}

static void
sc_f4(void *c, float v)
{
	(void)v;
	sc_scalar(c);
}

static void
sc_f8(void *c, double v)
{
	(void)v;
	sc_scalar(c);
}

static void
sc_bool(void *c, bool v)
{
	(void)v;
	sc_scalar(c);
}

static void
sc_indef(void *c)
{
	((struct wa_scan *)c)->ev = EV_OPEN_INDEF;
}

static void
sc_array(void *c, size_t n)
{
	struct wa_scan *s = c;

	s->ev = EV_OPEN;
	s->n = n;
}

static void
sc_map(void *c, size_t n)
{
	struct wa_scan *s = c;

	s->ev = EV_OPEN;
	s->n = n * 2;
	if (n > SIZE_MAX / 2)
		s->bad = 1;
}

static void
sc_tag(void *c, uint64_t v)
{
	(void)v;
	((struct wa_scan *)c)->ev = EV_TAG;
}

static void
sc_break(void *c)
{
	((struct wa_scan *)c)->ev = EV_BREAK;
}

static const struct cbor_callbacks wa_scan_cb = {
	.uint8 = sc_u8,
	.uint16 = sc_u16,
	.uint32 = sc_u32,
	.uint64 = sc_u64,
	.negint8 = sc_u8,
	.negint16 = sc_u16,
	.negint32 = sc_u32,
	.negint64 = sc_u64,
	.byte_string_start = sc_indef,
	.byte_string = sc_str,
	.string = sc_str,
	.string_start = sc_indef,
	.indef_array_start = sc_indef,
	.array_start = sc_array,
	.indef_map_start = sc_indef,
	.map_start = sc_map,
	.tag = sc_tag,
	.float2 = sc_f4,
	.float4 = sc_f4,
	.float8 = sc_f8,
	.undefined = sc_scalar,
	.null = sc_scalar,
	.boolean = sc_bool,
	.indef_break = sc_break,
};

#define WA_INDEF SIZE_MAX

/* Walks the one CBOR item at the start of p[0..n) and sets *used to its
 * length. Refuses truncation, nesting deeper than WA_CBOR_DEPTH and containers
 * that claim more items than bytes remain (each item takes at least one), so
 * what cbor_load allocates afterwards is bounded by n. */
static int
wa_cbor_scan(const unsigned char *p, size_t n, size_t *used)
{
	size_t left[WA_CBOR_DEPTH], off = 0, kids;
	struct cbor_decoder_result res;
	struct wa_scan sc;
	int depth = 0;

	*used = 0;
	do {
		memset(&sc, 0, sizeof(sc));
		res = cbor_stream_decode(p + off, n - off, &wa_scan_cb, &sc);
		if (res.status != CBOR_DECODER_FINISHED || res.read == 0 || sc.ev == EV_NONE ||
		    sc.bad)
			return KH_ERR_INVALID;
		off += res.read;
		if (sc.ev == EV_BREAK) {
			if (depth == 0 || left[depth - 1] != WA_INDEF)
				return KH_ERR_INVALID;
			depth--;
		} else {
			/* this item fills one place in the enclosing container */
			if (depth > 0 && left[depth - 1] != WA_INDEF)
				left[depth - 1]--;
			kids = 0;
			if (sc.ev == EV_OPEN)
				kids = sc.n;
			else if (sc.ev == EV_OPEN_INDEF)
				kids = WA_INDEF;
			else if (sc.ev == EV_TAG)
				kids = 1;
			if (kids != WA_INDEF && kids > n - off)
				return KH_ERR_INVALID;
			if (kids != 0) {
				if (depth == WA_CBOR_DEPTH)
					return KH_ERR_TOO_LARGE;
				left[depth++] = kids;
			}
		}
		while (depth > 0 && left[depth - 1] == 0)
			depth--;
	} while (depth > 0);
	*used = off;
	return KH_OK;
}

/* Builds the CBOR item at the start of p[0..n); *used is its length. */
static int
wa_cbor_load(const unsigned char *p, size_t n, cbor_item_t **item, size_t *used)
{
	struct cbor_load_result res;
	int r;

	*item = NULL;
	if ((r = wa_cbor_scan(p, n, used)) != KH_OK)
		return r;
	*item = cbor_load(p, *used, &res);
	if (*item == NULL || res.error.code != CBOR_ERR_NONE || res.read != *used) {
		if (*item != NULL)
			cbor_decref(item);
		return res.error.code == CBOR_ERR_MEMERROR ? KH_ERR_NOMEM : KH_ERR_INVALID;
	}
	return KH_OK;
}

/* A definite byte string's bytes (never NULL). */
static int
wa_cbor_bytes(const cbor_item_t *it, const unsigned char **p, size_t *n)
{
	static const unsigned char empty[1];

	if (it == NULL || !cbor_isa_bytestring(it) || !cbor_bytestring_is_definite(it))
		return 0;
	*n = cbor_bytestring_length(it);
	*p = *n > 0 ? cbor_bytestring_handle(it) : empty;
	return *p != NULL;
}

static int
wa_cbor_text_is(const cbor_item_t *it, const char *s)
{
	size_t n = strlen(s);

	return cbor_isa_string(it) && cbor_string_is_definite(it) && cbor_string_length(it) == n &&
	    (n == 0 || memcmp(cbor_string_handle(it), s, n) == 0);
}

static int
wa_cbor_int(const cbor_item_t *it, int64_t *v)
{
	uint64_t u;

	if (it == NULL || !cbor_is_int(it))
		return 0;
	u = cbor_get_int(it);
	if (u > INT64_MAX)
		return 0;
	*v = cbor_isa_uint(it) ? (int64_t)u : -1 - (int64_t)u;
	return 1;
}

/* Looks a key up in a definite map of at most WA_MAP_MAX pairs. The key is a
 * text string (name != NULL) or an integer label. *val is NULL when absent;
 * a repeated key is malformed. */
static int
wa_map_get(const cbor_item_t *map, const char *name, int64_t label, cbor_item_t **val)
{
	struct cbor_pair *pairs;
	size_t i, n;
	int64_t k;
	int hit;

	*val = NULL;
	if (!cbor_isa_map(map) || !cbor_map_is_definite(map) ||
	    (n = cbor_map_size(map)) > WA_MAP_MAX)
		return KH_ERR_INVALID;
	pairs = cbor_map_handle(map);
	for (i = 0; i < n; i++) {
		if (name != NULL)
			hit = wa_cbor_text_is(pairs[i].key, name);
		else
			hit = wa_cbor_int(pairs[i].key, &k) && k == label;
		if (!hit)
			continue;
		if (*val != NULL) {
			*val = NULL;
			return KH_ERR_INVALID;
		}
		*val = pairs[i].value;
	}
	return KH_OK;
}

/* ---- COSE_Key to EVP_PKEY ---- */

/* A COSE_Key (exactly p[0..n)) with one of our algorithms: *alg and, when pk
 * is not NULL, the key. An algorithm we do not accept is KH_ERR_DENIED. */
static int
wa_cose_parse(const unsigned char *p, size_t n, int *alg, EVP_PKEY **pk, const char **why)
{
	cbor_item_t *key = NULL, *v, *v1, *v2, *v3;
	const unsigned char *b1 = NULL, *b2 = NULL, *b3 = NULL;
	size_t used, l1 = 0, l2 = 0, l3 = 0;
	int64_t kty, a, crv = 0;
	EVP_PKEY *k = NULL;
	int r;

	*alg = 0;
	if (pk != NULL)
		*pk = NULL;
	if ((r = wa_cbor_load(p, n, &key, &used)) != KH_OK)
		FAIL(r, "credential public key is not CBOR");
	if (used != n)
		FAIL(KH_ERR_INVALID, "bytes after the credential public key");
	if (!cbor_isa_map(key))
		FAIL(KH_ERR_INVALID, "credential public key is not a map");
	if (wa_map_get(key, NULL, 1, &v) != KH_OK || !wa_cbor_int(v, &kty))
		FAIL(KH_ERR_INVALID, "credential public key without kty");
	if (wa_map_get(key, NULL, 3, &v) != KH_OK || !wa_cbor_int(v, &a))
		FAIL(KH_ERR_INVALID, "credential public key without alg");
	if (wa_map_get(key, NULL, -1, &v1) != KH_OK || wa_map_get(key, NULL, -2, &v2) != KH_OK ||
	    wa_map_get(key, NULL, -3, &v3) != KH_OK)
		FAIL(KH_ERR_INVALID, "credential public key has a repeated label");
	if (a != WA_ALG_ES256 && a != WA_ALG_RS256 && a != WA_ALG_EDDSA)
		FAIL(KH_ERR_DENIED, "credential algorithm not supported");
	if (a != WA_ALG_RS256 && !wa_cbor_int(v1, &crv))
		FAIL(KH_ERR_INVALID, "credential public key without crv");
	if (a == WA_ALG_ES256) {
		if (kty != 2 || crv != 1 || !wa_cbor_bytes(v2, &b2, &l2) ||
		    !wa_cbor_bytes(v3, &b3, &l3) || l2 != 32 || l3 != 32)
			FAIL(KH_ERR_INVALID, "malformed EC2 P-256 public key");
		if ((k = kh_pkey_p256(b2, b3)) == NULL)
			FAIL(KH_ERR_INVALID, "EC public key is not a P-256 point");
	} else if (a == WA_ALG_RS256) {
		if (kty != 3 || !wa_cbor_bytes(v1, &b1, &l1) || !wa_cbor_bytes(v2, &b2, &l2) ||
		    l1 == 0 || l1 > WA_RSA_MAX_BITS / 8 + 1 || l2 == 0 || l2 > 8)
			FAIL(KH_ERR_INVALID, "malformed RSA public key");
		if ((k = kh_pkey_rsa(b1, l1, b2, l2, WA_RSA_MIN_BITS, WA_RSA_MAX_BITS)) == NULL)
			FAIL(KH_ERR_INVALID, "RSA public key refused (size or exponent)");
	} else {
		if (kty != 1 || crv != 6 || !wa_cbor_bytes(v2, &b2, &l2) || l2 != 32)
			FAIL(KH_ERR_INVALID, "malformed OKP Ed25519 public key");
		if ((k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, b2, 32)) == NULL)
			FAIL(KH_ERR_INVALID, "Ed25519 public key refused");
	}
	*alg = (int)a;
	if (pk != NULL) {
		*pk = k;
		k = NULL; /* transferred */
	}
	r = KH_OK;
out:
	EVP_PKEY_free(k);
	if (key != NULL)
		cbor_decref(&key);
	ERR_clear_error();
	return r;
}

/* Does key k suit COSE algorithm alg? (attestation certificate keys) */
static int
wa_key_fits(EVP_PKEY *k, int alg)
{
	char group[32];
	size_t glen = 0;

	switch (alg) {
	case WA_ALG_ES256:
		return EVP_PKEY_is_a(k, "EC") &&
		    EVP_PKEY_get_utf8_string_param(
			k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) == 1 &&
		    strcmp(group, "prime256v1") == 0;
	case WA_ALG_RS256:
		return EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= WA_RSA_MIN_BITS &&
		    EVP_PKEY_get_bits(k) <= WA_RSA_MAX_BITS;
	case WA_ALG_EDDSA: return EVP_PKEY_is_a(k, "ED25519");
	}
	return 0;
}

/* The signature of alg over authData ‖ SHA-256(clientDataJSON). ES256
 * signatures are DER (OpenSSL refuses non-canonical encodings). */
static int
wa_sig_verify(EVP_PKEY *k, int alg, const unsigned char *ad, size_t adlen,
    const unsigned char cdhash[32], const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = NULL;
	unsigned char *msg = NULL;
	int r = KH_ERR_NOMEM;

	if (!wa_key_fits(k, alg)) {
		r = KH_ERR_DENIED;
		goto out;
	}
	if ((msg = malloc(adlen + 32)) == NULL || (md = EVP_MD_CTX_new()) == NULL)
		goto out;
	memcpy(msg, ad, adlen);
	memcpy(msg + adlen, cdhash, 32);
	r = KH_ERR_CRYPTO;
	if (EVP_DigestVerifyInit(md, NULL, alg == WA_ALG_EDDSA ? NULL : EVP_sha256(), NULL, k) != 1)
		goto out;
	r = EVP_DigestVerify(md, sig, siglen, msg, adlen + 32) == 1 ? KH_OK : KH_ERR_DENIED;
out:
	EVP_MD_CTX_free(md);
	free(msg);
	ERR_clear_error();
	return r;
}

/* ---- base64url inputs ---- */

/* Decodes s (at most enough characters for max bytes) into a fresh buffer. */
static int
wa_b64_in(const char *s, size_t max, unsigned char **out, size_t *outlen)
{
	size_t slen;
	int n;

	*out = NULL;
	*outlen = 0;
	if (s == NULL)
		return KH_ERR_INVALID;
	if ((slen = strnlen(s, kh_b64url_enclen(max))) >= kh_b64url_enclen(max))
		return KH_ERR_TOO_LARGE;
	if (slen == 0)
		return KH_ERR_INVALID;
	if ((*out = malloc(max)) == NULL)
		return KH_ERR_NOMEM;
	if ((n = kh_b64url_decode(s, slen, *out, max)) <= 0) {
		free(*out);
		*out = NULL;
		return n == 0 ? KH_ERR_INVALID : n;
	}
	*outlen = (size_t)n;
	return KH_OK;
}

/* ---- clientDataJSON ---- */

struct wa_cd {
	json_t *doc;
	const char *type, *challenge, *origin;
	int cross_origin;
};

static int
wa_cd_parse(const unsigned char *p, size_t n, struct wa_cd *cd, const char **why)
{
	json_t *co;
	int r;

	memset(cd, 0, sizeof(*cd));
	if ((cd->doc = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(cd->doc))
		FAIL(KH_ERR_INVALID, "clientDataJSON is not a JSON object");
	cd->type = json_string_value(json_object_get(cd->doc, "type"));
	cd->challenge = json_string_value(json_object_get(cd->doc, "challenge"));
	cd->origin = json_string_value(json_object_get(cd->doc, "origin"));
	if (cd->type == NULL || cd->challenge == NULL || cd->origin == NULL)
		FAIL(KH_ERR_INVALID, "clientDataJSON lacks type, challenge or origin");
	co = json_object_get(cd->doc, "crossOrigin");
	if (co != NULL && !json_is_boolean(co))
		FAIL(KH_ERR_INVALID, "clientDataJSON crossOrigin is not a boolean");
	cd->cross_origin = json_is_true(co);
	r = KH_OK;
out:
	return r;
}

static int
wa_cd_check(const struct wa_cd *cd, const char *type, const char *challenge_b64, const char *origin,
    const char **why)
{
	int r;

	if (strcmp(cd->type, type) != 0)
		FAIL(KH_ERR_DENIED, "clientDataJSON type is not the expected ceremony");
	if (!kh_ct_streq(cd->challenge, challenge_b64))
		FAIL(KH_ERR_DENIED, "challenge does not match");
	if (strcmp(cd->origin, origin) != 0)
		FAIL(KH_ERR_DENIED, "origin does not match");
	if (cd->cross_origin)
		FAIL(KH_ERR_DENIED, "cross-origin ceremony");
	r = KH_OK;
out:
	return r;
}

/* ---- authenticator data ---- */

struct wa_ad {
	const unsigned char *rp_hash;
	unsigned flags;
	uint32_t count;
	/* attested credential data (AT) */
	const unsigned char *aaguid, *cred_id, *cose;
	size_t cred_id_len, cose_len;
};

/* want_at: a registration (attested credential data required) or an
 * assertion (none allowed). Extensions (ED) must be one CBOR map; nothing may
 * follow. */
static int
wa_ad_parse(const unsigned char *p, size_t n, int want_at, struct wa_ad *a, const char **why)
{
	cbor_item_t *ext = NULL;
	size_t off = WA_AUTH_DATA_MIN, used;
	int r;

	memset(a, 0, sizeof(*a));
	if (n < WA_AUTH_DATA_MIN)
		FAIL(KH_ERR_INVALID, "authenticator data too short");
	a->rp_hash = p;
	a->flags = p[32];
	a->count = (uint32_t)p[33] << 24 | (uint32_t)p[34] << 16 | (uint32_t)p[35] << 8 | p[36];
	if ((a->flags & WA_FLAG_BS) && !(a->flags & WA_FLAG_BE))
		FAIL(KH_ERR_INVALID, "backup state without backup eligibility");
	if (want_at && !(a->flags & WA_FLAG_AT))
		FAIL(KH_ERR_INVALID, "no attested credential data");
	if (!want_at && (a->flags & WA_FLAG_AT))
		FAIL(KH_ERR_INVALID, "attested credential data in an assertion");
	if (want_at) {
		if (n - off < WA_AAGUID_LEN + 2)
			FAIL(KH_ERR_INVALID, "attested credential data truncated");
		a->aaguid = p + off;
		off += WA_AAGUID_LEN;
		a->cred_id_len = (size_t)p[off] << 8 | p[off + 1];
		off += 2;
		if (a->cred_id_len == 0 || a->cred_id_len > KH_WA_CRED_ID_MAX)
			FAIL(KH_ERR_INVALID, "credential id length out of range");
		if (n - off < a->cred_id_len)
			FAIL(KH_ERR_INVALID, "credential id truncated");
		a->cred_id = p + off;
		off += a->cred_id_len;
		if ((r = wa_cbor_scan(p + off, n - off, &used)) != KH_OK)
			FAIL(r, "credential public key is not CBOR");
		if (used > WA_COSE_KEY_MAX)
			FAIL(KH_ERR_TOO_LARGE, "credential public key too large");
		a->cose = p + off;
		a->cose_len = used;
		off += used;
	}
	if (a->flags & WA_FLAG_ED) {
		if ((r = wa_cbor_load(p + off, n - off, &ext, &used)) != KH_OK)
			FAIL(r, "authenticator extensions are not CBOR");
		if (!cbor_isa_map(ext))
			FAIL(KH_ERR_INVALID, "authenticator extensions are not a map");
		off += used;
	}
	if (off != n)
		FAIL(KH_ERR_INVALID, "bytes after the authenticator data");
	r = KH_OK;
out:
	if (ext != NULL)
		cbor_decref(&ext);
	return r;
}

/* RP ID hash, UP and UV. */
static int
wa_ad_check(const struct wa_ad *a, const char *rp_id, int require_uv, const char **why)
{
	unsigned char h[32];
	int r;

	if (EVP_Digest(rp_id, strlen(rp_id), h, NULL, EVP_sha256(), NULL) != 1)
		FAIL(KH_ERR_CRYPTO, "SHA-256 failed");
	if (!kh_ct_equal(h, a->rp_hash, sizeof(h)))
		FAIL(KH_ERR_DENIED, "RP ID hash does not match");
	if (!(a->flags & WA_FLAG_UP))
		FAIL(KH_ERR_DENIED, "user presence flag not set");
	if (require_uv && !(a->flags & WA_FLAG_UV))
		FAIL(KH_ERR_DENIED, "user verification required but not performed");
	r = KH_OK;
out:
	return r;
}

/* ---- packed attestation ---- */

struct wa_packed {
	int64_t alg;
	const unsigned char *sig;
	size_t siglen;
	X509 *leaf; /* NULL: self attestation */
};

static int
wa_packed_parse(const cbor_item_t *stmt, struct wa_packed *pk, const char **why)
{
	cbor_item_t *v, *x5c;
	cbor_item_t **certs;
	const unsigned char *der, *q;
	size_t n, i, dlen;
	int r;

	memset(pk, 0, sizeof(*pk));
	if (wa_map_get(stmt, "alg", 0, &v) != KH_OK || !wa_cbor_int(v, &pk->alg))
		FAIL(KH_ERR_INVALID, "packed attestation without alg");
	if (wa_map_get(stmt, "sig", 0, &v) != KH_OK || !wa_cbor_bytes(v, &pk->sig, &pk->siglen) ||
	    pk->siglen == 0)
		FAIL(KH_ERR_INVALID, "packed attestation without sig");
	if (pk->siglen > KH_WA_SIG_MAX)
		FAIL(KH_ERR_TOO_LARGE, "attestation signature too large");
	if (wa_map_get(stmt, "ecdaaKeyId", 0, &v) != KH_OK || v != NULL)
		FAIL(KH_ERR_DENIED, "ECDAA attestation not supported");
	if (wa_map_get(stmt, "x5c", 0, &x5c) != KH_OK)
		FAIL(KH_ERR_INVALID, "packed attestation has a repeated x5c");
	if (x5c == NULL) {
		r = KH_OK;
		goto out;
	}
	if (!cbor_isa_array(x5c) || !cbor_array_is_definite(x5c) ||
	    (n = cbor_array_size(x5c)) == 0 || n > WA_X5C_MAX)
		FAIL(KH_ERR_INVALID, "x5c is not an array of 1 to 5 certificates");
	certs = cbor_array_handle(x5c);
	for (i = 0; i < n; i++)
		if (!wa_cbor_bytes(certs[i], &der, &dlen) || dlen == 0)
			FAIL(KH_ERR_INVALID, "x5c entry is not a byte string");
	(void)wa_cbor_bytes(certs[0], &der, &dlen);
	q = der;
	if (dlen > LONG_MAX || (pk->leaf = d2i_X509(NULL, &q, (long)dlen)) == NULL ||
	    q != der + dlen)
		FAIL(KH_ERR_INVALID, "attestation certificate is not DER X.509");
	r = KH_OK;
out:
	ERR_clear_error();
	return r;
}

/* WebAuthn §8.2.1: version 3, Subject C, O, CN present and OU exactly
 * "Authenticator Attestation", Basic Constraints with CA false, and the
 * id-fido-gen-ce-aaguid extension, when present, non-critical and equal to
 * the AAGUID of the authenticator data. No chain is built: trust in the
 * attestation is out of scope. */
static int
wa_cert_check(X509 *leaf, const unsigned char aaguid[WA_AAGUID_LEN], const char **why)
{
	static const char ou[] = WA_OU_ATTESTATION;
	const X509_NAME *subj = X509_get_subject_name(leaf);
	ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *inner = NULL;
	const ASN1_OCTET_STRING *data;
	const ASN1_STRING *s;
	X509_EXTENSION *ext;
	const unsigned char *q;
	uint32_t fl;
	int r, i;

	if (X509_get_version(leaf) != X509_VERSION_3)
		FAIL(KH_ERR_DENIED, "attestation certificate is not X.509 v3");
	if (subj == NULL || X509_NAME_get_index_by_NID(subj, NID_countryName, -1) < 0 ||
	    X509_NAME_get_index_by_NID(subj, NID_organizationName, -1) < 0 ||
	    X509_NAME_get_index_by_NID(subj, NID_commonName, -1) < 0)
		FAIL(KH_ERR_DENIED, "attestation certificate subject lacks C, O or CN");
	i = X509_NAME_get_index_by_NID(subj, NID_organizationalUnitName, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(subj, NID_organizationalUnitName, i) >= 0 ||
	    (s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i))) == NULL ||
	    ASN1_STRING_length(s) != (int)sizeof(ou) - 1 ||
	    memcmp(ASN1_STRING_get0_data(s), ou, sizeof(ou) - 1) != 0)
		FAIL(KH_ERR_DENIED,
		    "attestation certificate OU is not \"Authenticator Attestation\"");
	fl = X509_get_extension_flags(leaf);
	if (fl & EXFLAG_INVALID)
		FAIL(KH_ERR_DENIED, "attestation certificate has malformed extensions");
	if (!(fl & EXFLAG_BCONS) || (fl & EXFLAG_CA))
		FAIL(KH_ERR_DENIED, "attestation certificate is not marked CA:false");
	if ((oid = OBJ_txt2obj(WA_OID_AAGUID, 1)) == NULL)
		FAIL(KH_ERR_NOMEM, "out of memory");
	if ((i = X509_get_ext_by_OBJ(leaf, oid, -1)) >= 0) {
		if (X509_get_ext_by_OBJ(leaf, oid, i) >= 0)
			FAIL(KH_ERR_DENIED, "attestation certificate repeats the AAGUID extension");
		ext = X509_get_ext(leaf, i);
		if (X509_EXTENSION_get_critical(ext))
			FAIL(KH_ERR_DENIED, "AAGUID extension marked critical");
		data = X509_EXTENSION_get_data(ext);
		q = ASN1_STRING_get0_data(data);
		if ((inner = d2i_ASN1_OCTET_STRING(NULL, &q, ASN1_STRING_length(data))) == NULL ||
		    q != ASN1_STRING_get0_data(data) + ASN1_STRING_length(data) ||
		    ASN1_STRING_length(inner) != WA_AAGUID_LEN ||
		    memcmp(ASN1_STRING_get0_data(inner), aaguid, WA_AAGUID_LEN) != 0)
			FAIL(KH_ERR_DENIED,
			    "AAGUID in the certificate differs from the authenticator's");
	}
	r = KH_OK;
out:
	ASN1_OCTET_STRING_free(inner);
	ASN1_OBJECT_free(oid);
	ERR_clear_error();
	return r;
}

/* ---- the ceremonies ---- */

static void
wa_aaguid_fmt(const unsigned char g[WA_AAGUID_LEN], char out[37])
{
	char hex[2 * WA_AAGUID_LEN + 1];

	kh_hex_encode(g, WA_AAGUID_LEN, hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static char *
wa_b64_out(const unsigned char *p, size_t n)
{
	char *s = malloc(kh_b64url_enclen(n));

	if (s != NULL)
		kh_b64url_encode(p, n, s);
	return s;
}

static int
wa_rp_ok(const struct kh_wa_rp *rp, const char *challenge_b64)
{
	return rp != NULL && rp->rp_id != NULL && rp->rp_id[0] != '\0' && rp->origin != NULL &&
	    rp->origin[0] != '\0' && challenge_b64 != NULL && challenge_b64[0] != '\0';
}

int
kh_wa_verify_registration(const struct kh_wa_rp *rp, const char *challenge_b64,
    const char *client_data_b64, const char *att_obj_b64, int require_uv, struct kh_wa_cred *out,
    const char **why)
{
	static const unsigned char zero_guid[WA_AAGUID_LEN];
	unsigned char *cd = NULL, *ao = NULL, cdhash[32];
	const unsigned char *ad = NULL;
	size_t cdlen, aolen, adlen = 0, used;
	cbor_item_t *root = NULL, *fmt, *stmt, *v;
	struct wa_cd cdj = { 0 };
	struct wa_ad a;
	struct wa_packed pk = { 0 };
	const char *whybuf;
	EVP_PKEY *credkey = NULL;
	int r, alg, packed;

	if (why == NULL)
		why = &whybuf;
	*why = NULL;
	if (out == NULL)
		return KH_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	if (!wa_rp_ok(rp, challenge_b64))
		FAIL(KH_ERR_INVALID, "missing RP, origin or challenge");

	/* decode and parse everything first */
	if ((r = wa_b64_in(client_data_b64, KH_WA_CLIENT_DATA_MAX, &cd, &cdlen)) != KH_OK)
		FAIL(r, "clientDataJSON is not base64url within the limit");
	if ((r = wa_b64_in(att_obj_b64, KH_WA_ATT_OBJ_MAX, &ao, &aolen)) != KH_OK)
		FAIL(r, "attestationObject is not base64url within the limit");
	if ((r = wa_cd_parse(cd, cdlen, &cdj, why)) != KH_OK)
		goto out;
	if ((r = wa_cbor_load(ao, aolen, &root, &used)) != KH_OK)
		FAIL(r, "attestationObject is not CBOR");
	if (used != aolen)
		FAIL(KH_ERR_INVALID, "bytes after the attestationObject");
	if (!cbor_isa_map(root) || wa_map_get(root, "fmt", 0, &fmt) != KH_OK ||
	    wa_map_get(root, "attStmt", 0, &stmt) != KH_OK ||
	    wa_map_get(root, "authData", 0, &v) != KH_OK || fmt == NULL || stmt == NULL ||
	    !cbor_isa_map(stmt) || !wa_cbor_bytes(v, &ad, &adlen))
		FAIL(KH_ERR_INVALID, "attestationObject is not a map of fmt, attStmt and authData");
	if (wa_cbor_text_is(fmt, WA_FMT_NONE))
		packed = 0;
	else if (wa_cbor_text_is(fmt, WA_FMT_PACKED))
		packed = 1;
	else if (cbor_isa_string(fmt))
		FAIL(KH_ERR_DENIED, "attestation format not supported");
	else
		FAIL(KH_ERR_INVALID, "attestation fmt is not a text string");
	if ((r = wa_ad_parse(ad, adlen, 1, &a, why)) != KH_OK)
		goto out;
	if ((r = wa_cose_parse(a.cose, a.cose_len, &alg, &credkey, why)) != KH_OK)
		goto out;
	if (!packed) {
		if (!cbor_map_is_definite(stmt) || cbor_map_size(stmt) != 0)
			FAIL(KH_ERR_INVALID, "\"none\" attestation with a statement");
	} else if ((r = wa_packed_parse(stmt, &pk, why)) != KH_OK)
		goto out;

	/* then the checks */
	if ((r = wa_cd_check(&cdj, "webauthn.create", challenge_b64, rp->origin, why)) != KH_OK)
		goto out;
	if ((r = wa_ad_check(&a, rp->rp_id, require_uv, why)) != KH_OK)
		goto out;
	if (EVP_Digest(cd, cdlen, cdhash, NULL, EVP_sha256(), NULL) != 1)
		FAIL(KH_ERR_CRYPTO, "SHA-256 failed");
	if (packed && pk.leaf == NULL) {
		/* self attestation: signed by the credential key itself */
		if (pk.alg != alg)
			FAIL(KH_ERR_DENIED, "self attestation alg differs from the credential's");
		if ((r = wa_sig_verify(credkey, alg, ad, adlen, cdhash, pk.sig, pk.siglen)) !=
		    KH_OK)
			FAIL(r, "self attestation signature does not verify");
	} else if (packed) {
		if (pk.alg != WA_ALG_ES256 && pk.alg != WA_ALG_RS256 && pk.alg != WA_ALG_EDDSA)
			FAIL(KH_ERR_DENIED, "attestation algorithm not supported");
		if (!wa_key_fits(X509_get0_pubkey(pk.leaf), (int)pk.alg))
			FAIL(KH_ERR_DENIED, "attestation certificate key does not match alg");
		if ((r = wa_sig_verify(X509_get0_pubkey(pk.leaf), (int)pk.alg, ad, adlen, cdhash,
			 pk.sig, pk.siglen)) != KH_OK)
			FAIL(r, "attestation signature does not verify");
		if ((r = wa_cert_check(pk.leaf, a.aaguid, why)) != KH_OK)
			goto out;
	}

	if ((out->id = wa_b64_out(a.cred_id, a.cred_id_len)) == NULL ||
	    (out->pubkey = wa_b64_out(a.cose, a.cose_len)) == NULL)
		FAIL(KH_ERR_NOMEM, "out of memory");
	out->alg = alg;
	out->sign_count = a.count;
	/* "none" attests nothing: its AAGUID is recorded as zeros (webauthn.h) */
	wa_aaguid_fmt(packed ? a.aaguid : zero_guid, out->aaguid);
	snprintf(out->fmt, sizeof(out->fmt), "%s", packed ? WA_FMT_PACKED : WA_FMT_NONE);
	out->uv = (a.flags & WA_FLAG_UV) != 0;
	out->backup_eligible = (a.flags & WA_FLAG_BE) != 0;
	r = KH_OK;
out:
	if (r != KH_OK)
		kh_wa_cred_clear(out);
	X509_free(pk.leaf);
	EVP_PKEY_free(credkey);
	if (root != NULL)
		cbor_decref(&root);
	json_decref(cdj.doc);
	free(cd);
	free(ao);
	ERR_clear_error();
	return r;
}

int
kh_wa_verify_assertion(const struct kh_wa_rp *rp, const char *challenge_b64,
    const struct kh_wa_cred *cred, const char *client_data_b64, const char *auth_data_b64,
    const char *sig_b64, int require_uv, uint32_t *new_count, const char **why)
{
	unsigned char *cd = NULL, *ad = NULL, *sig = NULL, *cose = NULL, cdhash[32];
	size_t cdlen, adlen, siglen, coselen;
	struct wa_cd cdj = { 0 };
	struct wa_ad a;
	const char *whybuf;
	EVP_PKEY *key = NULL;
	int r, alg;

	if (why == NULL)
		why = &whybuf;
	*why = NULL;
	if (new_count == NULL)
		return KH_ERR_INVALID;
	*new_count = 0;
	if (!wa_rp_ok(rp, challenge_b64) || cred == NULL || cred->pubkey == NULL)
		FAIL(KH_ERR_INVALID, "missing RP, origin, challenge or credential");

	if ((r = wa_b64_in(client_data_b64, KH_WA_CLIENT_DATA_MAX, &cd, &cdlen)) != KH_OK)
		FAIL(r, "clientDataJSON is not base64url within the limit");
	if ((r = wa_b64_in(auth_data_b64, KH_WA_AUTH_DATA_MAX, &ad, &adlen)) != KH_OK)
		FAIL(r, "authenticatorData is not base64url within the limit");
	if ((r = wa_b64_in(sig_b64, KH_WA_SIG_MAX, &sig, &siglen)) != KH_OK)
		FAIL(r, "signature is not base64url within the limit");
	if ((r = wa_b64_in(cred->pubkey, WA_COSE_KEY_MAX, &cose, &coselen)) != KH_OK)
		FAIL(r, "stored public key is not base64url within the limit");
	if ((r = wa_cd_parse(cd, cdlen, &cdj, why)) != KH_OK)
		goto out;
	if ((r = wa_ad_parse(ad, adlen, 0, &a, why)) != KH_OK)
		goto out;
	if ((r = wa_cose_parse(cose, coselen, &alg, &key, why)) != KH_OK)
		goto out;
	if (alg != cred->alg)
		FAIL(KH_ERR_INVALID, "stored credential algorithm differs from its key");

	if ((r = wa_cd_check(&cdj, "webauthn.get", challenge_b64, rp->origin, why)) != KH_OK)
		goto out;
	if ((r = wa_ad_check(&a, rp->rp_id, require_uv, why)) != KH_OK)
		goto out;
	if (EVP_Digest(cd, cdlen, cdhash, NULL, EVP_sha256(), NULL) != 1)
		FAIL(KH_ERR_CRYPTO, "SHA-256 failed");
	if ((r = wa_sig_verify(key, alg, ad, adlen, cdhash, sig, siglen)) != KH_OK)
		FAIL(r, "assertion signature does not verify");
	*new_count = a.count;
	r = KH_OK;
out:
	EVP_PKEY_free(key);
	json_decref(cdj.doc);
	free(cd);
	free(ad);
	free(sig);
	free(cose);
	ERR_clear_error();
	return r;
}

/* ---- storage ---- */

void
kh_wa_cred_clear(struct kh_wa_cred *c)
{
	if (c == NULL)
		return;
	free(c->id);
	free(c->pubkey);
	memset(c, 0, sizeof(*c));
}

int
kh_wa_cred_to_json(const struct kh_wa_cred *c, char **json)
{
	json_t *doc = NULL;
	int r = KH_ERR_INVALID;

	if (json == NULL)
		return KH_ERR_INVALID;
	*json = NULL;
	if (c == NULL || c->id == NULL || c->pubkey == NULL ||
	    memchr(c->aaguid, '\0', sizeof(c->aaguid)) == NULL ||
	    memchr(c->fmt, '\0', sizeof(c->fmt)) == NULL)
		goto out;
	if ((doc = json_pack("{s:s, s:i, s:s, s:I, s:s, s:s, s:b, s:b}", "id", c->id, "alg", c->alg,
		 "pubkey", c->pubkey, "sign_count", (json_int_t)c->sign_count, "aaguid", c->aaguid,
		 "fmt", c->fmt, "uv", c->uv != 0, "backup_eligible", c->backup_eligible != 0)) ==
	    NULL)
		goto out;
	if ((*json = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	r = KH_OK;
out:
	json_decref(doc);
	return r;
}

static int
wa_aaguid_valid(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

static int
wa_fmt_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= sizeof(((struct kh_wa_cred *)0)->fmt))
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* Unknown members are ignored, so a newer writer's documents still load. */
int
kh_wa_cred_from_json(const char *json, struct kh_wa_cred *out)
{
	unsigned char *raw = NULL;
	json_t *doc = NULL, *v;
	const char *id, *pub, *aaguid, *fmt, *why;
	size_t rawlen;
	json_int_t alg, cnt;
	int r = KH_ERR_INVALID, keyalg;

	if (out == NULL)
		return KH_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	if (json == NULL)
		goto out;
	if (strnlen(json, WA_CRED_JSON_MAX + 1) > WA_CRED_JSON_MAX) {
		r = KH_ERR_TOO_LARGE;
		goto out;
	}
	if ((doc = json_loads(json, JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(doc))
		goto out;
	id = json_string_value(json_object_get(doc, "id"));
	pub = json_string_value(json_object_get(doc, "pubkey"));
	aaguid = json_string_value(json_object_get(doc, "aaguid"));
	fmt = json_string_value(json_object_get(doc, "fmt"));
	if (id == NULL || pub == NULL || aaguid == NULL || fmt == NULL)
		goto out;
	if (!json_is_integer(v = json_object_get(doc, "alg")) ||
	    ((alg = json_integer_value(v)) != WA_ALG_ES256 && alg != WA_ALG_RS256 &&
		alg != WA_ALG_EDDSA))
		goto out;
	if (!json_is_integer(v = json_object_get(doc, "sign_count")) ||
	    (cnt = json_integer_value(v)) < 0 || cnt > (json_int_t)UINT32_MAX)
		goto out;
	if (!json_is_boolean(json_object_get(doc, "uv")) ||
	    !json_is_boolean(json_object_get(doc, "backup_eligible")))
		goto out;
	if (!wa_aaguid_valid(aaguid) || !wa_fmt_valid(fmt))
		goto out;
	/* the id: base64url of 1..1023 bytes */
	if ((r = wa_b64_in(id, KH_WA_CRED_ID_MAX, &raw, &rawlen)) != KH_OK) {
		r = r == KH_ERR_NOMEM ? r : KH_ERR_INVALID;
		goto out;
	}
	free(raw);
	raw = NULL;
	/* the key: a COSE_Key of the same algorithm */
	if ((r = wa_b64_in(pub, WA_COSE_KEY_MAX, &raw, &rawlen)) != KH_OK) {
		r = r == KH_ERR_NOMEM ? r : KH_ERR_INVALID;
		goto out;
	}
	if ((r = wa_cose_parse(raw, rawlen, &keyalg, NULL, &why)) != KH_OK || keyalg != alg) {
		r = r == KH_ERR_NOMEM ? r : KH_ERR_INVALID;
		goto out;
	}
	if ((out->id = strdup(id)) == NULL || (out->pubkey = strdup(pub)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	out->alg = (int)alg;
	out->sign_count = (uint32_t)cnt;
	memcpy(out->aaguid, aaguid, 37);
	snprintf(out->fmt, sizeof(out->fmt), "%s", fmt);
	out->uv = json_is_true(json_object_get(doc, "uv"));
	out->backup_eligible = json_is_true(json_object_get(doc, "backup_eligible"));
	r = KH_OK;
out:
	if (r != KH_OK)
		kh_wa_cred_clear(out);
	free(raw);
	json_decref(doc);
	return r;
}
