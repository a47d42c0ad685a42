#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

int
kh_random(void *out, size_t n)
{
	if (n > 0x7fffffff)
		return KH_ERR_INVALID;
	return RAND_bytes(out, (int)n) == 1 ? KH_OK : KH_ERR_CRYPTO;
}

int
kh_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int
kh_ct_streq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return 0;
	return CRYPTO_memcmp(a, b, la) == 0;
}

int
kh_hmac_sha256(
    const void *key, size_t keylen, const void *msg, size_t msglen, unsigned char out[KH_HMAC_LEN])
{
	unsigned int olen = 0;

	if (keylen > 0x7fffffff)
		return KH_ERR_INVALID;
	if (HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &olen) == NULL ||
	    olen != KH_HMAC_LEN)
		return KH_ERR_CRYPTO;
	return KH_OK;
}

/* The HMAC implementation, fetched once: EVP_MAC_fetch per call costs more
 * than the MAC itself on short inputs. EVP_MAC objects are shareable. */
static EVP_MAC *hmac_mac;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void
hmac_fetch(void)
{
	hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static EVP_MAC *
hmac_impl(void)
{
	pthread_once(&hmac_once, hmac_fetch);
	return hmac_mac;
}

int
kh_hmac_sha256_parts(const void *key, size_t keylen, const void *const *parts, const size_t *lens,
    size_t nparts, unsigned char out[KH_HMAC_LEN])
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	unsigned char pfx[4];
	size_t i, olen = 0;
	int r = KH_ERR_CRYPTO;

	if ((mac = hmac_impl()) == NULL || (ctx = EVP_MAC_CTX_new(mac)) == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(ctx, key, keylen, params) != 1)
		goto out;
	for (i = 0; i < nparts; i++) {
		if (lens[i] > 0xffffffffu) {
			r = KH_ERR_TOO_LARGE;
			goto out;
		}
		pfx[0] = (unsigned char)(lens[i] >> 24);
		pfx[1] = (unsigned char)(lens[i] >> 16);
		pfx[2] = (unsigned char)(lens[i] >> 8);
		pfx[3] = (unsigned char)lens[i];
		if (EVP_MAC_update(ctx, pfx, 4) != 1 || EVP_MAC_update(ctx, parts[i], lens[i]) != 1)
			goto out;
	}
	if (EVP_MAC_final(ctx, out, &olen, KH_HMAC_LEN) != 1 || olen != KH_HMAC_LEN)
		goto out;
	r = KH_OK;
out:
	EVP_MAC_CTX_free(ctx);
	return r;
}

size_t
kh_b64url_enclen(size_t n)
{
	return (4 * n + 2) / 3 + 1; /* unpadded characters + NUL */
}

/* EVP_EncodeBlock writes the padded form (up to two more bytes than the
 * result): encode into scratch space, then copy exactly what is kept, so out
 * needs only kh_b64url_enclen(n) bytes. */
void
kh_b64url_encode(const void *in, size_t n, char *out)
{
	unsigned char stackbuf[256], *tmp = stackbuf;
	size_t padded = (n + 2) / 3 * 4 + 1, keep = kh_b64url_enclen(n) - 1, i;

	if (padded > sizeof(stackbuf) && (tmp = malloc(padded)) == NULL) {
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock(tmp, in, (int)n);
	for (i = 0; i < keep; i++)
		out[i] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : (char)tmp[i];
	out[keep] = '\0';
	OPENSSL_cleanse(tmp, padded);
	if (tmp != stackbuf)
		free(tmp);
}

int
kh_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax)
{
	unsigned char *tmp = NULL, *dec = NULL;
	size_t i, padded, need;
	int n, pad, r = KH_ERR_INVALID;

	if (inlen % 4 == 1 || inlen > 1u << 20)
		return KH_ERR_INVALID;
	padded = (inlen + 3) / 4 * 4;
	if ((tmp = malloc(padded + 1)) == NULL || (dec = malloc(padded / 4 * 3 + 1)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < inlen; i++) {
		char c = in[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9')))
			goto out; /* only the base64url alphabet: no padding, no white space */
		tmp[i] = (unsigned char)c;
	}
	pad = (int)(padded - inlen);
	for (i = inlen; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	if (padded == 0) {
		r = 0;
		goto out;
	}
	if ((n = EVP_DecodeBlock(dec, tmp, (int)padded)) < 0)
		goto out;
	n -= pad;
	need = (size_t)n;
	if (need > outmax) {
		r = KH_ERR_TOO_LARGE;
		goto out;
	}
	memcpy(out, dec, need);
	r = n;
out:
	if (tmp != NULL) {
		OPENSSL_cleanse(tmp, padded + 1);
		free(tmp);
	}
	if (dec != NULL) {
		OPENSSL_cleanse(dec, padded / 4 * 3 + 1);
		free(dec);
	}
	return r;
}

void
kh_hex_encode(const void *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
kh_hex_decode(const char *in, unsigned char *out, size_t outlen)
{
	size_t i;
	int hi, lo;

	if (strlen(in) != outlen * 2)
		return KH_ERR_INVALID;
	for (i = 0; i < outlen; i++) {
		if ((hi = hexval(in[2 * i])) < 0 || (lo = hexval(in[2 * i + 1])) < 0)
			return KH_ERR_INVALID;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return KH_OK;
}

int
kh_gcm_seal(const unsigned char key[KH_GCM_KEY_LEN], const void *aad, size_t aadlen, const void *in,
    size_t n, unsigned char *out, size_t *outlen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *iv = out + 1, *ct = out + 1 + KH_GCM_IV_LEN;
	int len, r = KH_ERR_CRYPTO;

	*outlen = 0;
	if (n > 0x7fffff00 || aadlen > 0x7fffff00)
		return KH_ERR_TOO_LARGE;
	out[0] = 1; /* format version */
	if (kh_random(iv, KH_GCM_IV_LEN) != KH_OK)
		return KH_ERR_CRYPTO;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) != 1 ||
	    (aadlen > 0 && EVP_EncryptUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1) ||
	    EVP_EncryptUpdate(ctx, ct, &len, in, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(ctx, ct + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KH_GCM_TAG_LEN, ct + n) != 1)
		goto out;
	*outlen = n + KH_GCM_OVERHEAD;
	r = KH_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int
kh_gcm_open(const unsigned char key[KH_GCM_KEY_LEN], const void *aad, size_t aadlen,
    const unsigned char *in, size_t n, unsigned char *out, size_t *outlen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	const unsigned char *iv = in + 1, *ct = in + 1 + KH_GCM_IV_LEN;
	size_t ctlen;
	int len, r = KH_ERR_CRYPTO;

	*outlen = 0;
	if (n < KH_GCM_OVERHEAD || in[0] != 1)
		return KH_ERR_INVALID;
	if (n > 0x7fffff00 || aadlen > 0x7fffff00)
		return KH_ERR_TOO_LARGE;
	ctlen = n - KH_GCM_OVERHEAD;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) != 1 ||
	    (aadlen > 0 && EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1) ||
	    EVP_DecryptUpdate(ctx, out, &len, ct, (int)ctlen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KH_GCM_TAG_LEN, (void *)(ct + ctlen)) !=
		1 ||
	    EVP_DecryptFinal_ex(ctx, out + len, &len) != 1) {
		OPENSSL_cleanse(out, ctlen);
		goto out;
	}
	*outlen = ctlen;
	r = KH_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int
kh_random_token(size_t nbytes, char **out)
{
	unsigned char raw[64];
	char *s;

	*out = NULL;
	if (nbytes == 0 || nbytes > sizeof(raw))
		return KH_ERR_INVALID;
	if (kh_random(raw, nbytes) != KH_OK)
		return KH_ERR_CRYPTO;
	if ((s = malloc(kh_b64url_enclen(nbytes))) == NULL) {
		OPENSSL_cleanse(raw, sizeof(raw));
		return KH_ERR_NOMEM;
	}
	kh_b64url_encode(raw, nbytes, s);
	OPENSSL_cleanse(raw, sizeof(raw));
	*out = s;
	return KH_OK;
}

static EVP_PKEY *
pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
out:
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

EVP_PKEY *
kh_pkey_p256(const unsigned char x[32], const unsigned char y[32])
{
	unsigned char pub[65];
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	pub[0] = 0x04;
	memcpy(pub + 1, x, 32);
	memcpy(pub + 33, y, 32);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
		1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) != 1)
		goto out;
	if ((pkey = pkey_from_params("EC", bld)) == NULL)
		goto out;
	/* fromdata refuses points off the curve; check the rest of the key too */
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_public_check(ctx) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

EVP_PKEY *
kh_pkey_rsa(const unsigned char *nb, size_t nlen, const unsigned char *eb, size_t elen,
    int min_bits, int max_bits)
{
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (nlen == 0 || elen == 0 || nlen > 8192 || elen > 8192)
		return NULL;
	n = BN_bin2bn(nb, (int)nlen, NULL);
	e = BN_bin2bn(eb, (int)elen, NULL);
	if (n == NULL || e == NULL || BN_num_bits(n) < min_bits || BN_num_bits(n) > max_bits ||
	    !BN_is_odd(e) || BN_is_one(e) || BN_num_bits(e) > 64)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
		goto out;
	pkey = pkey_from_params("RSA", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}
