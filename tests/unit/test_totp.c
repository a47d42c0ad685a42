/* common/totp.h: RFC 6238 Appendix B, RFC 4226 Appendix D, RFC 4648 base32,
 * the verification window, replay, typed-code normalisation and the
 * otpauth:// URI. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/totp.h"
#include "tests/unit/tap.h"

static const unsigned char seed1[] = "12345678901234567890";
static const unsigned char seed256[] = "12345678901234567890123456789012";
static const unsigned char seed512[] =
    "1234567890123456789012345678901234567890123456789012345678901234";

struct rfc6238 {
	int64_t t;
	const char *sha1, *sha256, *sha512;
};

static const struct rfc6238 b[] = {
	{ 59, "94287082", "46119246", "90693936" },
	{ 1111111109, "07081804", "68084774", "25091201" },
	{ 1111111111, "14050471", "67062674", "99943326" },
	{ 1234567890, "89005924", "91819424", "93441116" },
	{ 2000000000, "69279037", "90698825", "38618901" },
	{ 20000000000LL, "65353130", "77737706", "47863826" },
};

static const char *const hotp[] = { "755224", "287082", "359152", "969429", "338314", "254676",
	"287922", "162583", "399871", "520489" };

static const struct {
	const char *in, *out;
} b32[] = {
	{ "", "" },
	{ "f", "MY" },
	{ "fo", "MZXQ" },
	{ "foo", "MZXW6" },
	{ "foob", "MZXW6YQ" },
	{ "fooba", "MZXW6YTB" },
	{ "foobar", "MZXW6YTBOI" },
};

static int
code_at(int64_t t, char out[7])
{
	return kh_totp_code(seed1, 20, (uint64_t)(t / KH_TOTP_PERIOD), 6, 1, out, 7);
}

static void
test_rfc6238(void)
{
	char c[9];
	size_t i;

	for (i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		uint64_t step = (uint64_t)(b[i].t / 30);

		ok(kh_totp_code(seed1, 20, step, 8, 1, c, sizeof(c)) == KH_OK &&
			strcmp(c, b[i].sha1) == 0,
		    "RFC 6238 SHA-1 T=%lld: %s (%s)", (long long)b[i].t, b[i].sha1, c);
		ok(kh_totp_code(seed256, 32, step, 8, 256, c, sizeof(c)) == KH_OK &&
			strcmp(c, b[i].sha256) == 0,
		    "RFC 6238 SHA-256 T=%lld: %s (%s)", (long long)b[i].t, b[i].sha256, c);
		ok(kh_totp_code(seed512, 64, step, 8, 512, c, sizeof(c)) == KH_OK &&
			strcmp(c, b[i].sha512) == 0,
		    "RFC 6238 SHA-512 T=%lld: %s (%s)", (long long)b[i].t, b[i].sha512, c);
	}
}

static void
test_rfc4226(void)
{
	char c[9];
	int i, good = 1;

	for (i = 0; i < 10; i++) {
		int r = kh_totp_code(seed1, 20, (uint64_t)i, 6, 1, c, sizeof(c));

		ok(r == KH_OK && strcmp(c, hotp[i]) == 0, "RFC 4226 HOTP count %d: %s (%s)", i,
		    hotp[i], c);
	}
	/* 7 digits: the last 7 of the truncated value (RFC 4226 5.3) */
	good = kh_totp_code(seed1, 20, 0, 7, 1, c, sizeof(c)) == KH_OK && strlen(c) == 7 &&
	    strcmp(c + 1, hotp[0]) == 0;
	ok(good, "7 digits extend the 6-digit code on the left (%s)", c);
}

static void
test_code_args(void)
{
	char c[9];

	ok(kh_totp_code(seed1, 20, 1, 5, 1, c, sizeof(c)) == KH_ERR_INVALID &&
		kh_totp_code(seed1, 20, 1, 9, 1, c, sizeof(c)) == KH_ERR_INVALID,
	    "digits outside 6..8: INVALID");
	ok(kh_totp_code(seed1, 20, 1, 6, 2, c, sizeof(c)) == KH_ERR_INVALID &&
		kh_totp_code(seed1, 20, 1, 6, 384, c, sizeof(c)) == KH_ERR_INVALID,
	    "hash other than 1/256/512: INVALID");
	ok(kh_totp_code(seed1, 20, 1, 8, 1, c, 8) == KH_ERR_TOO_LARGE && c[0] == '\0',
	    "an output buffer without room for the NUL: TOO_LARGE, empty output");
	ok(kh_totp_code(seed1, 0, 1, 6, 1, c, sizeof(c)) == KH_ERR_INVALID &&
		kh_totp_code(NULL, 20, 1, 6, 1, c, sizeof(c)) == KH_ERR_INVALID,
	    "an empty or NULL secret: INVALID");
	ok(kh_totp_code(seed1, 20, UINT64_MAX, 6, 1, c, sizeof(c)) == KH_ERR_INVALID,
	    "a step past INT64_MAX: INVALID");
}

static void
test_base32(void)
{
	char out[KH_TOTP_B32_MAX], small[4];
	unsigned char raw[40];
	size_t i;

	for (i = 0; i < sizeof(b32) / sizeof(b32[0]); i++)
		ok(kh_base32_encode((const unsigned char *)b32[i].in, strlen(b32[i].in), out,
		       sizeof(out)) == KH_OK &&
			strcmp(out, b32[i].out) == 0,
		    "RFC 4648 base32(\"%s\") = \"%s\" unpadded (%s)", b32[i].in, b32[i].out, out);
	ok(kh_base32_encode(seed1, 20, out, sizeof(out)) == KH_OK &&
		strcmp(out, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") == 0 && strlen(out) == 32,
	    "a 20-byte secret is 32 characters (%s)", out);
	memset(raw, 0xff, sizeof(raw));
	ok(kh_base32_encode(raw, sizeof(raw), out, sizeof(out)) == KH_OK && strlen(out) == 64,
	    "40 bytes fit KH_TOTP_B32_MAX (%zu chars)", strlen(out));
	ok(kh_base32_encode((const unsigned char *)"foobar", 6, small, sizeof(small)) ==
		    KH_ERR_TOO_LARGE &&
		small[0] == '\0',
	    "a short output buffer: TOO_LARGE, empty output");
}

static void
test_verify(void)
{
	const int64_t now = 1700000015; /* step 56666667, 15 s in */
	const int64_t cur = now / 30;
	char c[7], buf[64];
	int64_t m;
	int d;

	for (d = -1; d <= 1; d++) {
		code_at(now + d * 30, c);
		m = -7;
		ok(kh_totp_verify(seed1, 20, c, now, 1, -1, &m) == KH_OK && m == cur + d,
		    "window 1: the code of step %+d is accepted and its step returned", d);
	}
	for (d = -2; d <= 2; d += 4) {
		code_at(now + d * 30, c);
		m = -7;
		ok(kh_totp_verify(seed1, 20, c, now, 1, -1, &m) == KH_ERR_INVALID && m == -1,
		    "window 1: the code of step %+d is refused", d);
		ok(kh_totp_verify(seed1, 20, c, now, 2, -1, &m) == KH_OK && m == cur + d,
		    "window 2: the code of step %+d is accepted", d);
	}
	code_at(now + 30, c);
	ok(kh_totp_verify(seed1, 20, c, now, 0, -1, &m) == KH_ERR_INVALID,
	    "window 0: only the current step");

	/* replay */
	code_at(now, c);
	ok(kh_totp_verify(seed1, 20, c, now, 1, cur, &m) == KH_ERR_REPLAY && m == -1,
	    "the step already used (last_step = step): REPLAY");
	ok(kh_totp_verify(seed1, 20, c, now, 1, cur + 1, &m) == KH_ERR_REPLAY,
	    "a step before the last used one: REPLAY");
	ok(kh_totp_verify(seed1, 20, c, now, 1, cur - 1, &m) == KH_OK && m == cur,
	    "a step after the last used one: OK");
	code_at(now - 30, c);
	ok(kh_totp_verify(seed1, 20, c, now, 1, cur, &m) == KH_ERR_REPLAY,
	    "an older code in the window after a newer one was used: REPLAY");
	ok(kh_totp_verify(seed1, 20, "000000", now, 1, cur, &m) != KH_OK,
	    "a wrong code after a use is not accepted");

	/* typed input */
	code_at(now, c);
	snprintf(buf, sizeof(buf), "  %s  ", c);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_OK, "surrounding spaces allowed");
	snprintf(buf, sizeof(buf), "%.3s %s", c, c + 3);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_OK,
	    "one inner space allowed (\"%s\")", buf);
	snprintf(buf, sizeof(buf), " %.3s %s ", c, c + 3);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_OK,
	    "one inner space and surrounding spaces");
	snprintf(buf, sizeof(buf), "%.3s  %s", c, c + 3);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_ERR_INVALID,
	    "two inner spaces refused");
	snprintf(buf, sizeof(buf), "%.2s %.2s %s", c, c + 2, c + 4);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_ERR_INVALID,
	    "two inner gaps refused");
	snprintf(buf, sizeof(buf), "%.3s\t%s", c, c + 3);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_ERR_INVALID, "a tab refused");
	snprintf(buf, sizeof(buf), "%.3s-%s", c, c + 3);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_ERR_INVALID, "a dash refused");
	snprintf(buf, sizeof(buf), "%s\n", c);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_ERR_INVALID,
	    "a trailing newline refused");
	ok(kh_totp_verify(seed1, 20, "12345a", now, 1, -1, &m) == KH_ERR_INVALID &&
		kh_totp_verify(seed1, 20, "abcdef", now, 1, -1, &m) == KH_ERR_INVALID,
	    "letters refused");
	snprintf(buf, sizeof(buf), "%.5s", c);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_ERR_INVALID, "5 digits refused");
	snprintf(buf, sizeof(buf), "%s0", c);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_ERR_INVALID, "7 digits refused");
	snprintf(buf, sizeof(buf), "0%s", c);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_ERR_INVALID,
	    "7 digits (leading zero) refused");
	memcpy(buf, c, 3);
	buf[3] = '\0';
	memcpy(buf + 4, c + 3, 4);
	ok(kh_totp_verify(seed1, 20, buf, now, 1, -1, &m) == KH_ERR_INVALID,
	    "an embedded NUL ends the code: 3 digits refused");
	ok(kh_totp_verify(seed1, 20, "", now, 1, -1, &m) == KH_ERR_INVALID &&
		kh_totp_verify(seed1, 20, "      ", now, 1, -1, &m) == KH_ERR_INVALID,
	    "empty or blank refused");
	{
		char big[4096];

		memset(big, ' ', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		memcpy(big + sizeof(big) - 7, c, 6);
		ok(kh_totp_verify(seed1, 20, big, now, 1, -1, &m) == KH_ERR_INVALID,
		    "overlong input (4 KiB of padding) refused");
		memset(big, '1', sizeof(big) - 1);
		ok(kh_totp_verify(seed1, 20, big, now, 1, -1, &m) == KH_ERR_INVALID,
		    "overlong digits refused");
	}
	ok(kh_totp_verify(seed1, 20,
	       "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xef\xbc"
	       "\x95\xef\xbc\x96",
	       now, 1, -1, &m) == KH_ERR_INVALID,
	    "full-width digits refused");

	/* arguments */
	code_at(now, c);
	ok(kh_totp_verify(seed1, 20, c, now, -1, -1, &m) == KH_ERR_INVALID &&
		kh_totp_verify(seed1, 20, c, now, 11, -1, &m) == KH_ERR_INVALID,
	    "window outside 0..10: INVALID");
	ok(kh_totp_verify(seed1, 20, c, -1, 1, -1, &m) == KH_ERR_INVALID, "negative time: INVALID");
	ok(kh_totp_verify(seed1, 20, c, now, 1, -2, &m) == KH_ERR_INVALID,
	    "last_step below -1: INVALID");
	ok(kh_totp_verify(seed1, 20, NULL, now, 1, -1, &m) == KH_ERR_INVALID &&
		kh_totp_verify(seed1, 20, c, now, 1, -1, NULL) == KH_ERR_INVALID,
	    "NULL code or output: INVALID");
	code_at(15, c);
	ok(kh_totp_verify(seed1, 20, c, 15, 1, -1, &m) == KH_OK && m == 0,
	    "step 0 with a window reaching below it");
}

static void
test_uri(void)
{
	struct kh_buf u;
	const char *want = "otpauth://totp/%E6%9E%B6%E3%81%91%E6%A9%8B%20Kakehashi:"
			   "%E5%B1%B1%E7%94%B0%E5%A4%AA%E9%83%8E%40pref.example.lg.jp"
			   "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
			   "&issuer=%E6%9E%B6%E3%81%91%E6%A9%8B%20Kakehashi"
			   "&algorithm=SHA1&digits=6&period=30";

	kh_buf_init(&u, 4096);
	ok(kh_totp_uri("架け橋 Kakehashi", "山田太郎@pref.example.lg.jp",
	       "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", &u) == KH_OK &&
		strcmp(kh_buf_cstr(&u), want) == 0,
	    "URI with a Japanese issuer and account, percent-encoded UTF-8");
	if (strcmp(kh_buf_cstr(&u), want) != 0)
		printf("#   got %s\n", kh_buf_cstr(&u));
	kh_buf_reset(&u);
	ok(kh_totp_uri("A:B", "c:d&e=f?g", "MZXW6", &u) == KH_OK &&
		strcmp(kh_buf_cstr(&u),
		    "otpauth://totp/A%3AB:c%3Ad%26e%3Df%3Fg?secret=MZXW6&issuer=A%3AB"
		    "&algorithm=SHA1&digits=6&period=30") == 0,
	    "':', '&', '=', '?' in the label are encoded (%s)", kh_buf_cstr(&u));
	kh_buf_reset(&u);
	kh_buf_append_str(&u, "x");
	ok(kh_totp_uri("Kakehashi", "\xe5\xb1", "MZXW6", &u) == KH_ERR_INVALID &&
		strcmp(kh_buf_cstr(&u), "x") == 0,
	    "invalid UTF-8 in the account: INVALID, buffer untouched");
	ok(kh_totp_uri("Kake\nhashi", "a", "MZXW6", &u) == KH_ERR_INVALID,
	    "a control character in the issuer: INVALID");
	ok(kh_totp_uri("", "a", "MZXW6", &u) == KH_ERR_INVALID &&
		kh_totp_uri("K", "", "MZXW6", &u) == KH_ERR_INVALID,
	    "empty issuer or account: INVALID");
	ok(kh_totp_uri("K", "a", "mzxw6", &u) == KH_ERR_INVALID &&
		kh_totp_uri("K", "a", "MZXW6===", &u) == KH_ERR_INVALID &&
		kh_totp_uri("K", "a", "", &u) == KH_ERR_INVALID,
	    "a secret that is not unpadded upper-case base32: INVALID");
	{
		char longname[300];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		ok(kh_totp_uri("K", longname, "MZXW6", &u) == KH_ERR_INVALID,
		    "an account over 256 bytes: INVALID");
	}
	kh_buf_free(&u);
	kh_buf_init(&u, 40);
	kh_buf_append_str(&u, "x");
	ok(kh_totp_uri("Kakehashi", "user", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", &u) ==
		    KH_ERR_TOO_LARGE &&
		strcmp(kh_buf_cstr(&u), "x") == 0,
	    "a buffer too small: TOO_LARGE, nothing half-written left");
	kh_buf_free(&u);
}

int
main(void)
{
	ok(kh_totp_global_init() == KH_OK, "oath_init");
	test_rfc6238();
	test_rfc4226();
	test_code_args();
	test_base32();
	test_verify();
	test_uri();
	kh_totp_global_done();
	return tap_done();
}
