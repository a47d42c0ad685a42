/* MFA state in Redis, per user: the TOTP secret (AES-256-GCM sealed with the
 * key-encryption key, AAD = folded uid), recovery codes (HMAC-SHA-256 under
 * the server secret), WebAuthn credentials (JSON documents from
 * idp/webauthn.h), the helpdesk's one-time bypass code, MFA failure counting
 * with a temporary lock, and "remember this device" tokens.
 *
 *   mfa:<h(uid)>   hash   totp, totp_pending, totp_pending_at, totp_last,
 *                         totp_at, rc:<hex>..., wa:<credential id>...,
 *                         wc:<credential id> (sign counter), bypass, bypass_exp
 *   mff:<h(uid)>   MFA failures in the current window; mfl:<h(uid)> the lock
 *   rd:<h(token)>  remembered device -> h(uid) (TTL = remember days)
 *   rdu:<h(uid)>   set of that user's h(token) (for the helpdesk reset)
 *
 * h(uid) = hex(HMAC(server secret, "user" ‖ folded uid)), the same hash as
 * the other per-user keys (kh_store_user_key); h(token) = hex(HMAC(server
 * secret, "rd" ‖ token)). Every uid is folded (kh_user_fold) before it is
 * hashed; nothing here stores a uid, a code or a secret in clear. Codes are compared by their HMAC, so the
 * comparison never touches the secret itself; Redis decides single use
 * atomically (HDEL / a script), so two racing requests cannot both use one
 * code. Functions return KH_ERR_UNAVAILABLE when Redis cannot be reached. */
#ifndef KH_MFA_H
#define KH_MFA_H

#include <stddef.h>
#include <stdint.h>

struct kh_store;

#define KH_MFA_KEK_LEN 32
/* Recovery and bypass codes: 16 characters of Crockford base32 (80 bits)
 * shown as xxxx-xxxx-xxxx-xxxx; input is matched case-insensitively with
 * dashes and spaces ignored and o/i/l read as 0/1/1. */
#define KH_MFA_CODE_LEN 19 /* with the three dashes */
#define KH_MFA_RECOVERY_CODES 10
#define KH_MFA_WEBAUTHN_MAX 10 /* credentials per user */
#define KH_MFA_WEBAUTHN_DOC_MAX 4096
#define KH_MFA_CRED_ID_MAX 1366 /* base64url of a 1023-byte credential id */
#define KH_MFA_DEVICE_TOKEN_LEN 43 /* 256-bit random, base64url */

struct kh_mfa_webauthn {
	char *id; /* credential id, base64url */
	char *doc; /* the JSON document given to kh_mfa_webauthn_add */
	uint32_t sign_count;
};

struct kh_mfa_state {
	int totp_active;
	int64_t totp_enrolled_at; /* 0 when none */
	int totp_pending; /* a secret shown but not confirmed yet */
	size_t recovery_left;
	struct kh_mfa_webauthn *webauthn;
	size_t nwebauthn;
	int bypass_active; /* issued and not yet used or expired */
	int64_t bypass_expires;
	long failures; /* MFA failures in the current window */
	long locked_for; /* seconds left on an MFA lock, 0 = none */
	size_t remembered_devices;
};

/* 1 when the user has at least one usable factor (TOTP, a passkey or
 * recovery codes). */
int kh_mfa_has_factor(const struct kh_mfa_state *m);

int kh_mfa_state_get(struct kh_store *st, const char *uid, struct kh_mfa_state **out);
void kh_mfa_state_free(struct kh_mfa_state *m);

/* ---- TOTP ---- */
/* A fresh secret, stored sealed as the user's pending secret (replacing any
 * earlier pending one; an active secret stays until the new one is
 * confirmed). secret gets the raw bytes for the QR code (wipe after use). */
int kh_mfa_totp_begin(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN], const char *uid,
    unsigned char secret[20]);
/* The pending secret again (the page is shown again after a wrong code).
 * KH_ERR_NOT_FOUND when none, or older than 15 minutes. */
int kh_mfa_totp_pending(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN],
    const char *uid, unsigned char secret[20]);
/* Checks code against the pending secret; on success it becomes the active
 * one (its step recorded as used). KH_ERR_INVALID for a wrong code,
 * KH_ERR_NOT_FOUND when nothing is pending. */
int kh_mfa_totp_activate(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN],
    const char *uid, const char *code, int64_t now, int window);
/* Checks code against the active secret and records its step atomically:
 * KH_OK, KH_ERR_INVALID (wrong), KH_ERR_REPLAY (this or a later step was
 * already used), KH_ERR_NOT_FOUND (no active TOTP), KH_ERR_CRYPTO (the sealed
 * secret does not open: wrong KEK). */
int kh_mfa_totp_check(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN], const char *uid,
    const char *code, int64_t now, int window);
/* Removes the active and any pending secret; KH_ERR_NOT_FOUND when there
 * was neither. */
int kh_mfa_totp_remove(struct kh_store *st, const char *uid);

/* ---- recovery codes ---- */
/* Replaces every recovery code with KH_MFA_RECOVERY_CODES new ones, written
 * into codes (shown once, then wiped by the caller). */
int kh_mfa_recovery_generate(
    struct kh_store *st, const char *uid, char codes[][KH_MFA_CODE_LEN + 1]);
/* Uses one code: KH_OK (it is gone now) or KH_ERR_INVALID. */
int kh_mfa_recovery_use(struct kh_store *st, const char *uid, const char *code);

/* ---- WebAuthn credentials ---- */
/* KH_ERR_EXISTS when the id is registered; KH_ERR_TOO_LARGE past
 * KH_MFA_WEBAUTHN_MAX credentials or KH_MFA_WEBAUTHN_DOC_MAX bytes. */
int kh_mfa_webauthn_add(struct kh_store *st, const char *uid, const char *cred_id, const char *doc,
    uint32_t sign_count);
/* *doc: NUL-terminated copy (free()); KH_ERR_NOT_FOUND when unknown. */
int kh_mfa_webauthn_get(
    struct kh_store *st, const char *uid, const char *cred_id, char **doc, uint32_t *sign_count);
/* Stores the authenticator's new signature counter, atomically, only when it
 * grew (or both old and new are 0: authenticators without a counter).
 * KH_ERR_REPLAY when it did not grow: a cloned authenticator. */
int kh_mfa_webauthn_counter(
    struct kh_store *st, const char *uid, const char *cred_id, uint32_t new_count);
/* KH_ERR_NOT_FOUND when unknown. */
int kh_mfa_webauthn_remove(struct kh_store *st, const char *uid, const char *cred_id);

/* ---- helpdesk ---- */
/* A one-time bypass code valid ttl seconds, 1 s .. 30 days (replacing any
 * earlier one). */
int kh_mfa_bypass_issue(
    struct kh_store *st, const char *uid, long ttl, char code[KH_MFA_CODE_LEN + 1]);
/* Uses the bypass code: KH_OK (gone now), KH_ERR_INVALID (wrong, expired or
 * none issued). */
int kh_mfa_bypass_use(struct kh_store *st, const char *uid, const char *code);
/* 1 when a bypass code is issued and not yet used or expired, 0 when not,
 * negative KH_ERR on Redis failure (the login page sends such a user to
 * /mfa at once: the helpdesk reset forces enrolment at the next sign-in). */
int kh_mfa_bypass_active(struct kh_store *st, const char *uid);

struct kh_mfa_reset_counts {
	int totp;
	long recovery;
	long webauthn;
	long devices;
};
/* Removes every factor, pending secret, bypass code, remembered device and
 * the MFA failure count/lock of uid atomically (one script). counts: what
 * was there (totp: 1 when an active secret was). */
int kh_mfa_reset(struct kh_store *st, const char *uid, struct kh_mfa_reset_counts *counts);

/* ---- failures ---- */
/* Counts an MFA failure ([mfa] max_failures in failure_window locks for
 * lock_seconds; the values are given by the caller). */
int kh_mfa_fail(struct kh_store *st, const char *uid, long max_failures, long window,
    long lock_seconds, long *failures, long *locked_for);
int kh_mfa_lock_check(struct kh_store *st, const char *uid, long *failures, long *locked_for);
/* Clears failures and lock (after a success, or by the helpdesk). */
int kh_mfa_unlock(struct kh_store *st, const char *uid);

/* ---- remembered devices ---- */
/* A fresh token (the cookie value) remembered for uid for days days
 * (1..365). KH_ERR_TOO_LARGE when the user already has 50 live ones. */
int kh_mfa_device_remember(
    struct kh_store *st, const char *uid, long days, char token[KH_MFA_DEVICE_TOKEN_LEN + 1]);
/* 1 when token is a live remembered device of uid, 0 when not (unknown,
 * expired, malformed, another user's), negative KH_ERR on Redis failure. */
int kh_mfa_device_check(struct kh_store *st, const char *uid, const char *token);

#endif
