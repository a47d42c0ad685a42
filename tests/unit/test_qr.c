/* idp/qr.h: the SVG's shape (one <svg>, one <path>, no script, no external
 * reference), the escaped label, the caps, and that the path redraws
 * exactly libqrencode's module matrix (zbarimg is not installed here, so the
 * symbol is compared with the encoder's own output instead of decoded). */
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "idp/qr.h"
#include "tests/unit/tap.h"

#define URI                                                                                        \
	"otpauth://totp/%E6%9E%B6%E3%81%91%E6%A9%8B:%E5%B1%B1%E7%94%B0?secret="                    \
	"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Kakehashi&algorithm=SHA1&digits=6&period=30"

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;
	const char *p = hay;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Every '<' opens a tag that closes with '>' before the next '<', and every
 * attribute quote is paired: enough to catch a broken attribute. */
static int
tags_balanced(const char *s)
{
	int in_tag = 0, in_quote = 0;

	for (; *s != '\0'; s++) {
		if (in_quote) {
			if (*s == '"')
				in_quote = 0;
			else if (*s == '<' || *s == '>')
				return 0;
			continue;
		}
		if (*s == '<') {
			if (in_tag)
				return 0;
			in_tag = 1;
		} else if (*s == '>') {
			if (!in_tag)
				return 0;
			in_tag = 0;
		} else if (*s == '"') {
			if (!in_tag)
				return 0;
			in_quote = 1;
		}
	}
	return !in_tag && !in_quote;
}

/* Redraws the path's rectangles into a size x size grid and compares it
 * with the encoder's matrix placed inside a 4-module quiet zone. */
static int
path_matches(const char *svg, const char *text)
{
	const char *d = strstr(svg, " d=\"");
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	unsigned char *grid = NULL;
	int size, x, y, h, h2, n, ok_ = 0, v;
	char vv;

	if (d == NULL || qr == NULL)
		goto out;
	size = qr->width + 8;
	if (sscanf(strstr(svg, "viewBox=\""), "viewBox=\"0 0 %d %d\"", &x, &y) != 2 || x != size ||
	    y != size)
		goto out;
	if ((grid = calloc((size_t)(size * size), 1)) == NULL)
		goto out;
	d += 4;
	while (*d != '"') {
		if (sscanf(d, "M%d %dh%dv%c%n", &x, &y, &h, &vv, &n) != 4 || vv != '1')
			goto out;
		d += n;
		if (sscanf(d, "h-%dz%n", &h2, &n) != 1 || h2 != h || h < 1 || x < 0 || y < 0 ||
		    x + h > size || y >= size)
			goto out;
		d += n;
		for (v = 0; v < h; v++) {
			if (grid[y * size + x + v])
				goto out; /* overlapping runs */
			grid[y * size + x + v] = 1;
		}
	}
	for (y = 0; y < size; y++)
		for (x = 0; x < size; x++) {
			int want = x >= 4 && y >= 4 && x < size - 4 && y < size - 4 &&
			    (qr->data[(y - 4) * qr->width + (x - 4)] & 1);

			if (grid[y * size + x] != want)
				goto out;
		}
	ok_ = 1;
out:
	free(grid);
	if (qr != NULL)
		QRcode_free(qr);
	return ok_;
}

int
main(void)
{
	struct kh_buf b;
	const char *s;
	char big[KH_QR_TEXT_MAX + 2], label[KH_QR_LABEL_MAX + 2];

	kh_buf_init(&b, 256 * 1024);
	ok(kh_qr_svg(URI, "QR <code> & \"secret\" 'x'", &b) == KH_OK, "an otpauth URI encodes");
	s = kh_buf_cstr(&b);
	ok(strncmp(s, "<svg ", 5) == 0 && ends_with(s, "</svg>"), "starts <svg, ends </svg>");
	ok(count(s, "<svg") == 1 && count(s, "</svg>") == 1, "exactly one svg element");
	ok(count(s, "<path") == 1, "exactly one <path>");
	ok(count(s, "<") == 4, "only svg, rect, path and the closing tag (%zu tags)",
	    count(s, "<"));
	ok(strstr(s, "viewBox=\"0 0 ") != NULL && strstr(s, "shape-rendering=\"crispEdges\"") &&
		strstr(s, "role=\"img\""),
	    "viewBox, crispEdges and role=img");
	ok(strstr(s, "aria-label=\"QR &lt;code&gt; &amp; &quot;secret&quot; &#39;x&#39;\"") != NULL,
	    "aria-label is HTML-escaped");
	ok(strstr(s, "<code>") == NULL && strstr(s, "\"secret\"") == NULL,
	    "the raw label never appears");
	ok(strstr(s, "<script") == NULL && strstr(s, "href") == NULL && strstr(s, "url(") == NULL &&
		strstr(s, "style") == NULL && strstr(s, " on") == NULL,
	    "no script, no link, no style, no event handler");
	ok(count(s, "http") == 1 && strstr(s, "xmlns=\"http://www.w3.org/2000/svg\"") != NULL,
	    "the only URL is the SVG namespace");
	ok(strstr(s, "GEZDGNBV") == NULL && strstr(s, "otpauth") == NULL,
	    "the encoded text (the secret) is not in the markup");
	ok(tags_balanced(s), "tags and quotes are balanced");
	ok(path_matches(s, URI), "the path redraws libqrencode's matrix exactly, in a quiet zone");

	kh_buf_reset(&b);
	ok(kh_qr_svg("架け橋 https://idp.example.lg.jp/ 山田太郎", NULL, &b) == KH_OK &&
		strstr(kh_buf_cstr(&b), "aria-label") == NULL &&
		strstr(kh_buf_cstr(&b), "role=\"img\"") != NULL,
	    "UTF-8 text encodes; no label: no aria-label");
	ok(path_matches(kh_buf_cstr(&b), "架け橋 https://idp.example.lg.jp/ 山田太郎"),
	    "UTF-8 text: the path matches the 8-bit encoding");

	/* caps and errors leave the buffer as it was */
	kh_buf_reset(&b);
	kh_buf_append_str(&b, "<p>");
	ok(kh_qr_svg("", "x", &b) == KH_ERR_INVALID && strcmp(kh_buf_cstr(&b), "<p>") == 0,
	    "empty text: INVALID, buffer untouched");
	ok(kh_qr_svg(NULL, "x", &b) == KH_ERR_INVALID &&
		kh_qr_svg("x", "x", NULL) == KH_ERR_INVALID,
	    "NULL text or buffer: INVALID");
	memset(big, 'a', sizeof(big));
	big[KH_QR_TEXT_MAX + 1] = '\0';
	ok(kh_qr_svg(big, "x", &b) == KH_ERR_TOO_LARGE && strcmp(kh_buf_cstr(&b), "<p>") == 0,
	    "text over KH_QR_TEXT_MAX: TOO_LARGE");
	big[KH_QR_TEXT_MAX] = '\0';
	ok(kh_qr_svg(big, "x", &b) == KH_OK && ends_with(kh_buf_cstr(&b), "</svg>"),
	    "text of exactly KH_QR_TEXT_MAX bytes encodes");
	ok(path_matches(kh_buf_cstr(&b), big), "the largest text: the path matches");
	kh_buf_reset(&b);
	memset(label, 'l', sizeof(label));
	label[KH_QR_LABEL_MAX + 1] = '\0';
	ok(kh_qr_svg("x", label, &b) == KH_ERR_TOO_LARGE && b.len == 0,
	    "label over KH_QR_LABEL_MAX: TOO_LARGE");
	ok(kh_qr_svg("x", "bad \xff label", &b) == KH_ERR_INVALID &&
		kh_qr_svg("x", "bad\nlabel", &b) == KH_ERR_INVALID && b.len == 0,
	    "label with invalid UTF-8 or a control character: INVALID");
	kh_buf_free(&b);

	kh_buf_init(&b, 600);
	kh_buf_append_str(&b, "<p>");
	ok(kh_qr_svg(URI, "QR", &b) == KH_ERR_TOO_LARGE && strcmp(kh_buf_cstr(&b), "<p>") == 0,
	    "a buffer too small for the symbol: TOO_LARGE, nothing half-drawn left");
	kh_buf_free(&b);
	return tap_done();
}
