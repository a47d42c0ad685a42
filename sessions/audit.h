/* The audit trail in Redis: every kh_audit event is also appended to the
 * stream prefix "audit" (XADD MAXLEN ~ KH_AUDIT_STREAM_MAX) and, when it has
 * a "user" field, to the user's stream prefix "audit:u:" hex(HMAC(secret,
 * "user" ‖ folded uid)) (MAXLEN ~ KH_AUDIT_USER_STREAM_MAX). Entry fields:
 * ts (ISO 8601 UTC, ms), event, then the event's key/value pairs in order.
 *
 * The sink never fails or stops its caller: it uses the calling thread's
 * connection, and a Redis failure only drops the entry (counted; logged as
 * audit.redis once per outage). The audit file/stderr line stays the record
 * of reference. */
#ifndef KH_SESSIONS_AUDIT_H
#define KH_SESSIONS_AUDIT_H

#include <stddef.h>

struct kh_store;

#define KH_AUDIT_STREAM_MAX 100000
#define KH_AUDIT_USER_STREAM_MAX 1000
#define KH_AUDIT_READ_MAX 1000 /* entries per kh_audit_read */
#define KH_AUDIT_VALUE_MAX 4096 /* a longer value is cut (at a UTF-8 boundary) */

/* For kh_log_set_audit_sink(kh_audit_sink, store). */
void kh_audit_sink(void *store, const char *event, const char *const *kv, size_t nkv);
/* Entries dropped because Redis failed, since start. */
unsigned long kh_audit_dropped(void);

struct kh_audit_entry {
	char *id; /* stream id "ms-seq" */
	char **kv; /* 2 * nkv strings: ts, event, then the event's pairs */
	size_t nkv;
};

/* The newest count entries (1..KH_AUDIT_READ_MAX), newest first, of the whole
 * stream (uid NULL) or of uid's stream. *n may be 0. Free with
 * kh_audit_entries_free. KH_ERR_INVALID for a bad count or uid. */
int kh_audit_read(
    struct kh_store *st, const char *uid, long count, struct kh_audit_entry **out, size_t *n);
void kh_audit_entries_free(struct kh_audit_entry *e, size_t n);

#endif
