/* libFuzzer target for kh_utf8_valid_text (common/str.c).
 *
 * Properties:
 *  - it agrees with ref_valid_text() below, a decoder written the other way
 *    round (count the lead byte's high bits, decode, then demand that the code
 *    point's shortest encoding has exactly that length);
 *  - it never reads past n: the input is copied into a heap block of exactly
 *    n bytes, so ASan reports any read beyond it. The four longest proper
 *    prefixes are checked the same way, so a multibyte sequence cut short at
 *    the end of the buffer is always among the cases. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/str.h"

static size_t
enc_len(uint32_t cp)
{
	if (cp < 0x80)
		return 1;
	if (cp < 0x800)
		return 2;
	if (cp < 0x10000)
		return 3;
	return 4;
}

static int
cp_allowed(uint32_t cp)
{
	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
		return 0; /* NUL, C0, DEL, C1 */
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0; /* surrogates */
	return cp <= 0x10ffff;
}

static int
ref_valid_text(const unsigned char *s, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp;

	while (i < n) {
		unsigned char c = s[i];

		if ((c & 0x80) == 0) {
			len = 1;
			cp = c;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else
			return 0; /* continuation byte or 0xf8..0xff as lead */
		if (len > n - i)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (enc_len(cp) != len) /* overlong (or > 21 bits, impossible here) */
			return 0;
		if (!cp_allowed(cp))
			return 0;
		i += len;
	}
	return 1;
}

static void
check(const unsigned char *data, size_t n)
{
	unsigned char *copy;
	int got, want;

	/* malloc(0) may return NULL; keep a non-NULL pointer to a 0-byte block. */
	if ((copy = malloc(n ? n : 1)) == NULL)
		abort();
	if (n)
		memcpy(copy, data, n);
	got = kh_utf8_valid_text((const char *)copy, n);
	want = ref_valid_text(copy, n);
	if ((got != 0) != (want != 0)) {
		fprintf(stderr, "kh_utf8_valid_text=%d reference=%d for %zu bytes:", got, want, n);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %02x", copy[i]);
		fprintf(stderr, "\n");
		abort();
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n;

	check(data, size);
	/* The last few prefixes cover every truncated multibyte sequence. */
	for (n = size > 4 ? size - 4 : 0; n < size; n++)
		check(data, n);
	return 0;
}
