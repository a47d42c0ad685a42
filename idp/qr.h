/* QR codes (libqrencode) as inline SVG for the TOTP enrolment page: the
 * secret never leaves the daemon for an image service. */
#ifndef KH_QR_H
#define KH_QR_H

#include "common/buf.h"

#define KH_QR_TEXT_MAX 1024
#define KH_QR_LABEL_MAX 512 /* bytes of aria-label */

/* Appends an <svg> element (role="img", aria-label given, may be NULL) that
 * draws text as a QR code (error correction M, 4-module quiet zone, one
 * <path> over a white <rect>, no script, no style, no external reference).
 * KH_ERR_TOO_LARGE over KH_QR_TEXT_MAX (or a label over KH_QR_LABEL_MAX),
 * KH_ERR_INVALID for empty text or a label that is not UTF-8 text. The label
 * is HTML-escaped here. On failure out is left as it was. */
int kh_qr_svg(const char *text, const char *aria_label, struct kh_buf *out);

#endif
