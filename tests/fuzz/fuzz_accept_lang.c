/* libFuzzer target for kh_lang_from_accept (idp/i18n.c), the Accept-Language
 * parser. The input (up to the first NUL) is the header value.
 *
 * Properties:
 *  - no crash and no read past the terminating NUL (the copy is exactly
 *    size + 1 bytes on the heap);
 *  - the result is KH_LANG_JA or KH_LANG_EN, and it is the fallback, or the
 *    same language whichever fallback is given (a header either picks a
 *    language or defers to the fallback; it cannot pick "the other one");
 *  - headers over the 512-byte cap give the fallback. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idp/i18n.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum kh_lang a, b;
	char *h;

	if ((h = malloc(size + 1)) == NULL)
		abort();
	memcpy(h, data, size);
	h[size] = '\0';
	a = kh_lang_from_accept(h, KH_LANG_JA);
	b = kh_lang_from_accept(h, KH_LANG_EN);
	if ((a != KH_LANG_JA && a != KH_LANG_EN) || (b != KH_LANG_JA && b != KH_LANG_EN)) {
		fprintf(stderr, "kh_lang_from_accept: out of range (%d, %d)\n", (int)a, (int)b);
		abort();
	}
	/* a == JA, b == EN: deferred to the fallback both times; otherwise the
	 * header chose, and must have chosen the same language both times. */
	if (!(a == KH_LANG_JA && b == KH_LANG_EN) && a != b) {
		fprintf(stderr, "kh_lang_from_accept: choice depends on fallback (%d, %d)\n",
		    (int)a, (int)b);
		abort();
	}
	if (strlen(h) > 512 && !(a == KH_LANG_JA && b == KH_LANG_EN)) {
		fprintf(stderr, "kh_lang_from_accept: header over 512 bytes not refused\n");
		abort();
	}
	if (kh_lang_from_accept(NULL, KH_LANG_EN) != KH_LANG_EN)
		abort();
	free(h);
	return 0;
}
