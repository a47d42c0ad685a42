/* kh_buf: the one byte buffer. Every buffer has a hard maximum size fixed at
 * init; appends past it fail with KH_ERR_TOO_LARGE and leave the buffer as it
 * was. Storage is wiped when freed, so buffers may hold secrets. The content is
 * always NUL-terminated (the terminator is not counted in len). */
#ifndef KH_BUF_H
#define KH_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct kh_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void kh_buf_init(struct kh_buf *b, size_t max);
int kh_buf_append(struct kh_buf *b, const void *p, size_t n);
int kh_buf_append_str(struct kh_buf *b, const char *s);
int kh_buf_appendf(struct kh_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kh_buf_vappendf(struct kh_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends s with & < > " ' replaced by HTML entities. */
int kh_buf_append_html(struct kh_buf *b, const char *s);
/* Appends s percent-encoded for use in a URL query value. */
int kh_buf_append_urlenc(struct kh_buf *b, const char *s);
const char *kh_buf_cstr(const struct kh_buf *b);
/* Hands the storage to the caller (free with kh_freezero(p, len + 1)); the
 * buffer is left empty. Returns NULL for an empty buffer with no storage. */
char *kh_buf_steal(struct kh_buf *b, size_t *lenp);
void kh_buf_reset(struct kh_buf *b);
void kh_buf_free(struct kh_buf *b);

/* Wipes then frees. */
void kh_freezero(void *p, size_t n);
/* Wipes and frees a NUL-terminated string. */
void kh_free_str(char *s);

#endif
