/* TOTP in the user's mfa: hash: the active secret (totp, totp_at,
 * totp_last) and a pending one (totp_pending, totp_pending_at), both
 * AES-256-GCM sealed under the KEK with AAD = fold(uid): a record copied to
 * another user does not open. The code is verified in C; single use (the
 * step) and activation are decided by Redis, one script each, never
 * retried. */
#include "sessions/mfa.h"

#include <stdio.h>
#include <string.h>

#include "common/crypto.h"
#include "common/errors.h"
#include "common/str.h"
#include "common/totp.h"
#include "sessions/mfa_int.h"
#include "sessions/store.h"

#define TOTP_SECRET_BYTES KH_TOTP_SECRET_LEN
#define SEALED_LEN (TOTP_SECRET_BYTES + KH_GCM_OVERHEAD)

/* KEYS[1] mfa; ARGV[1] the sealed pending secret that was checked, ARGV[2]
 * now, ARGV[3] the step used. Activates it only if it is still the pending
 * one (a concurrent begin replaced it otherwise). 1 or 0. */
static const char activate_script[] =
    "if redis.call('HGET', KEYS[1], 'totp_pending') ~= ARGV[1] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'totp', ARGV[1], 'totp_at', ARGV[2], 'totp_last', ARGV[3])\n"
    "redis.call('HDEL', KEYS[1], 'totp_pending', 'totp_pending_at')\n"
    "return 1\n";

/* KEYS[1] mfa; ARGV[1] the sealed secret the code was checked against,
 * ARGV[2] the matched step. Records the step only when it is later than the
 * last one used: 1 used now, 0 replay, -1 the secret changed meanwhile, -2 a
 * corrupt totp_last. */
static const char check_script[] = "local v = redis.call('HMGET', KEYS[1], 'totp', 'totp_last')\n"
				   "if v[1] ~= ARGV[1] then return -1 end\n"
				   "local last = -1\n"
				   "if v[2] then last = tonumber(v[2]) end\n"
				   "if last == nil then return -2 end\n"
				   "if last >= tonumber(ARGV[2]) then return 0 end\n"
				   "redis.call('HSET', KEYS[1], 'totp_last', ARGV[2])\n"
				   "return 1\n";

/* HMGET of a sealed secret field and a number field. *have = 0 when the
 * sealed field is absent; *num = -1 when the number is. A sealed value of
 * the wrong length is KH_ERR_CRYPTO (it cannot open). */
static int
sealed_read(struct kh_store *st, const struct mfa_keys *k, const char *sfield, const char *nfield,
    unsigned char sealed[SEALED_LEN], int *have, long long *num)
{
	redisReply *rep = NULL;
	const redisReply *s, *n;
	int r;

	*have = 0;
	*num = -1;
	if ((r = mfa_hmget2(
		 st, &rep, &s, &n, "HMGET %b %s %s", k->mfa, k->mfa_len, sfield, nfield)) != KH_OK)
		return r;
	r = KH_ERR_UNAVAILABLE;
	if (n->type == REDIS_REPLY_STRING && mfa_parse_num(n->str, n->len, num) != KH_OK) {
		mfa_corrupt(nfield, k);
		goto out;
	}
	if (s->type == REDIS_REPLY_STRING) {
		if (s->len != SEALED_LEN) {
			mfa_corrupt(sfield, k);
			r = KH_ERR_CRYPTO;
			goto out;
		}
		memcpy(sealed, s->str, SEALED_LEN);
		*have = 1;
	}
	r = KH_OK;
out:
	kh_replies_free(&rep, 1);
	return r;
}

static int
sealed_open(const unsigned char kek[KH_MFA_KEK_LEN], const struct mfa_keys *k,
    const unsigned char sealed[SEALED_LEN], unsigned char secret[TOTP_SECRET_BYTES])
{
	unsigned char buf[SEALED_LEN];
	size_t n = 0;
	int r;

	if (kh_gcm_open(kek, k->folded, k->folded_len, sealed, SEALED_LEN, buf, &n) != KH_OK ||
	    n != TOTP_SECRET_BYTES) {
		r = KH_ERR_CRYPTO;
		goto out;
	}
	memcpy(secret, buf, TOTP_SECRET_BYTES);
	r = KH_OK;
out:
	explicit_bzero(buf, sizeof(buf));
	return r;
}

int
kh_mfa_totp_begin(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN], const char *uid,
    unsigned char secret[20])
{
	struct mfa_keys k;
	unsigned char sealed[SEALED_LEN];
	char now_s[24];
	size_t n = 0;
	long long x;
	int r;

	if (secret != NULL)
		explicit_bzero(secret, TOTP_SECRET_BYTES);
	if (st == NULL || kek == NULL || secret == NULL)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	if ((r = kh_random(secret, TOTP_SECRET_BYTES)) != KH_OK ||
	    (r = kh_gcm_seal(kek, k.folded, k.folded_len, secret, TOTP_SECRET_BYTES, sealed, &n)) !=
		KH_OK)
		goto out;
	if (n != SEALED_LEN) {
		r = KH_ERR_INTERNAL;
		goto out;
	}
	snprintf(now_s, sizeof(now_s), "%lld", (long long)kh_time());
	/* Setting the same values again is harmless: retried once. */
	r = kh_conn_command_int(st, MFA_RETRY, "HSET", &x,
	    "HSET %b totp_pending %b totp_pending_at %s", k.mfa, k.mfa_len, sealed,
	    (size_t)SEALED_LEN, now_s);
out:
	if (r != KH_OK)
		explicit_bzero(secret, TOTP_SECRET_BYTES);
	explicit_bzero(&k, sizeof(k));
	return r;
}

/* The pending secret and its sealed form; KH_ERR_NOT_FOUND when none or
 * too old. */
static int
pending_get(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN], const struct mfa_keys *k,
    unsigned char sealed[SEALED_LEN], unsigned char secret[TOTP_SECRET_BYTES])
{
	long long at;
	int64_t now = kh_time();
	int have, r;

	if ((r = sealed_read(st, k, "totp_pending", "totp_pending_at", sealed, &have, &at)) !=
	    KH_OK)
		return r;
	if (!have || at < 0 || now - at > PENDING_MAX_AGE || at > now + PENDING_MAX_AGE)
		return KH_ERR_NOT_FOUND;
	return sealed_open(kek, k, sealed, secret);
}

int
kh_mfa_totp_pending(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN], const char *uid,
    unsigned char secret[20])
{
	struct mfa_keys k;
	unsigned char sealed[SEALED_LEN];
	int r;

	if (secret != NULL)
		explicit_bzero(secret, TOTP_SECRET_BYTES);
	if (st == NULL || kek == NULL || secret == NULL)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	if ((r = pending_get(st, kek, &k, sealed, secret)) != KH_OK)
		explicit_bzero(secret, TOTP_SECRET_BYTES);
	explicit_bzero(&k, sizeof(k));
	return r;
}

/* The active secret, its sealed form and the last step used (-1 none);
 * KH_ERR_NOT_FOUND when there is none. */
static int
active_get(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN], const struct mfa_keys *k,
    unsigned char sealed[SEALED_LEN], unsigned char secret[TOTP_SECRET_BYTES], long long *last)
{
	int have, r;

	if ((r = sealed_read(st, k, "totp", "totp_last", sealed, &have, last)) != KH_OK)
		return r;
	if (!have)
		return KH_ERR_NOT_FOUND;
	if (*last < -1) {
		mfa_corrupt("totp_last", k);
		return KH_ERR_UNAVAILABLE;
	}
	return sealed_open(kek, k, sealed, secret);
}

/* Verifies code against the pending (pending = 1) or the active secret
 * (only a step later than the last one used). *step the matched step,
 * sealed the sealed secret checked (for the compare in Redis). The secret
 * is wiped before return. */
static int
stored_verify(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN],
    const struct mfa_keys *k, int pending, const char *code, int64_t now, int window,
    unsigned char sealed[SEALED_LEN], int64_t *step)
{
	unsigned char secret[TOTP_SECRET_BYTES];
	long long last = -1;
	int r;

	if (pending)
		r = pending_get(st, kek, k, sealed, secret);
	else
		r = active_get(st, kek, k, sealed, secret, &last);
	if (r == KH_OK)
		r = kh_totp_verify(secret, TOTP_SECRET_BYTES, code, now, window, last, step);
	explicit_bzero(secret, sizeof(secret));
	return r;
}

/* Verifies code in C against the pending (activate = 1) or the active
 * secret, then Redis decides in one script: activation makes the pending
 * secret the active one, a check records the step. */
static int
totp_use(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN], const char *uid,
    const char *code, int64_t now, int window, int activate)
{
	struct mfa_keys k;
	unsigned char sealed[SEALED_LEN];
	char now_s[24], step_s[24];
	int64_t step = -1;
	long long x;
	int r;

	if (st == NULL || kek == NULL || code == NULL)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	if ((r = stored_verify(st, kek, &k, activate, code, now, window, sealed, &step)) != KH_OK)
		goto out;
	snprintf(step_s, sizeof(step_s), "%lld", (long long)step);
	if (activate) {
		snprintf(now_s, sizeof(now_s), "%lld", (long long)kh_time());
		/* Compare-and-set on the pending secret: never retried. */
		r = kh_conn_command_int(st, MFA_ONCE, "EVAL mfa_activate", &x,
		    "EVAL %s 1 %b %b %s %s", activate_script, k.mfa, k.mfa_len, sealed,
		    (size_t)SEALED_LEN, now_s, step_s);
	} else {
		/* Redis decides whether the step is still unused: never
		 * retried (a retry after a landed first try would report a
		 * replay). */
		r = kh_conn_command_int(st, MFA_ONCE, "EVAL mfa_check", &x, "EVAL %s 1 %b %b %s",
		    check_script, k.mfa, k.mfa_len, sealed, (size_t)SEALED_LEN, step_s);
	}
	if (r != KH_OK)
		goto out;
	if (activate) {
		r = x == 1 ? KH_OK : KH_ERR_NOT_FOUND;
		goto out;
	}
	switch (x) {
	case 1: r = KH_OK; break;
	case 0: r = KH_ERR_REPLAY; break;
	case -1: r = KH_ERR_INVALID; break; /* replaced or removed meanwhile */
	default:
		mfa_corrupt("totp_last", &k);
		r = KH_ERR_UNAVAILABLE;
		break;
	}
out:
	explicit_bzero(&k, sizeof(k));
	return r;
}

int
kh_mfa_totp_activate(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN], const char *uid,
    const char *code, int64_t now, int window)
{
	return totp_use(st, kek, uid, code, now, window, 1);
}

int
kh_mfa_totp_check(struct kh_store *st, const unsigned char kek[KH_MFA_KEK_LEN], const char *uid,
    const char *code, int64_t now, int window)
{
	return totp_use(st, kek, uid, code, now, window, 0);
}

int
kh_mfa_totp_remove(struct kh_store *st, const char *uid)
{
	struct mfa_keys k;
	long long x;
	int r;

	if (st == NULL)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	r = kh_conn_command_int(st, MFA_RETRY, "HDEL", &x,
	    "HDEL %b totp totp_at totp_last totp_pending totp_pending_at", k.mfa, k.mfa_len);
	explicit_bzero(&k, sizeof(k));
	if (r != KH_OK)
		return r;
	return x > 0 ? KH_OK : KH_ERR_NOT_FOUND;
}
