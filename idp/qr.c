/* QR codes as inline SVG (libqrencode).
 *
 * The symbol is drawn as one <path>: for every row, one closed rectangle per
 * run of dark modules ("M x y h n v1 h-n z"), offset by the 4-module quiet
 * zone, over one white <rect> (so the code stays readable on a dark page).
 * Colours are presentation attributes, not style attributes: the pages'
 * Content-Security-Policy allows no inline style. The text (an otpauth://
 * URI holding the TOTP secret) never appears in the markup; libqrencode's
 * module buffer is wiped before it is freed. */
#include "idp/qr.h"

#include <errno.h>
#include <qrencode.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/str.h"

#define QR_QUIET 4 /* modules of quiet zone on each side (ISO/IEC 18004) */
#define QR_PX 4 /* default rendered size of one module in CSS pixels */

/* One row's runs of dark modules as path segments. */
static int
qr_row(struct kh_buf *b, const unsigned char *row, int width, int y)
{
	int x = 0, start, r;

	while (x < width) {
		if ((row[x] & 1) == 0) {
			x++;
			continue;
		}
		start = x;
		while (x < width && (row[x] & 1) != 0)
			x++;
		if ((r = kh_buf_appendf(b, "M%d %dh%dv1h-%dz", start + QR_QUIET, y + QR_QUIET,
			 x - start, x - start)) != KH_OK)
			return r;
	}
	return KH_OK;
}

int
kh_qr_svg(const char *text, const char *aria_label, struct kh_buf *out)
{
	QRcode *qr = NULL;
	size_t start = 0, n, lablen = 0;
	int size, y, r;

	if (text == NULL || out == NULL)
		return KH_ERR_INVALID;
	start = out->len;
	if ((n = strnlen(text, KH_QR_TEXT_MAX + 1)) == 0)
		return KH_ERR_INVALID;
	if (n > KH_QR_TEXT_MAX)
		return KH_ERR_TOO_LARGE;
	if (aria_label != NULL) {
		if ((lablen = strnlen(aria_label, KH_QR_LABEL_MAX + 1)) > KH_QR_LABEL_MAX)
			return KH_ERR_TOO_LARGE;
		/* Escaped below; invalid UTF-8 or controls would still make
		 * the attribute unreadable, so they are refused. */
		if (!kh_utf8_valid_text(aria_label, lablen))
			return KH_ERR_INVALID;
	}
	/* Version chosen by the library, level M, 8-bit for every byte that is
	 * not alphanumeric (UTF-8 passes through unchanged), case kept. */
	errno = 0;
	if ((qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1)) == NULL) {
		r = errno == ENOMEM   ? KH_ERR_NOMEM
		    : errno == ERANGE ? KH_ERR_TOO_LARGE
				      : KH_ERR_INVALID;
		goto out;
	}
	if (qr->width < 21 || qr->width > 177) {
		r = KH_ERR_INTERNAL;
		goto out;
	}
	size = qr->width + 2 * QR_QUIET;
	if ((r = kh_buf_appendf(out,
		 "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"qr\" viewBox=\"0 0 %d %d\" "
		 "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\" role=\"img\"",
		 size, size, size * QR_PX, size * QR_PX)) != KH_OK)
		goto out;
	if (aria_label != NULL &&
	    ((r = kh_buf_append_str(out, " aria-label=\"")) != KH_OK ||
		(r = kh_buf_append_html(out, aria_label)) != KH_OK ||
		(r = kh_buf_append_str(out, "\"")) != KH_OK))
		goto out;
	if ((r = kh_buf_appendf(out, "><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path d=\"",
		 size, size)) != KH_OK)
		goto out;
	for (y = 0; y < qr->width; y++)
		if ((r = qr_row(out, qr->data + (size_t)y * (size_t)qr->width, qr->width, y)) !=
		    KH_OK)
			goto out;
	if ((r = kh_buf_append_str(out, "\" fill=\"#000\"/></svg>")) != KH_OK)
		goto out;
	r = KH_OK;
out:
	if (qr != NULL) {
		explicit_bzero(qr->data, (size_t)qr->width * (size_t)qr->width);
		QRcode_free(qr);
	}
	if (r != KH_OK && out->data != NULL && out->len > start) {
		/* No half-drawn symbol is left behind. */
		explicit_bzero(out->data + start, out->len - start);
		out->len = start;
		out->data[start] = '\0';
	}
	return r;
}
