/* Internal to sessions/mfa*.c: one user's keys, the command helpers and the
 * checks those files share. Nothing outside sessions/ includes this header;
 * the interface is sessions/mfa.h, the key layout sessions/README.md.
 *
 *   mfa.c           keys, command helpers, state read, reset
 *   mfa_totp.c      TOTP secrets (sealed), enrolment, checks
 *   mfa_codes.c     recovery codes and the helpdesk bypass code
 *   mfa_webauthn.c  WebAuthn credentials
 *   mfa_devices.c   MFA failures and lock, remembered devices
 *
 * Everything that must happen once (a TOTP step, a code, a counter) is
 * decided by Redis in one script or one HDEL and sent with MFA_ONCE: never
 * retried (the first try may have landed). Idempotent reads and writes use
 * MFA_RETRY: tried once more on a fresh connection like the rest of
 * sessions/. */
#ifndef KH_SESSIONS_MFA_INT_H
#define KH_SESSIONS_MFA_INT_H

#include <stddef.h>

#include "common/crypto.h"
#include "sessions/store.h"

#define MFA_TAG "mfa:"
#define MFF_TAG "mff:"
#define MFL_TAG "mfl:"
#define RDU_TAG "rdu:"
#define RD_TAG "rd:"

#define PENDING_MAX_AGE (15 * 60) /* seconds a shown secret may wait for its first code */
#define MFA_TTL_MAX (30L * 24 * 3600) /* bypass validity, failure window, lock */

struct mfa_keys {
	char mfa[KH_STORE_KEY_MAX + 1];
	char mff[KH_STORE_KEY_MAX + 1];
	char mfl[KH_STORE_KEY_MAX + 1];
	char rdu[KH_STORE_KEY_MAX + 1];
	size_t mfa_len, mff_len, mfl_len, rdu_len;
	char uh[2 * KH_HMAC_LEN + 1]; /* U(uid): the user's hash, hex */
	char folded[KH_THROTTLE_KEY_MAX + 1]; /* AAD of the sealed secrets */
	size_t folded_len;
	char rdpfx[KH_STORE_PREFIX_MAX + 8]; /* prefix "rd:" */
};

/* Every key of uid (wipe with explicit_bzero after use: it holds the
 * folded uid). KH_ERR_INVALID for an empty uid, KH_ERR_TOO_LARGE over
 * KH_THROTTLE_KEY_MAX bytes (kh_store_user_key). */
int mfa_keys(const struct kh_store *st, const char *uid, struct mfa_keys *k);

#define MFA_ONCE 0 /* must happen at most once: never retried */
#define MFA_RETRY 1 /* idempotent: retried once on a fresh connection */

/* One command and its reply (*rep on KH_OK, freeReplyObject). */
int mfa_command(struct kh_store *st, int retry, redisReply **rep, const char *fmt, ...);
/* An HMGET of two fields, retried once: *a and *b (string or nil) point
 * into *rep (freeReplyObject) on KH_OK; any other shape is
 * KH_ERR_UNAVAILABLE. Marks the store up on success. */
int mfa_hmget2(struct kh_store *st, redisReply **rep, const redisReply **a, const redisReply **b,
    const char *fmt, ...);

/* A decimal number of 1..18 digits, optionally negative. */
int mfa_parse_num(const char *s, size_t len, long long *out);
/* The failure counter as read by GET (a string, empty when none), capped
 * at 0x7fffffff; KH_ERR_INVALID when it is no number >= 0. */
int mfa_failures(const redisReply *f, long *failures);
/* Seconds locked for a TTL reply of the lock key. */
long mfa_lock_left(long long ttl);
/* Logs a malformed stored record (8 hex digits of U(uid) only). */
void mfa_corrupt(const char *what, const struct mfa_keys *k);
/* 1 for 1..KH_MFA_CRED_ID_MAX base64url characters (the first len_known,
 * or up to the NUL when 0), *lenp their number. Reads at most
 * KH_MFA_CRED_ID_MAX + 1 bytes. */
int mfa_cred_id_ok(const char *s, size_t len_known, size_t *lenp);
/* A NUL-terminated copy of n bytes (free()), NULL when out of memory. */
char *mfa_dup(const char *s, size_t n);

#endif
