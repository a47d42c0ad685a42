/* Structured logging: one logfmt line per event on stderr
 *   ts=2026-11-25T19:40:13.123Z level=info event=login.ok rid=... uid=...
 * Values are quoted and escaped as needed; control bytes never reach the log.
 * Audit events go to a separate sink (a file named in the config, or stderr
 * with kind=audit). Never pass secrets to these functions. */
#ifndef KH_LOG_H
#define KH_LOG_H

#include <stddef.h>

enum kh_log_level { KH_LOG_DEBUG = 0, KH_LOG_INFO, KH_LOG_WARN, KH_LOG_ERROR };

void kh_log_set_level(enum kh_log_level lvl);
int kh_log_level_parse(const char *s, enum kh_log_level *out);
/* Opens the audit sink; NULL or "" keeps audit lines on stderr. */
int kh_log_open_audit(const char *path);
void kh_log_close(void);

/* kv is a NULL-terminated list of key, value pairs (value may be NULL). */
void kh_log(enum kh_log_level lvl, const char *event, ...) __attribute__((sentinel));
void kh_audit(const char *event, ...) __attribute__((sentinel));

/* A second audit destination (sessions/audit.c: the Redis stream), called by
 * kh_audit after the line is written, on the calling thread. kv holds 2 * nkv
 * strings (key, value; a NULL value is passed as "-"); at most
 * KH_AUDIT_SINK_PAIRS pairs are passed. The sink must not block for long,
 * must never fail the caller and must not call kh_audit. Set it before the
 * worker threads start and clear it (fn NULL) after they stop. */
#define KH_AUDIT_SINK_PAIRS 32
typedef void (*kh_audit_sink_fn)(void *ctx, const char *event, const char *const *kv, size_t nkv);
void kh_log_set_audit_sink(kh_audit_sink_fn fn, void *ctx);

#define kh_info(ev, ...) kh_log(KH_LOG_INFO, ev, __VA_ARGS__)
#define kh_warn(ev, ...) kh_log(KH_LOG_WARN, ev, __VA_ARGS__)
#define kh_error(ev, ...) kh_log(KH_LOG_ERROR, ev, __VA_ARGS__)
#define kh_debug(ev, ...) kh_log(KH_LOG_DEBUG, ev, __VA_ARGS__)

#endif
