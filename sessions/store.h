/* Internal to sessions/: the shared store object, the per-thread hiredis
 * connection and the Redis key derivation. Nothing outside sessions/ includes
 * this header; the public interface is sessions/sessions.h. */
#ifndef KH_SESSIONS_STORE_H
#define KH_SESSIONS_STORE_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"

/* Hard caps, all in one place. */
#define KH_STORE_PREFIX_MAX 64 /* [redis] key_prefix */
#define KH_STORE_KEY_MAX (KH_STORE_PREFIX_MAX + 16 + 2 * KH_HMAC_LEN)
#define KH_STORE_MAX_PIPELINE 8 /* replies read per round trip */
#define KH_SESSION_FIELD_MAX (64 * 1024) /* one hash field, read or written */
#define KH_THROTTLE_KEY_MAX 1024 /* a user name or an address */

/* One hiredis context owned by one thread. Every live kh_conn is also on the
 * store's list so kh_store_free can release the contexts of threads that
 * never called kh_store_thread_cleanup. */
struct kh_conn {
	redisContext *ctx;
	int broken; /* the last failure was a closed or reset connection */
	struct kh_store *st;
	struct kh_conn *prev, *next;
};

struct kh_store {
	char *host;
	int port;
	char *password; /* "" for none; wiped on free */
	long db;
	long timeout_ms;
	char prefix[KH_STORE_PREFIX_MAX + 1];
	unsigned char key[64]; /* server secret for HMAC key derivation */
	size_t keylen;
	long idle_timeout;
	long absolute_timeout;
	long user_max_failures;
	long ip_max_failures;
	long failure_window;
	long lock_duration;

	pthread_key_t tls;
	pthread_mutex_t lock; /* guards conns */
	struct kh_conn *conns;
	atomic_int down; /* 1 after a failure was logged, until the next success */
};

/* Returns this thread's connected context, connecting (AUTH, SELECT) when
 * there is none or when the old one is dead. KH_ERR_UNAVAILABLE on failure. */
int kh_conn_get(struct kh_store *st, redisContext **out);
/* Drops this thread's context after an error; the next kh_conn_get
 * reconnects. */
void kh_conn_drop(struct kh_store *st);
/* Reads n replies of commands already appended to c. On a connection error
 * every reply read so far is freed, the context is dropped and
 * KH_ERR_UNAVAILABLE is returned; replies[] is all NULL then. */
int kh_conn_replies(struct kh_store *st, redisContext *c, redisReply **replies, size_t n);
/* 1 when the last kh_conn_replies failure of this thread was a connection
 * closed or reset by the peer: worth one retry on a fresh connection for an
 * idempotent command. 0 after a timeout (a retry would only double the wait). */
int kh_conn_retryable(struct kh_store *st);
void kh_replies_free(redisReply **replies, size_t n);
/* One command and its reply on this thread's connection, tried a second time
 * on a fresh connection when the first found it closed or reset (for
 * idempotent commands only). *rep is the reply on KH_OK (freeReplyObject). */
int kh_conn_command_retry(struct kh_store *st, redisReply **rep, const char *fmt, ...);
/* One command whose reply must be an integer (*v). retry: 1 for idempotent
 * commands (kh_conn_command_retry), 0 to send it once. Any other reply is
 * logged as what (kh_reply_unexpected) and gives KH_ERR_UNAVAILABLE; marks the
 * store up on success. */
int kh_conn_command_int(
    struct kh_store *st, int retry, const char *what, long long *v, const char *fmt, ...);
/* The same with a va_list; retry 0 sends it once (for commands that must
 * not run twice: single-use scripts). */
int kh_conn_vcommand(struct kh_store *st, int retry, redisReply **rep, const char *fmt, va_list ap);
/* Logs an unexpected reply (only its type and, for errors, the first word of
 * the message, which never holds key material). */
void kh_reply_unexpected(const char *what, const redisReply *r);
/* Records success after a failure (logs "redis.recovered" once). */
void kh_store_mark_up(struct kh_store *st);

/* Counts one failure on the counter key and locks with the lock key at
 * max_failures (sessions/throttle.c; used by the login throttle and by MFA):
 * one atomic EVAL: INCR, the window from the first failure (a counter left
 * without a TTL gets one), SET ... EX lock_seconds at max, a lock left
 * without a TTL repaired. Not idempotent (it counts): never retried.
 * *failures (capped at 0x7fffffff) and *locked_for (at most lock_seconds);
 * an unexpected reply is logged as what. */
int kh_throttle_count(struct kh_store *st, const char *what, const char *counter,
    size_t counter_len, const char *lock, size_t lock_len, long window, long max_failures,
    long lock_seconds, long *failures, long *locked_for);

/* prefix ‖ tag ‖ hex(mac) into out[KH_STORE_KEY_MAX + 1]; mac is an HMAC
 * under the server secret computed by the caller. */
int kh_store_key_from_mac(const struct kh_store *st, const char *tag,
    const unsigned char mac[KH_HMAC_LEN], char *out, size_t *outlen);

/* The key of a per-user index: prefix ‖ tag ‖ hex(HMAC(secret, "user" ‖
 * folded uid)) (length-prefixed parts), e.g. tag "su:" (sessions) or
 * "audit:u:" (audit events). The uid is folded with kh_user_fold first.
 * KH_ERR_INVALID for an empty uid, KH_ERR_TOO_LARGE over
 * KH_THROTTLE_KEY_MAX bytes. */
int kh_store_user_key(
    const struct kh_store *st, const char *tag, const char *uid, char *out, size_t *outlen);

/* 1 when s is a well-formed cookie value: exactly KH_SESSION_COOKIE_LEN
 * base64url characters encoding 32 bytes canonically. Reads at most
 * KH_SESSION_COOKIE_LEN + 1 bytes of s. */
int kh_session_cookie_valid(const char *s);
/* The Redis key of a session: prefix "s:" hex(HMAC(secret, cookie)). */
int kh_session_key(const struct kh_store *st, const char *cookie, char *out, size_t *outlen);

#endif
