/* MFA failures and the MFA lock (mff:, mfl:), counted like the login
 * throttle with the caller's limits, and "remember this device" tokens
 * (rd:, rdu:): a device token is kept only as D(token) = HMAC(S, "rd" ‖
 * token), its value is U(uid), at most DEVICES_MAX live ones per user. */
#include "sessions/mfa.h"

#include <stdio.h>
#include <string.h>

#include "common/crypto.h"
#include "common/errors.h"
#include "sessions/mfa_int.h"
#include "sessions/store.h"

#define MFA_FAIL_MAX 1000000L /* max_failures accepted */
#define DEVICES_MAX 50 /* remembered devices per user */
#define REMEMBER_DAYS_MAX 365

/* KEYS[1] mff, KEYS[2] mfl. {count or '', TTL of the lock}. */
static const char lock_script[] =
    "return {redis.call('GET', KEYS[1]) or '', redis.call('TTL', KEYS[2])}\n";

/* KEYS[1] rd key, KEYS[2] rdu; ARGV[1] U(uid), ARGV[2] D(token) hex,
 * ARGV[3] TTL, ARGV[4] prefix "rd:", ARGV[5] most devices. Prunes members
 * that are gone, refuses past the cap (0), else remembers the device and
 * keeps the set alive as long as its longest member (1). */
static const char remember_script[] =
    "local n = 0\n"
    "for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"
    "  if redis.pcall('GET', ARGV[4] .. m) == ARGV[1] then n = n + 1\n"
    "  else redis.call('SREM', KEYS[2], m) end\n"
    "end\n"
    "if n >= tonumber(ARGV[5]) then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])\n"
    "redis.call('SADD', KEYS[2], ARGV[2])\n"
    "if redis.call('TTL', KEYS[2]) < tonumber(ARGV[3]) then\n"
    "  redis.call('EXPIRE', KEYS[2], ARGV[3])\n"
    "end\n"
    "return 1\n";

/* ---- failures ---- */

int
kh_mfa_fail(struct kh_store *st, const char *uid, long max_failures, long window, long lock_seconds,
    long *failures, long *locked_for)
{
	struct mfa_keys k;
	int r;

	if (failures != NULL)
		*failures = 0;
	if (locked_for != NULL)
		*locked_for = 0;
	if (st == NULL || failures == NULL || locked_for == NULL || max_failures < 1 ||
	    max_failures > MFA_FAIL_MAX || window < 1 || window > MFA_TTL_MAX || lock_seconds < 1 ||
	    lock_seconds > MFA_TTL_MAX)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	/* The login throttle's script (INCR, window from the first failure,
	 * lock at max); not idempotent (it counts): never retried. */
	r = kh_throttle_count(st, "EVAL mfa_fail", k.mff, k.mff_len, k.mfl, k.mfl_len, window,
	    max_failures, lock_seconds, failures, locked_for);
	explicit_bzero(&k, sizeof(k));
	return r;
}

int
kh_mfa_lock_check(struct kh_store *st, const char *uid, long *failures, long *locked_for)
{
	struct mfa_keys k;
	redisReply *rep = NULL;
	const redisReply *f, *l;
	long n = 0;
	int r;

	if (failures != NULL)
		*failures = 0;
	if (locked_for != NULL)
		*locked_for = 0;
	if (st == NULL || failures == NULL || locked_for == NULL)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	/* Read-only: retried once. */
	if ((r = mfa_command(st, MFA_RETRY, &rep, "EVAL %s 2 %b %b", lock_script, k.mff, k.mff_len,
		 k.mfl, k.mfl_len)) != KH_OK)
		goto out;
	r = KH_ERR_UNAVAILABLE;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    (f = rep->element[0])->type != REDIS_REPLY_STRING ||
	    (l = rep->element[1])->type != REDIS_REPLY_INTEGER || mfa_failures(f, &n) != KH_OK) {
		kh_reply_unexpected("EVAL mfa_lock", rep);
		goto out;
	}
	*failures = n;
	*locked_for = mfa_lock_left(l->integer);
	kh_store_mark_up(st);
	r = KH_OK;
out:
	kh_replies_free(&rep, 1);
	explicit_bzero(&k, sizeof(k));
	return r;
}

int
kh_mfa_unlock(struct kh_store *st, const char *uid)
{
	struct mfa_keys k;
	long long x;
	int r;

	if (st == NULL)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	r = kh_conn_command_int(
	    st, MFA_RETRY, "DEL", &x, "DEL %b %b", k.mff, k.mff_len, k.mfl, k.mfl_len);
	explicit_bzero(&k, sizeof(k));
	return r;
}

/* ---- remembered devices ---- */

/* P rd: hex(HMAC(S, "rd" ‖ token)) and the hex alone (the rdu member). */
static int
device_key(const struct kh_store *st, const char *token, char key[KH_STORE_KEY_MAX + 1],
    size_t *keylen, char member[2 * KH_HMAC_LEN + 1])
{
	unsigned char mac[KH_HMAC_LEN];
	const void *parts[2];
	size_t lens[2];
	int r;

	parts[0] = "rd";
	lens[0] = 2;
	parts[1] = token;
	lens[1] = KH_MFA_DEVICE_TOKEN_LEN;
	if ((r = kh_hmac_sha256_parts(st->key, st->keylen, parts, lens, 2, mac)) != KH_OK ||
	    (r = kh_store_key_from_mac(st, RD_TAG, mac, key, keylen)) != KH_OK)
		goto out;
	kh_hex_encode(mac, sizeof(mac), member);
out:
	explicit_bzero(mac, sizeof(mac));
	return r;
}

int
kh_mfa_device_remember(
    struct kh_store *st, const char *uid, long days, char token[KH_MFA_DEVICE_TOKEN_LEN + 1])
{
	struct mfa_keys k;
	unsigned char raw[32];
	char enc[64], key[KH_STORE_KEY_MAX + 1], member[2 * KH_HMAC_LEN + 1], ttl_s[24], max_s[16];
	size_t keylen = 0;
	long long x;
	int r;

	if (token != NULL)
		explicit_bzero(token, KH_MFA_DEVICE_TOKEN_LEN + 1);
	if (st == NULL || token == NULL || days < 1 || days > REMEMBER_DAYS_MAX)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	if ((r = kh_random(raw, sizeof(raw))) != KH_OK)
		goto out;
	kh_b64url_encode(raw, sizeof(raw), enc);
	if (strlen(enc) != KH_MFA_DEVICE_TOKEN_LEN) {
		r = KH_ERR_INTERNAL;
		goto out;
	}
	if ((r = device_key(st, enc, key, &keylen, member)) != KH_OK)
		goto out;
	snprintf(ttl_s, sizeof(ttl_s), "%ld", days * 24 * 3600);
	snprintf(max_s, sizeof(max_s), "%d", DEVICES_MAX);
	/* The same token again gives the same state: retried once. */
	if ((r = kh_conn_command_int(st, MFA_RETRY, "EVAL mfa_remember", &x,
		 "EVAL %s 2 %b %b %s %s %s %s %s", remember_script, key, keylen, k.rdu, k.rdu_len,
		 k.uh, member, ttl_s, k.rdpfx, max_s)) != KH_OK)
		goto out;
	if (x != 1) {
		r = KH_ERR_TOO_LARGE;
		goto out;
	}
	memcpy(token, enc, KH_MFA_DEVICE_TOKEN_LEN + 1);
	r = KH_OK;
out:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(enc, sizeof(enc));
	explicit_bzero(key, sizeof(key));
	explicit_bzero(&k, sizeof(k));
	return r;
}

int
kh_mfa_device_check(struct kh_store *st, const char *uid, const char *token)
{
	struct mfa_keys k;
	char key[KH_STORE_KEY_MAX + 1], member[2 * KH_HMAC_LEN + 1];
	size_t keylen = 0;
	redisReply *rep = NULL;
	int r;

	if (st == NULL)
		return KH_ERR_INVALID;
	/* Same shape as a session cookie: 32 random bytes, base64url. */
	if (!kh_session_cookie_valid(token))
		return 0;
	if (mfa_keys(st, uid, &k) != KH_OK)
		return 0; /* an empty or oversized name has no devices */
	if ((r = device_key(st, token, key, &keylen, member)) != KH_OK)
		goto out;
	if ((r = mfa_command(st, MFA_RETRY, &rep, "GET %b", key, keylen)) != KH_OK)
		goto out;
	if (rep->type == REDIS_REPLY_NIL) {
		kh_store_mark_up(st);
		r = 0;
		goto out;
	}
	if (rep->type != REDIS_REPLY_STRING) {
		kh_reply_unexpected("GET", rep);
		r = KH_ERR_UNAVAILABLE;
		goto out;
	}
	kh_store_mark_up(st);
	r = rep->len == 2 * KH_HMAC_LEN && kh_ct_equal(rep->str, k.uh, 2 * KH_HMAC_LEN) ? 1 : 0;
out:
	kh_replies_free(&rep, 1);
	explicit_bzero(key, sizeof(key));
	explicit_bzero(member, sizeof(member));
	explicit_bzero(&k, sizeof(k));
	return r;
}
