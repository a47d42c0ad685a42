/* libFuzzer target for kh_buf_append_html and kh_buf_append_urlenc
 * (common/buf.c). The input after the first byte, up to the first NUL, is the
 * string to escape; the first byte sets a small buffer cap for a second run.
 *
 * Properties, for both escapers:
 *  - html output holds no raw < > " ' and every & starts one of &amp; &lt;
 *    &gt; &quot; &#39;; urlenc output is only A-Z a-z 0-9 - . _ ~ and %XX with
 *    upper-case hex;
 *  - unescaping the output gives back the input exactly;
 *  - with a cap too small, the call fails with KH_ERR_TOO_LARGE, len stays
 *    within the cap, and what was written is still well-formed and unescapes
 *    to a prefix of the input (a caller that ignores the error still emits
 *    nothing raw). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"

static void
fail(const char *what, const char *in, const struct kh_buf *b)
{
	fprintf(stderr, "%s\ninput:  \"%s\"\noutput: \"%s\" (len %zu, max %zu)\n", what, in,
	    kh_buf_cstr(b), b->len, b->max);
	abort();
}

/* Unescapes html output into dec (room for len + 1); -1 when malformed. */
static int
html_unescape(const char *s, size_t len, char *dec, size_t *declen)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = { { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
		{ "&#39;", '\'' } };
	size_t i = 0, j = 0, k;

	while (i < len) {
		char c = s[i];
		if (c == '<' || c == '>' || c == '"' || c == '\'' || c == '\0')
			return -1;
		if (c != '&') {
			dec[j++] = c;
			i++;
			continue;
		}
		for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
			size_t el = strlen(ents[k].ent);
			if (len - i >= el && memcmp(s + i, ents[k].ent, el) == 0) {
				dec[j++] = ents[k].c;
				i += el;
				break;
			}
		}
		if (k == sizeof(ents) / sizeof(ents[0]))
			return -1; /* bare & */
	}
	dec[j] = '\0';
	*declen = j;
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1; /* lower case is not what the encoder writes */
}

static int
url_unescape(const char *s, size_t len, char *dec, size_t *declen)
{
	size_t i = 0, j = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			dec[j++] = (char)c;
			i++;
		} else if (c == '%' && len - i >= 3 && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			dec[j++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 3;
		} else
			return -1;
	}
	dec[j] = '\0';
	*declen = j;
	return 0;
}

typedef int (*escaper)(struct kh_buf *, const char *);
typedef int (*unescaper)(const char *, size_t, char *, size_t *);

static void
run(const char *name, escaper esc, unescaper unesc, const char *in, size_t max)
{
	struct kh_buf b;
	size_t inlen = strlen(in), declen = 0;
	char *dec;
	int r;

	kh_buf_init(&b, max);
	r = esc(&b, in);
	if (r != KH_OK && r != KH_ERR_TOO_LARGE)
		fail("unexpected error code", in, &b);
	if (r != KH_OK && max >= 6 * inlen)
		fail("refused although the escaped string fits under the cap", in, &b);
	if (b.len > b.max || strlen(kh_buf_cstr(&b)) != b.len)
		fail("length out of step with the content or over the cap", in, &b);
	if ((dec = malloc(b.len + 1)) == NULL)
		abort();
	if (unesc(kh_buf_cstr(&b), b.len, dec, &declen) != 0)
		fail(name, in, &b);
	if (r == KH_OK && (declen != inlen || memcmp(dec, in, inlen) != 0))
		fail("unescaped output differs from the input", in, &b);
	if (r != KH_OK && (declen > inlen || memcmp(dec, in, declen) != 0))
		fail("partial output is not a prefix of the input", in, &b);
	free(dec);
	kh_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t small;
	char *in;

	if (size == 0)
		return 0;
	small = data[0];
	if ((in = malloc(size)) == NULL)
		abort();
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	/* 6 bytes per input byte is the worst case (&quot;), so 8x never fails */
	run("html: malformed output", kh_buf_append_html, html_unescape, in, 8 * size + 64);
	run("html: malformed output (small cap)", kh_buf_append_html, html_unescape, in, small);
	run("urlenc: malformed output", kh_buf_append_urlenc, url_unescape, in, 8 * size + 64);
	run("urlenc: malformed output (small cap)", kh_buf_append_urlenc, url_unescape, in, small);
	free(in);
	return 0;
}
