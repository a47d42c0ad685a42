/* Small string helpers for untrusted text. */
#ifndef KH_STR_H
#define KH_STR_H

#include <stddef.h>
#include <stdint.h>

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF)
 * with no NUL and no C0/DEL control characters. */
int kh_utf8_valid_text(const char *s, size_t n);
/* Parses a decimal integer in [min,max] that fills the whole string. */
int kh_parse_long(const char *s, long min, long max, long *out);
/* Parses "yes/no/true/false/on/off/1/0". */
int kh_parse_bool(const char *s, int *out);
/* strdup that returns NULL only on allocation failure and accepts NULL. */
char *kh_strdup(const char *s);
/* Copies with truncation, always NUL-terminates; returns strlen(src). */
size_t kh_strlcpy(char *dst, const char *src, size_t size);
/* 1 when s starts with prefix. */
int kh_startswith(const char *s, const char *prefix);
/* Milliseconds from CLOCK_MONOTONIC / seconds from CLOCK_REALTIME. */
int64_t kh_now_ms(void);
int64_t kh_time(void);

#endif
