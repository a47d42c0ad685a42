#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/errors.h"
#include "tests/unit/tap.h"

int
main(void)
{
	unsigned char mac[KH_HMAC_LEN], key[KH_GCM_KEY_LEN], raw[64], ct[128], pt[128];
	char hex[2 * KH_HMAC_LEN + 1], enc[128];
	const void *parts[2];
	size_t lens[2], n, m;
	char *tok;
	int r;

	/* RFC 4231 test case 2 */
	ok(kh_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac) == KH_OK,
	    "hmac computes");
	kh_hex_encode(mac, sizeof(mac), hex);
	ok(strcmp(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") == 0,
	    "hmac-sha256 matches RFC 4231 case 2");

	parts[0] = "ab";
	lens[0] = 2;
	parts[1] = "c";
	lens[1] = 1;
	kh_hmac_sha256_parts("k", 1, parts, lens, 2, mac);
	memcpy(raw, mac, KH_HMAC_LEN);
	parts[0] = "a";
	lens[0] = 1;
	parts[1] = "bc";
	lens[1] = 2;
	kh_hmac_sha256_parts("k", 1, parts, lens, 2, mac);
	ok(!kh_ct_equal(raw, mac, KH_HMAC_LEN), "hmac parts are length-prefixed");

	ok(kh_ct_equal("abc", "abc", 3) && !kh_ct_equal("abc", "abd", 3), "ct_equal");
	ok(kh_ct_streq("secret", "secret") && !kh_ct_streq("secret", "secreT") &&
		!kh_ct_streq("secret", "secrets"),
	    "ct_streq");

	/* RFC 4648 base64url */
	kh_b64url_encode("\xfb\xff", 2, enc);
	ok(strcmp(enc, "-_8") == 0, "b64url uses - and _ without padding");
	{
		/* exact-size output buffers: the encoder must not write padding past them */
		char *exact = malloc(kh_b64url_enclen(32));
		memset(raw, 0xab, 32);
		kh_b64url_encode(raw, 32, exact);
		ok(kh_b64url_enclen(32) == 44 && strlen(exact) == 43,
		    "32 bytes encode to 43 characters in a 44-byte buffer");
		free(exact);
		exact = malloc(kh_b64url_enclen(16));
		kh_b64url_encode(raw, 16, exact);
		ok(kh_b64url_enclen(16) == 23 && strlen(exact) == 22,
		    "16 bytes encode to 22 characters in a 23-byte buffer");
		free(exact);
	}
	kh_b64url_encode("foobar", 6, enc);
	ok(strcmp(enc, "Zm9vYmFy") == 0, "b64url foobar");
	r = kh_b64url_decode("Zm9vYg", 6, raw, sizeof(raw));
	ok(r == 4 && memcmp(raw, "foob", 4) == 0, "b64url decode without padding");
	r = kh_b64url_decode("-_8", 3, raw, sizeof(raw));
	ok(r == 2 && raw[0] == 0xfb && raw[1] == 0xff, "b64url decode - and _");
	ok(kh_b64url_decode("Zm9v+g", 6, raw, sizeof(raw)) < 0, "b64url rejects +");
	ok(kh_b64url_decode("Zm9vYg==", 8, raw, sizeof(raw)) < 0, "b64url rejects padding");
	ok(kh_b64url_decode("Z", 1, raw, sizeof(raw)) < 0, "b64url rejects impossible length");
	ok(kh_b64url_decode("Zm9vYmFy", 8, raw, 3) == KH_ERR_TOO_LARGE,
	    "b64url respects output cap");
	ok(kh_b64url_decode("Zm9v!mFy", 8, raw, sizeof(raw)) < 0, "b64url rejects junk");
	ok(kh_b64url_decode("    AAAA", 8, raw, sizeof(raw)) < 0 &&
		kh_b64url_decode("AAAA\t\t\t\t", 8, raw, sizeof(raw)) < 0 &&
		kh_b64url_decode("AAAA\n\n\n\n", 8, raw, sizeof(raw)) < 0,
	    "b64url rejects white space (found by fuzzing)");

	ok(kh_hex_decode("00ff10", raw, 3) == KH_OK && raw[1] == 0xff, "hex decode");
	ok(kh_hex_decode("0g", raw, 1) == KH_ERR_INVALID, "hex decode rejects junk");

	ok(kh_random(key, sizeof(key)) == KH_OK, "random");
	ok(kh_gcm_seal(key, "uid=1", 5, "totp-secret", 11, ct, &n) == KH_OK &&
		n == 11 + KH_GCM_OVERHEAD,
	    "gcm seal");
	ok(kh_gcm_open(key, "uid=1", 5, ct, n, pt, &m) == KH_OK && m == 11 &&
		kh_ct_equal(pt, "totp-secret", 11),
	    "gcm round trip");
	ok(kh_gcm_open(key, "uid=2", 5, ct, n, pt, &m) == KH_ERR_CRYPTO, "gcm rejects other AAD");
	ct[n - 1] ^= 1;
	ok(kh_gcm_open(key, "uid=1", 5, ct, n, pt, &m) == KH_ERR_CRYPTO,
	    "gcm rejects tampered tag");
	ct[n - 1] ^= 1;
	ct[1 + KH_GCM_IV_LEN] ^= 1;
	ok(kh_gcm_open(key, "uid=1", 5, ct, n, pt, &m) == KH_ERR_CRYPTO,
	    "gcm rejects tampered ciphertext");
	ok(kh_gcm_open(key, "uid=1", 5, ct, 10, pt, &m) == KH_ERR_INVALID,
	    "gcm rejects short input");

	ok(kh_random_token(32, &tok) == KH_OK && strlen(tok) == 43,
	    "token of 32 bytes is 43 chars");
	free(tok);
	return tap_done();
}
