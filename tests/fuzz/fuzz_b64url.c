/* libFuzzer target for kh_b64url_decode / kh_b64url_encode (common/crypto.c).
 *
 * Properties:
 *  - round trip: decode(encode(x)) == x, with outmax exactly |x|; with
 *    outmax |x| - 1 the decoder refuses (KH_ERR_TOO_LARGE) and writes nothing;
 *  - arbitrary input, as text to decode, with outmax taken from the first
 *    byte: the output block is exactly outmax bytes on the heap, so ASan
 *    reports any write past it; a success returns at most outmax bytes;
 *  - a success means the input was unpadded base64url (only A-Z a-z 0-9 - _,
 *    length not 1 mod 4) and the length decoded is floor(3 * inlen / 4).
 *    The header documents "Decodes unpadded base64url": white space, padding
 *    and the standard alphabet must be refused. Non-zero trailing bits
 *    ("AB" vs "AA") are allowed by RFC 4648 3.5 and not checked. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/errors.h"

static int
is_b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_';
}

static void
fail(const char *what, const uint8_t *in, size_t n, int r)
{
	fprintf(stderr, "b64url: %s (r=%d) for %zu bytes:", what, r, n);
	for (size_t i = 0; i < n && i < 256; i++)
		fprintf(stderr, " %02x", in[i]);
	fprintf(stderr, "\n");
	abort();
}

static void
round_trip(const uint8_t *data, size_t size)
{
	char *enc;
	unsigned char *dec;
	size_t elen = kh_b64url_enclen(size);
	int r;

	if ((enc = malloc(elen)) == NULL || (dec = malloc(size ? size : 1)) == NULL)
		abort();
	kh_b64url_encode(data, size, enc);
	if (strlen(enc) >= elen)
		fail("encoder wrote past kh_b64url_enclen", data, size, (int)strlen(enc));
	for (size_t i = 0; enc[i] != '\0'; i++)
		if (!is_b64url((unsigned char)enc[i]))
			fail("encoder output outside the base64url alphabet", data, size, 0);
	r = kh_b64url_decode(enc, strlen(enc), dec, size);
	if (r < 0 || (size_t)r != size || (size && memcmp(dec, data, size) != 0))
		fail("decode(encode(x)) != x", data, size, r);
	free(dec);
	if (size > 0) {
		/* one byte short: must refuse, and must not write into the block */
		if ((dec = malloc(size - 1 ? size - 1 : 1)) == NULL)
			abort();
		r = kh_b64url_decode(enc, strlen(enc), dec, size - 1);
		if (r != KH_ERR_TOO_LARGE)
			fail("outmax one short not refused", data, size, r);
		free(dec);
	}
	free(enc);
}

static void
arbitrary(const uint8_t *data, size_t size)
{
	size_t outmax, inlen, i;
	unsigned char *out;
	char *in;
	int r;

	if (size == 0)
		return;
	/* first byte: 0..254 -> that outmax; 255 -> room for anything */
	outmax = data[0] == 255 ? size : data[0];
	inlen = size - 1;
	if ((in = malloc(inlen ? inlen : 1)) == NULL || (out = malloc(outmax ? outmax : 1)) == NULL)
		abort();
	if (inlen)
		memcpy(in, data + 1, inlen);
	r = kh_b64url_decode(in, inlen, out, outmax);
	if (r >= 0) {
		if ((size_t)r > outmax)
			fail("returned more than outmax", data + 1, inlen, r);
		for (i = 0; i < inlen; i++)
			if (!is_b64url((unsigned char)in[i]))
				fail("accepted a byte outside the base64url alphabet", data + 1,
				    inlen, r);
		if (inlen % 4 == 1 || (size_t)r != inlen * 3 / 4)
			fail("decoded length does not match the input length", data + 1, inlen, r);
	}
	free(in);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	round_trip(data, size);
	arbitrary(data, size);
	return 0;
}
