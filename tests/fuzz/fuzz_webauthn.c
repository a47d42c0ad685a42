/* libFuzzer target for idp/webauthn.c: kh_wa_verify_registration,
 * kh_wa_verify_assertion and the stored credential JSON.
 *
 * The RP is fixed: RP ID "localhost", origin "http://localhost:8080",
 * challenge the base64url of the bytes 1..32 (as in tests/unit/test_webauthn.c,
 * which writes the seeds of corpus/webauthn/ when KH_WA_CORPUS=DIR is set).
 * The first input byte chooses the mode (bits 0-1); the rest is split into
 * fields, each but the last preceded by a 2-byte big-endian length (cut to
 * what remains); fields are raw bytes the harness base64url-encodes.
 *   0: clientDataJSON, attestationObject -> registration (bit 2: require UV);
 *   1: COSE_Key, clientDataJSON, authenticatorData, signature -> assertion
 *      against a stored credential holding that key; bits 2-3 pick the
 *      stored alg (-7, -257, -8, -35), bit 4 requires UV;
 *   2: clientDataJSON, authenticatorData: the harness signs them (ES256, key
 *      made in LLVMFuzzerInitialize) and verifies the assertion; bit 2 set:
 *      one signature byte is flipped (offset from bits 3-7);
 *   3: the rest is a stored credential JSON document for kh_wa_cred_from_json.
 *
 * Properties (abort() with a message when one fails):
 *  - no crash, leak or UB; every input is an exact-size heap copy;
 *  - the result is KH_OK, KH_ERR_INVALID, KH_ERR_TOO_LARGE, KH_ERR_DENIED or
 *    KH_ERR_NOMEM; a failure sets *why and leaves the credential empty and the
 *    counter 0;
 *  - a success means the client data (re-read with jansson here) has the
 *    ceremony's type, our challenge and origin and no crossOrigin true, and
 *    (assertions) the authenticator data starts with SHA-256("localhost"),
 *    has UP (and UV when required), and the counter returned is its bytes
 *    33..36; a registered credential has an id, a key, a supported alg, fmt
 *    "none" or "packed", and survives to_json/from_json unchanged;
 *  - mode 2: a flipped signature never verifies;
 *  - mode 3: an accepted document round-trips through to_json/from_json. */
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "common/crypto.h"
#include "common/errors.h"
#include "idp/webauthn.h"

#define RP_ID "localhost"
#define ORIGIN "http://localhost:8080"

static char challenge[64];
static EVP_PKEY *key;
static char *key_cose_b64;
static unsigned char rp_hash[32];

static void
fail(const char *what)
{
	fprintf(stderr, "webauthn: %s\n", what);
	abort();
}

static char *
b64(const void *p, size_t n)
{
	char *s = malloc(kh_b64url_enclen(n));

	if (s == NULL)
		fail("out of memory");
	kh_b64url_encode(p, n, s);
	return s;
}

static void
put(cbor_item_t *m, cbor_item_t *k, cbor_item_t *v)
{
	if (k == NULL || v == NULL ||
	    !cbor_map_add(m, (struct cbor_pair){ .key = cbor_move(k), .value = cbor_move(v) }))
		fail("cbor_map_add");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char raw[32], pub[65], *cose = NULL;
	size_t publen = sizeof(pub), cap = 0, n;
	cbor_item_t *m;
	int i;

	(void)argc;
	(void)argv;
	for (i = 0; i < 32; i++)
		raw[i] = (unsigned char)(i + 1);
	kh_b64url_encode(raw, sizeof(raw), challenge);
	SHA256((const unsigned char *)RP_ID, strlen(RP_ID), rp_hash);
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    EVP_PKEY_get_octet_string_param(
		key, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &publen) != 1 ||
	    publen != 65)
		fail("key generation");
	if ((m = cbor_new_definite_map(5)) == NULL)
		fail("cbor");
	put(m, cbor_build_uint8(1), cbor_build_uint8(2));
	put(m, cbor_build_uint8(3), cbor_build_negint8(6));
	put(m, cbor_build_negint8(0), cbor_build_uint8(1));
	put(m, cbor_build_negint8(1), cbor_build_bytestring(pub + 1, 32));
	put(m, cbor_build_negint8(2), cbor_build_bytestring(pub + 33, 32));
	if ((n = cbor_serialize_alloc(m, &cose, &cap)) == 0)
		fail("cbor_serialize_alloc");
	cbor_decref(&m);
	key_cose_b64 = b64(cose, n);
	free(cose);
	return 0;
}

/* the next field: 2-byte length (cut to what remains) unless last */
static void
field(const uint8_t **p, size_t *n, int last, const uint8_t **f, size_t *flen)
{
	size_t l;

	if (last || *n < 2) {
		l = last ? *n : 0;
		*f = *p;
		*flen = l;
		*p += l;
		*n -= l;
		if (!last)
			*n = 0;
		return;
	}
	l = (size_t)(*p)[0] << 8 | (*p)[1];
	*p += 2;
	*n -= 2;
	if (l > *n)
		l = *n;
	*f = *p;
	*flen = l;
	*p += l;
	*n -= l;
}

static void
check_rc(int r, const char *why)
{
	if (r != KH_OK && r != KH_ERR_INVALID && r != KH_ERR_TOO_LARGE && r != KH_ERR_DENIED &&
	    r != KH_ERR_NOMEM)
		fail("unexpected return code");
	if (r != KH_OK && why == NULL)
		fail("failure without a reason");
}

/* what a success must have seen in clientDataJSON */
static void
check_cd(const uint8_t *cd, size_t n, const char *type)
{
	json_t *d = json_loadb((const char *)cd, n, JSON_REJECT_DUPLICATES, NULL), *co;
	const char *t, *c, *o;

	if (d == NULL || !json_is_object(d))
		fail("accepted clientDataJSON that is not an object");
	t = json_string_value(json_object_get(d, "type"));
	c = json_string_value(json_object_get(d, "challenge"));
	o = json_string_value(json_object_get(d, "origin"));
	co = json_object_get(d, "crossOrigin");
	if (t == NULL || strcmp(t, type) != 0 || c == NULL || strcmp(c, challenge) != 0 ||
	    o == NULL || strcmp(o, ORIGIN) != 0 || json_is_true(co))
		fail(
		    "accepted clientDataJSON with the wrong type, challenge, origin or crossOrigin");
	json_decref(d);
}

static void
check_ad(const uint8_t *ad, size_t n, int require_uv, uint32_t count)
{
	if (n < 37 || memcmp(ad, rp_hash, 32) != 0)
		fail("accepted authenticator data with another RP ID hash");
	if (!(ad[32] & 0x01) || (require_uv && !(ad[32] & 0x04)))
		fail("accepted authenticator data without UP (or UV when required)");
	if (count !=
	    ((uint32_t)ad[33] << 24 | (uint32_t)ad[34] << 16 | (uint32_t)ad[35] << 8 | ad[36]))
		fail("counter returned differs from the authenticator data");
}

static void
check_roundtrip(const struct kh_wa_cred *c)
{
	struct kh_wa_cred back;
	char *json = NULL, *again = NULL;

	if (kh_wa_cred_to_json(c, &json) != KH_OK)
		fail("to_json failed on a valid credential");
	if (kh_wa_cred_from_json(json, &back) != KH_OK)
		fail("from_json refused to_json's output");
	if (strcmp(back.id, c->id) != 0 || strcmp(back.pubkey, c->pubkey) != 0 ||
	    back.alg != c->alg || back.sign_count != c->sign_count ||
	    strcmp(back.aaguid, c->aaguid) != 0 || strcmp(back.fmt, c->fmt) != 0 ||
	    back.uv != c->uv || back.backup_eligible != c->backup_eligible)
		fail("credential changed through JSON");
	if (kh_wa_cred_to_json(&back, &again) != KH_OK || strcmp(json, again) != 0)
		fail("credential JSON not stable");
	kh_wa_cred_clear(&back);
	free(json);
	free(again);
}

static void
mode_register(const uint8_t *p, size_t n, unsigned flags)
{
	struct kh_wa_rp rp = { RP_ID, ORIGIN };
	const uint8_t *cd, *ao;
	size_t cdl, aol;
	struct kh_wa_cred c;
	const char *why = NULL;
	char *cdb, *aob;
	int r, uv = (flags & 1) != 0;

	field(&p, &n, 0, &cd, &cdl);
	field(&p, &n, 1, &ao, &aol);
	cdb = b64(cd, cdl);
	aob = b64(ao, aol);
	r = kh_wa_verify_registration(&rp, challenge, cdb, aob, uv, &c, &why);
	check_rc(r, why);
	if (r != KH_OK) {
		if (c.id != NULL || c.pubkey != NULL || c.alg != 0 || c.sign_count != 0)
			fail("credential set after a failure");
	} else {
		check_cd(cd, cdl, "webauthn.create");
		if (c.id == NULL || c.pubkey == NULL ||
		    (c.alg != -7 && c.alg != -257 && c.alg != -8) ||
		    (strcmp(c.fmt, "none") != 0 && strcmp(c.fmt, "packed") != 0) || (uv && !c.uv))
			fail("registered credential incomplete");
		check_roundtrip(&c);
		kh_wa_cred_clear(&c);
	}
	free(cdb);
	free(aob);
}

static int
verify(const char *pub, int alg, const uint8_t *cd, size_t cdl, const uint8_t *ad, size_t adl,
    const uint8_t *sig, size_t sigl, int uv, uint32_t *count, const char **why)
{
	struct kh_wa_rp rp = { RP_ID, ORIGIN };
	struct kh_wa_cred c = { 0 };
	char *cdb = b64(cd, cdl), *adb = b64(ad, adl), *sigb = b64(sig, sigl);
	int r;

	c.id = "AAAA";
	c.alg = alg;
	c.pubkey = (char *)pub;
	r = kh_wa_verify_assertion(&rp, challenge, &c, cdb, adb, sigb, uv, count, why);
	check_rc(r, *why);
	if (r != KH_OK && *count != 0)
		fail("counter set after a failure");
	if (r == KH_OK) {
		check_cd(cd, cdl, "webauthn.get");
		check_ad(ad, adl, uv, *count);
	}
	free(cdb);
	free(adb);
	free(sigb);
	return r;
}

static void
mode_assert(const uint8_t *p, size_t n, unsigned flags)
{
	static const int algs[4] = { -7, -257, -8, -35 };
	const uint8_t *cose, *cd, *ad, *sig;
	size_t cl, cdl, adl, sigl;
	const char *why = NULL;
	uint32_t count = 1;
	char *pub;

	field(&p, &n, 0, &cose, &cl);
	field(&p, &n, 0, &cd, &cdl);
	field(&p, &n, 0, &ad, &adl);
	field(&p, &n, 1, &sig, &sigl);
	pub = b64(cose, cl);
	(void)verify(
	    pub, algs[flags & 3], cd, cdl, ad, adl, sig, sigl, (flags & 4) != 0, &count, &why);
	free(pub);
}

static void
mode_signed(const uint8_t *p, size_t n, unsigned flags)
{
	const uint8_t *cd, *ad;
	size_t cdl, adl, sigl = 128;
	unsigned char sig[128], *msg;
	const char *why = NULL;
	EVP_MD_CTX *md;
	uint32_t count = 1;
	int r, tamper = (flags & 1) != 0;

	field(&p, &n, 0, &cd, &cdl);
	field(&p, &n, 1, &ad, &adl);
	if ((msg = malloc(adl + 32)) == NULL || (md = EVP_MD_CTX_new()) == NULL)
		fail("out of memory");
	if (adl > 0)
		memcpy(msg, ad, adl);
	SHA256(cd, cdl, msg + adl);
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &sigl, msg, adl + 32) != 1)
		fail("EVP_DigestSign");
	EVP_MD_CTX_free(md);
	free(msg);
	if (tamper)
		sig[(flags >> 1) % sigl] ^= 0x10;
	r = verify(key_cose_b64, -7, cd, cdl, ad, adl, sig, sigl, 0, &count, &why);
	if (r == KH_OK && tamper)
		fail("a flipped signature verified");
}

static void
mode_json(const uint8_t *p, size_t n)
{
	struct kh_wa_cred c;
	char *doc = malloc(n + 1);
	int r;

	if (doc == NULL)
		fail("out of memory");
	memcpy(doc, p, n);
	doc[n] = '\0';
	r = kh_wa_cred_from_json(doc, &c);
	if (r == KH_OK) {
		check_roundtrip(&c);
		kh_wa_cred_clear(&c);
	} else if (c.id != NULL || c.pubkey != NULL || c.alg != 0)
		fail("credential set after from_json failed");
	free(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags;

	if (size < 1)
		return 0;
	flags = data[0] >> 2;
	switch (data[0] & 3) {
	case 0: mode_register(data + 1, size - 1, flags); break;
	case 1: mode_assert(data + 1, size - 1, flags); break;
	case 2: mode_signed(data + 1, size - 1, flags); break;
	default: mode_json(data + 1, size - 1); break;
	}
	return 0;
}
