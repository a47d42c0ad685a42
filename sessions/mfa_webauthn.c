/* WebAuthn credentials in the user's mfa: hash: wa:<id> the document given
 * by idp/webauthn.h, wc:<id> its signature counter. Adding (exists / at
 * most KH_MFA_WEBAUTHN_MAX) and the counter update (grow, or 0 -> 0) are
 * one script each, never retried. */
#include "sessions/mfa.h"

#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "sessions/mfa_int.h"
#include "sessions/store.h"

/* KEYS[1] mfa; ARGV[1] id, ARGV[2] document, ARGV[3] counter, ARGV[4] most
 * credentials. 1 added, -1 exists, -2 full. */
static const char wa_add_script[] =
    "if redis.call('HEXISTS', KEYS[1], 'wa:' .. ARGV[1]) == 1 then return -1 end\n"
    "local n = 0\n"
    "for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
    "  if string.sub(f, 1, 3) == 'wa:' then n = n + 1 end\n"
    "end\n"
    "if n >= tonumber(ARGV[4]) then return -2 end\n"
    "redis.call('HSET', KEYS[1], 'wa:' .. ARGV[1], ARGV[2], 'wc:' .. ARGV[1], ARGV[3])\n"
    "return 1\n";

/* KEYS[1] mfa; ARGV[1] id, ARGV[2] the new counter. Stores it only when it
 * grew, or when both are 0. 1 stored, 0 did not grow, -1 unknown
 * credential, -2 corrupt counter. */
static const char wa_counter_script[] =
    "if redis.call('HEXISTS', KEYS[1], 'wa:' .. ARGV[1]) == 0 then return -1 end\n"
    "local c = redis.call('HGET', KEYS[1], 'wc:' .. ARGV[1])\n"
    "if not c then return -2 end\n"
    "c = tonumber(c)\n"
    "if c == nil then return -2 end\n"
    "local n = tonumber(ARGV[2])\n"
    "if n > c or (n == 0 and c == 0) then\n"
    "  redis.call('HSET', KEYS[1], 'wc:' .. ARGV[1], ARGV[2])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* The user's keys for a credential id (1..KH_MFA_CRED_ID_MAX base64url
 * characters, *idlen of them); KH_ERR_INVALID for a malformed id. */
static int
wa_keys(const struct kh_store *st, const char *uid, const char *cred_id, struct mfa_keys *k,
    size_t *idlen)
{
	memset(k, 0, sizeof(*k));
	if (st == NULL || cred_id == NULL || !mfa_cred_id_ok(cred_id, 0, idlen))
		return KH_ERR_INVALID;
	return mfa_keys(st, uid, k);
}

int
kh_mfa_webauthn_add(
    struct kh_store *st, const char *uid, const char *cred_id, const char *doc, uint32_t sign_count)
{
	struct mfa_keys k;
	char cnt[16], max[16];
	size_t idlen, doclen;
	long long x;
	int r;

	if (st == NULL || cred_id == NULL || doc == NULL || !mfa_cred_id_ok(cred_id, 0, &idlen))
		return KH_ERR_INVALID;
	if ((doclen = strnlen(doc, KH_MFA_WEBAUTHN_DOC_MAX + 1)) > KH_MFA_WEBAUTHN_DOC_MAX)
		return KH_ERR_TOO_LARGE;
	if (doclen == 0)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	snprintf(cnt, sizeof(cnt), "%lu", (unsigned long)sign_count);
	snprintf(max, sizeof(max), "%d", KH_MFA_WEBAUTHN_MAX);
	/* Not retried: a landed first try would come back as EXISTS. */
	r = kh_conn_command_int(st, MFA_ONCE, "EVAL mfa_wa_add", &x, "EVAL %s 1 %b %b %b %s %s",
	    wa_add_script, k.mfa, k.mfa_len, cred_id, idlen, doc, doclen, cnt, max);
	explicit_bzero(&k, sizeof(k));
	if (r != KH_OK)
		return r;
	return x == 1 ? KH_OK : x == -1 ? KH_ERR_EXISTS : KH_ERR_TOO_LARGE;
}

int
kh_mfa_webauthn_get(
    struct kh_store *st, const char *uid, const char *cred_id, char **doc, uint32_t *sign_count)
{
	struct mfa_keys k;
	redisReply *rep = NULL;
	const redisReply *d, *c;
	size_t idlen;
	long long x;
	int r;

	if (doc != NULL)
		*doc = NULL;
	if (sign_count != NULL)
		*sign_count = 0;
	if (doc == NULL || sign_count == NULL)
		return KH_ERR_INVALID;
	if ((r = wa_keys(st, uid, cred_id, &k, &idlen)) != KH_OK)
		return r;
	if ((r = mfa_hmget2(st, &rep, &d, &c, "HMGET %b wa:%b wc:%b", k.mfa, k.mfa_len, cred_id,
		 idlen, cred_id, idlen)) != KH_OK)
		goto out;
	r = KH_ERR_UNAVAILABLE;
	if (d->type == REDIS_REPLY_NIL) {
		r = KH_ERR_NOT_FOUND;
		goto out;
	}
	if (d->len > KH_MFA_WEBAUTHN_DOC_MAX) {
		mfa_corrupt("wa", &k);
		r = KH_ERR_TOO_LARGE;
		goto out;
	}
	if (d->len == 0 || memchr(d->str, '\0', d->len) != NULL || c->type != REDIS_REPLY_STRING ||
	    mfa_parse_num(c->str, c->len, &x) != KH_OK || x < 0 || x > 0xffffffffLL) {
		mfa_corrupt("wa", &k);
		goto out;
	}
	if ((*doc = mfa_dup(d->str, d->len)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	*sign_count = (uint32_t)x;
	r = KH_OK;
out:
	kh_replies_free(&rep, 1);
	explicit_bzero(&k, sizeof(k));
	return r;
}

int
kh_mfa_webauthn_counter(
    struct kh_store *st, const char *uid, const char *cred_id, uint32_t new_count)
{
	struct mfa_keys k;
	char cnt[16];
	size_t idlen;
	long long x;
	int r;

	if ((r = wa_keys(st, uid, cred_id, &k, &idlen)) != KH_OK)
		return r;
	snprintf(cnt, sizeof(cnt), "%lu", (unsigned long)new_count);
	/* Not retried: a landed first try would come back as a replay. */
	if ((r = kh_conn_command_int(st, MFA_ONCE, "EVAL mfa_wa_counter", &x, "EVAL %s 1 %b %b %s",
		 wa_counter_script, k.mfa, k.mfa_len, cred_id, idlen, cnt)) != KH_OK)
		goto out;
	switch (x) {
	case 1: r = KH_OK; break;
	case 0: r = KH_ERR_REPLAY; break;
	case -1: r = KH_ERR_NOT_FOUND; break;
	default:
		mfa_corrupt("wc", &k);
		r = KH_ERR_UNAVAILABLE;
		break;
	}
out:
	explicit_bzero(&k, sizeof(k));
	return r;
}

int
kh_mfa_webauthn_remove(struct kh_store *st, const char *uid, const char *cred_id)
{
	struct mfa_keys k;
	size_t idlen;
	long long x;
	int r;

	if ((r = wa_keys(st, uid, cred_id, &k, &idlen)) != KH_OK)
		return r;
	r = kh_conn_command_int(st, MFA_RETRY, "HDEL", &x, "HDEL %b wa:%b wc:%b", k.mfa, k.mfa_len,
	    cred_id, idlen, cred_id, idlen);
	explicit_bzero(&k, sizeof(k));
	if (r != KH_OK)
		return r;
	return x > 0 ? KH_OK : KH_ERR_NOT_FOUND;
}
