/* TOTP / HOTP on liboath (oath-toolkit), base32 and otpauth:// URIs.
 *
 * liboath computes the codes (oath_totp_generate2 with a one-second "period"
 * and the step as the time, so the HOTP counter is exactly the step); the
 * comparison is ours: every step of the window is computed and compared in
 * constant time, with no early exit, and the result is chosen without a
 * branch on which step matched. */
#include "common/totp.h"

#include <liboath/oath.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/str.h"

#define TOTP_SECRET_MAX 64 /* bytes: SHA-512 block size, plenty for any authenticator */
#define TOTP_INPUT_MAX 32 /* characters of a typed code read at most */
#define TOTP_WINDOW_MAX 10 /* steps either side */
#define URI_PART_MAX 256 /* bytes of issuer or account name */
#define URI_MAX 4096

int
kh_totp_global_init(void)
{
	return oath_init() == OATH_OK ? KH_OK : KH_ERR_CRYPTO;
}

void
kh_totp_global_done(void)
{
	oath_done();
}

int
kh_totp_code(const unsigned char *secret, size_t len, uint64_t step, int digits, int hash,
    char *out, size_t outlen)
{
	char code[16];
	int flags, r;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (secret == NULL || out == NULL || len == 0 || len > TOTP_SECRET_MAX || digits < 6 ||
	    digits > 8 || step > (uint64_t)INT64_MAX)
		return KH_ERR_INVALID;
	if (outlen < (size_t)digits + 1)
		return KH_ERR_TOO_LARGE;
	switch (hash) {
	case 1: flags = 0; break;
	case 256: flags = OATH_TOTP_HMAC_SHA256; break;
	case 512: flags = OATH_TOTP_HMAC_SHA512; break;
	default: return KH_ERR_INVALID;
	}
	/* time = step, period 1 s, epoch 0: the moving factor is the step. */
	if (oath_totp_generate2((const char *)secret, len, (time_t)step, 1, 0, (unsigned)digits,
		flags, code) != OATH_OK) {
		r = KH_ERR_CRYPTO;
		goto out;
	}
	if (strlen(code) != (size_t)digits) {
		r = KH_ERR_INTERNAL;
		goto out;
	}
	memcpy(out, code, (size_t)digits + 1);
	r = KH_OK;
out:
	explicit_bzero(code, sizeof(code));
	return r;
}

/* The six digits of a code typed by a person: optional spaces around it and
 * at most one space between two digits. Anything else (letters, another
 * length, a second inner space, more than TOTP_INPUT_MAX characters) is
 * refused. Reads at most TOTP_INPUT_MAX + 1 bytes of s. */
static int
totp_normalise(const char *s, char out[KH_TOTP_DIGITS + 1])
{
	size_t i, n = 0, inner = 0, pending = 0;

	out[0] = '\0';
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= TOTP_INPUT_MAX)
			return KH_ERR_INVALID;
		if (s[i] == ' ') {
			pending++;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || n >= KH_TOTP_DIGITS)
			return KH_ERR_INVALID;
		/* Spaces between two digits: one in all. */
		if (n > 0 && (inner += pending) > 1)
			return KH_ERR_INVALID;
		pending = 0;
		out[n++] = s[i];
	}
	if (n != KH_TOTP_DIGITS)
		return KH_ERR_INVALID;
	out[n] = '\0';
	return KH_OK;
}

int
kh_totp_verify(const unsigned char *secret, size_t len, const char *code, int64_t now, int window,
    int64_t last_step, int64_t *matched)
{
	char want[KH_TOTP_DIGITS + 1], got[KH_TOTP_DIGITS + 1];
	uint64_t fresh_mask = 0, fresh_step = 0, stale = 0, eq, newer, m;
	int64_t cur, s;
	int r;

	if (matched != NULL)
		*matched = -1;
	if (secret == NULL || code == NULL || matched == NULL || len == 0 ||
	    len > TOTP_SECRET_MAX || now < 0 || window < 0 || window > TOTP_WINDOW_MAX ||
	    last_step < -1)
		return KH_ERR_INVALID;
	if ((r = totp_normalise(code, want)) != KH_OK)
		goto out;
	cur = now / KH_TOTP_PERIOD;
	/* Every step is computed and compared; the first fresh match (the
	 * lowest step above last_step) is kept with masks, not branches. */
	for (s = cur - window; s <= cur + window; s++) {
		if (s < 0)
			continue; /* before 1970: depends only on now */
		if ((r = kh_totp_code(
			 secret, len, (uint64_t)s, KH_TOTP_DIGITS, 1, got, sizeof(got))) != KH_OK)
			goto out;
		eq = (uint64_t)kh_ct_equal(want, got, KH_TOTP_DIGITS);
		newer = (uint64_t)(s > last_step);
		m = 0 - (eq & newer & (fresh_mask ^ 1));
		fresh_step |= m & (uint64_t)s;
		fresh_mask |= eq & newer;
		stale |= eq & (newer ^ 1);
	}
	if (fresh_mask) {
		*matched = (int64_t)fresh_step;
		r = KH_OK;
	} else
		r = stale ? KH_ERR_REPLAY : KH_ERR_INVALID;
out:
	explicit_bzero(want, sizeof(want));
	explicit_bzero(got, sizeof(got));
	return r;
}

int
kh_base32_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	char *enc = NULL;
	size_t enclen = 0, i;
	int r;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if ((in == NULL && n > 0) || out == NULL)
		return KH_ERR_INVALID;
	if (n > 1024)
		return KH_ERR_TOO_LARGE;
	if (n == 0)
		return outlen > 0 ? KH_OK : KH_ERR_TOO_LARGE;
	if (oath_base32_encode((const char *)in, n, &enc, &enclen) != OATH_OK || enc == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	/* Unpadded: authenticator apps want the bare alphabet. */
	while (enclen > 0 && enc[enclen - 1] == '=')
		enclen--;
	if (enclen + 1 > outlen) {
		r = KH_ERR_TOO_LARGE;
		goto out;
	}
	for (i = 0; i < enclen; i++) {
		if (!((enc[i] >= 'A' && enc[i] <= 'Z') || (enc[i] >= '2' && enc[i] <= '7'))) {
			r = KH_ERR_INTERNAL;
			goto out;
		}
	}
	memcpy(out, enc, enclen);
	out[enclen] = '\0';
	r = KH_OK;
out:
	if (enc != NULL)
		kh_freezero(enc, strlen(enc) + 1);
	return r;
}

/* 1 when s is 1..KH_TOTP_B32_MAX - 1 characters of [A-Z2-7]. */
static int
b32_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= KH_TOTP_B32_MAX - 1 ||
		    !((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '2' && s[i] <= '7')))
			return 0;
	return i > 0;
}

/* 1 when s is 1..URI_PART_MAX bytes of UTF-8 text (no controls). */
static int
uri_part_ok(const char *s)
{
	size_t n = strnlen(s, URI_PART_MAX + 1);

	return n > 0 && n <= URI_PART_MAX && kh_utf8_valid_text(s, n);
}

int
kh_totp_uri(const char *issuer, const char *account, const char *b32, struct kh_buf *out)
{
	size_t start;
	int r;

	if (issuer == NULL || account == NULL || b32 == NULL || out == NULL)
		return KH_ERR_INVALID;
	if (!uri_part_ok(issuer) || !uri_part_ok(account) || !b32_ok(b32))
		return KH_ERR_INVALID;
	start = out->len;
	/* The label is ISSUER:ACCOUNT with each part percent-encoded (a ':'
	 * inside either becomes %3A, so the separator stays unambiguous). */
	if ((r = kh_buf_append_str(out, "otpauth://totp/")) != KH_OK ||
	    (r = kh_buf_append_urlenc(out, issuer)) != KH_OK ||
	    (r = kh_buf_append_str(out, ":")) != KH_OK ||
	    (r = kh_buf_append_urlenc(out, account)) != KH_OK ||
	    (r = kh_buf_append_str(out, "?secret=")) != KH_OK ||
	    (r = kh_buf_append_str(out, b32)) != KH_OK ||
	    (r = kh_buf_append_str(out, "&issuer=")) != KH_OK ||
	    (r = kh_buf_append_urlenc(out, issuer)) != KH_OK ||
	    (r = kh_buf_appendf(out, "&algorithm=SHA1&digits=%d&period=%d", KH_TOTP_DIGITS,
		 KH_TOTP_PERIOD)) != KH_OK)
		goto fail;
	if (out->len - start > URI_MAX) {
		r = KH_ERR_TOO_LARGE;
		goto fail;
	}
	return KH_OK;
fail:
	/* Nothing half-written is left behind (the secret included). */
	if (out->data != NULL) {
		explicit_bzero(out->data + start, out->len - start);
		out->len = start;
		out->data[start] = '\0';
	}
	return r;
}
