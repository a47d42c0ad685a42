#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

void
kh_freezero(void *p, size_t n)
{
	if (p == NULL)
		return;
	explicit_bzero(p, n);
	free(p);
}

void
kh_free_str(char *s)
{
	if (s != NULL)
		kh_freezero(s, strlen(s));
}

void
kh_buf_init(struct kh_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static int
buf_reserve(struct kh_buf *b, size_t extra)
{
	size_t need, ncap;
	char *n;

	if (extra > b->max || b->len > b->max - extra)
		return KH_ERR_TOO_LARGE;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return KH_OK;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	if ((n = malloc(ncap)) == NULL)
		return KH_ERR_NOMEM;
	if (b->data != NULL) {
		memcpy(n, b->data, b->len + 1);
		kh_freezero(b->data, b->cap);
	} else
		n[0] = '\0';
	b->data = n;
	b->cap = ncap;
	return KH_OK;
}

int
kh_buf_append(struct kh_buf *b, const void *p, size_t n)
{
	int r;

	if ((r = buf_reserve(b, n)) != KH_OK)
		return r;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return KH_OK;
}

int
kh_buf_append_str(struct kh_buf *b, const char *s)
{
	return kh_buf_append(b, s, strlen(s));
}

int
kh_buf_vappendf(struct kh_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, r;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return KH_ERR_INTERNAL;
	if ((r = buf_reserve(b, (size_t)n)) != KH_OK)
		return r;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return KH_OK;
}

int
kh_buf_appendf(struct kh_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = kh_buf_vappendf(b, fmt, ap);
	va_end(ap);
	return r;
}

int
kh_buf_append_html(struct kh_buf *b, const char *s)
{
	const char *p, *start = s;
	const char *ent;
	int r;

	for (p = s; *p != '\0'; p++) {
		switch (*p) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		default: continue;
		}
		if ((r = kh_buf_append(b, start, (size_t)(p - start))) != KH_OK ||
		    (r = kh_buf_append_str(b, ent)) != KH_OK)
			return r;
		start = p + 1;
	}
	return kh_buf_append(b, start, (size_t)(p - start));
}

int
kh_buf_append_urlenc(struct kh_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char enc[3];
	int r;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			r = kh_buf_append(b, p, 1);
		} else {
			enc[0] = '%';
			enc[1] = hex[*p >> 4];
			enc[2] = hex[*p & 15];
			r = kh_buf_append(b, enc, 3);
		}
		if (r != KH_OK)
			return r;
	}
	return KH_OK;
}

const char *
kh_buf_cstr(const struct kh_buf *b)
{
	return b->data != NULL ? b->data : "";
}

char *
kh_buf_steal(struct kh_buf *b, size_t *lenp)
{
	char *p = b->data;

	if (lenp != NULL)
		*lenp = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
kh_buf_reset(struct kh_buf *b)
{
	if (b->data != NULL) {
		explicit_bzero(b->data, b->cap);
		b->data[0] = '\0';
	}
	b->len = 0;
}

void
kh_buf_free(struct kh_buf *b)
{
	kh_freezero(b->data, b->cap);
	b->data = NULL;
	b->len = b->cap = 0;
}
