/* The Redis store: SSO sessions and login throttling (later also pending
 * protocol state, codes, tokens, MFA state, the app registry).
 *
 * Threading: one kh_store is shared; each worker thread gets its own hiredis
 * context lazily (thread-local), AUTHs and SELECTs on connect and reconnects
 * after errors. Every function fails closed with KH_ERR_UNAVAILABLE when Redis
 * cannot be reached: callers must never treat that as "no session" silently
 * when a cookie was presented. */
#ifndef KH_SESSIONS_H
#define KH_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

struct kh_config;
struct kh_store;
struct kh_identity;

/* 256-bit random cookie value, base64url: 43 characters. */
#define KH_SESSION_COOKIE_LEN 43

struct kh_session {
	char *uid;
	char *dn;
	char *display_name;
	char *mail;
	char *groups; /* newline-separated group names */
	char *amr; /* space-separated methods, e.g. "pwd" */
	char *acr;
	int64_t auth_time;
	int64_t created;
	int64_t absolute_expiry;
	char *client_ip;
	/* From the directory at login; "" when the directory had none. */
	char *family_name;
	char *given_name;
	char *employee_number;
	char *department;
	char *title;
};

int kh_store_new(const struct kh_config *cfg, struct kh_store **out);
void kh_store_free(struct kh_store *st);
/* KH_OK when Redis answers PING. */
int kh_store_ping(struct kh_store *st);
void kh_store_thread_cleanup(struct kh_store *st);

/* Creates a session for id; writes the new cookie value (NUL-terminated) into
 * cookie[KH_SESSION_COOKIE_LEN + 1]. If old_cookie names an existing session
 * it is destroyed (new id at every login: no fixation). */
int kh_session_create(struct kh_store *st, const struct kh_identity *id, const char *amr,
    const char *acr, const char *client_ip, const char *old_cookie,
    char cookie[KH_SESSION_COOKIE_LEN + 1]);
/* Loads the session for cookie and slides its idle timeout. KH_ERR_NOT_FOUND
 * when unknown, malformed or past its absolute lifetime (then deleted). */
int kh_session_get(struct kh_store *st, const char *cookie, struct kh_session **out);
int kh_session_destroy(struct kh_store *st, const char *cookie);
void kh_session_free(struct kh_session *s);

/* Records a second factor: replaces the session's amr and acr (e.g. "pwd otp
 * mfa", "urn:kakehashi:acr:mfa"). auth_time and the id stay: the SSO session
 * keeps its SAML SessionIndex and OIDC sid. KH_ERR_NOT_FOUND when the
 * session is gone. */
int kh_session_set_auth(struct kh_store *st, const char *cookie, const char *amr, const char *acr);

/* Module data in the session hash (e.g. "x_saml" = the lasso session dump,
 * "x_rps" = the OIDC clients signed in to). field: "x_" then [a-z0-9_],
 * at most KH_SESSION_XFIELD_NAME_MAX characters (else KH_ERR_INVALID);
 * value: at most KH_SESSION_XFIELD_MAX bytes (else KH_ERR_TOO_LARGE).
 * value NULL with len 0 removes the field. The session's TTL is untouched.
 * KH_ERR_NOT_FOUND when the session does not exist (nothing is written). */
#define KH_SESSION_XFIELD_NAME_MAX 32
#define KH_SESSION_XFIELD_MAX (64 * 1024)
int kh_session_field_set(
    struct kh_store *st, const char *cookie, const char *field, const char *value, size_t len);
/* *value: NUL-terminated copy, free with kh_freezero(*value, *len + 1).
 * KH_ERR_NOT_FOUND when the session or the field is absent. */
int kh_session_field_get(
    struct kh_store *st, const char *cookie, const char *field, char **value, size_t *len);
/* A stable, non-secret handle of the session for cookie (OIDC sid claims,
 * SAML SessionIndex): hex(HMAC(server secret, "sid" ‖ cookie)), never the
 * Redis key and never usable as a cookie. No Redis access. KH_ERR_NOT_FOUND
 * for a malformed cookie. */
int kh_session_id(struct kh_store *st, const char *cookie, char out[65]);

/* ---- sessions by user (helpdesk) ----
 * kh_session_create also adds the session to the user's index, a set
 * prefix "su:" hex(HMAC(secret, "user" ‖ folded uid)) holding the session
 * key hashes (TTL = absolute_timeout, renewed at every create), and
 * kh_session_destroy removes it. Members whose session is gone are pruned
 * when the index is read. */

/* User names are matched case-insensitively: ASCII A-Z folded to a-z (the
 * same folding as the login throttle). out may be in; truncates to
 * outlen - 1 bytes. */
void kh_user_fold(const char *in, char *out, size_t outlen);

#define KH_SESSION_LIST_MAX 1000 /* sessions listed per user */

/* What the helpdesk may see of a session: never the cookie or the key. */
struct kh_session_info {
	char id[17]; /* first 16 hex digits of the key hash: a display handle */
	int64_t created;
	int64_t auth_time;
	int64_t absolute_expiry; /* min(abs_exp, created + absolute_timeout) */
	char *client_ip;
	char *amr;
};

/* The live sessions of uid (folded), oldest first, at most
 * KH_SESSION_LIST_MAX, into *out (free with kh_session_info_free); *n may be
 * 0. One round trip (a script that also prunes vanished members). */
int kh_session_list_user(
    struct kh_store *st, const char *uid, struct kh_session_info **out, size_t *n);
void kh_session_info_free(struct kh_session_info *v, size_t n);
/* Deletes every session of uid and its index, atomically (one script);
 * *count = sessions deleted. */
int kh_session_revoke_user(struct kh_store *st, const char *uid, long *count);

/* Login throttling. key is a username or a client address; it is hashed with
 * the server secret before it reaches Redis. */
enum kh_throttle_kind { KH_THROTTLE_USER = 0, KH_THROTTLE_IP = 1 };
/* *locked_for = seconds left on a temporary lock (0 = not locked);
 * *failures = failures counted in the current window. */
int kh_throttle_check(struct kh_store *st, enum kh_throttle_kind kind, const char *key,
    long *failures, long *locked_for);
/* Counts a failure; locks the key for lock_duration when max is reached.
 * Returns the new failure count in *failures. */
int kh_throttle_fail(struct kh_store *st, enum kh_throttle_kind kind, const char *key,
    long *failures, long *locked_for);
/* Clears the failure count after a successful login. */
int kh_throttle_reset(struct kh_store *st, enum kh_throttle_kind kind, const char *key);

#endif
