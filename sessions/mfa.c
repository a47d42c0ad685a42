/* Per-user MFA state in Redis (layout in sessions/mfa.h and sessions/README.md):
 * the keys of a user, the command helpers the other sessions/mfa_*.c files
 * share (sessions/mfa_int.h), the state read and the reset.
 *
 *   P mfa: U(uid)    hash: totp, totp_at, totp_last, totp_pending,
 *                    totp_pending_at, rc:<hex>, wa:<id>, wc:<id>, bypass,
 *                    bypass_exp
 *   P mff: U(uid)    MFA failure counter (TTL = the failure window)
 *   P mfl: U(uid)    present while MFA is locked (TTL = the lock)
 *   P rd: D(token)   remembered device -> U(uid) hex (TTL = remember days)
 *   P rdu: U(uid)    set of D(token) hex of that user (for the reset)
 *
 * U(uid) = hex(HMAC(S, "user" ‖ fold(uid))) (kh_store_user_key), D(token) =
 * HMAC(S, "rd" ‖ token), recovery and bypass codes are kept as
 * hex(HMAC(S, purpose ‖ canonical code)). TOTP secrets are AES-256-GCM
 * sealed under the KEK with AAD = fold(uid). Everything that must happen
 * once (a TOTP step, a code, a counter) is decided by Redis in one script or
 * one HDEL; those are never retried, idempotent reads and writes are retried
 * once on a fresh connection like the rest of sessions/. */
#include "sessions/mfa.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "sessions/mfa_int.h"
#include "sessions/sessions.h"
#include "sessions/store.h"

#define MFA_FIELDS_MAX 64 /* fields of one user's hash read back (10 rc, 2 x 10 wa/wc, 9 more) */
#define MFA_NUM_MAX 18 /* digits of a stored number */
#define MFA_LOCK_NO_TTL 900 /* a lock key left without a TTL reads as this */

/* KEYS[1] mfa, [2] mff, [3] mfl, [4] rdu; ARGV[1] prefix "rd:", ARGV[2]
 * U(uid). The hash, the failure count, the lock's TTL and the number of
 * live remembered devices (members whose rd: key is gone or names another
 * user are removed from the set). */
static const char state_script[] =
    "local h = redis.call('HGETALL', KEYS[1])\n"
    "local f = redis.call('GET', KEYS[2]) or ''\n"
    "local l = redis.call('TTL', KEYS[3])\n"
    "local d = 0\n"
    "for _, m in ipairs(redis.call('SMEMBERS', KEYS[4])) do\n"
    "  if redis.pcall('GET', ARGV[1] .. m) == ARGV[2] then d = d + 1\n"
    "  else redis.call('SREM', KEYS[4], m) end\n"
    "end\n"
    "return {h, f, l, d}\n";

/* KEYS[1] mfa, [2] mff, [3] mfl, [4] rdu; ARGV[1] prefix "rd:", ARGV[2]
 * U(uid). Deletes everything of the user, the remembered devices listed in
 * rdu (those still naming this user) included. {totp, rc, wa, devices}. */
static const char reset_script[] =
    "local totp, rc, wa, d = 0, 0, 0, 0\n"
    "if redis.call('TYPE', KEYS[1]).ok == 'hash' then\n"
    "  totp = redis.call('HEXISTS', KEYS[1], 'totp')\n"
    "  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
    "    local p = string.sub(f, 1, 3)\n"
    "    if p == 'rc:' then rc = rc + 1 elseif p == 'wa:' then wa = wa + 1 end\n"
    "  end\n"
    "end\n"
    "if redis.call('TYPE', KEYS[4]).ok == 'set' then\n"
    "  for _, m in ipairs(redis.call('SMEMBERS', KEYS[4])) do\n"
    "    local k = ARGV[1] .. m\n"
    "    if redis.pcall('GET', k) == ARGV[2] then d = d + redis.call('DEL', k) end\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])\n"
    "return {totp, rc, wa, d}\n";

/* ---- keys ---- */

int
mfa_keys(const struct kh_store *st, const char *uid, struct mfa_keys *k)
{
	int r;

	memset(k, 0, sizeof(*k));
	if (st == NULL || uid == NULL)
		return KH_ERR_INVALID;
	if ((r = kh_store_user_key(st, MFA_TAG, uid, k->mfa, &k->mfa_len)) != KH_OK ||
	    (r = kh_store_user_key(st, MFF_TAG, uid, k->mff, &k->mff_len)) != KH_OK ||
	    (r = kh_store_user_key(st, MFL_TAG, uid, k->mfl, &k->mfl_len)) != KH_OK ||
	    (r = kh_store_user_key(st, RDU_TAG, uid, k->rdu, &k->rdu_len)) != KH_OK) {
		explicit_bzero(k, sizeof(*k));
		return r;
	}
	memcpy(k->uh, k->mfa + k->mfa_len - 2 * KH_HMAC_LEN, 2 * KH_HMAC_LEN);
	k->uh[2 * KH_HMAC_LEN] = '\0';
	kh_user_fold(uid, k->folded, sizeof(k->folded));
	k->folded_len = strlen(k->folded);
	snprintf(k->rdpfx, sizeof(k->rdpfx), "%s%s", st->prefix, RD_TAG);
	return KH_OK;
}

/* ---- commands ---- */

int
mfa_command(struct kh_store *st, int retry, redisReply **rep, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = kh_conn_vcommand(st, retry, rep, fmt, ap);
	va_end(ap);
	return r;
}

static int
string_or_nil(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL;
}

int
mfa_hmget2(struct kh_store *st, redisReply **rep, const redisReply **a, const redisReply **b,
    const char *fmt, ...)
{
	va_list ap;
	int r;

	*a = *b = NULL;
	va_start(ap, fmt);
	r = kh_conn_vcommand(st, MFA_RETRY, rep, fmt, ap);
	va_end(ap);
	if (r != KH_OK)
		return r;
	if ((*rep)->type != REDIS_REPLY_ARRAY || (*rep)->elements != 2 ||
	    !string_or_nil((*rep)->element[0]) || !string_or_nil((*rep)->element[1])) {
		kh_reply_unexpected("HMGET", *rep);
		kh_replies_free(rep, 1);
		return KH_ERR_UNAVAILABLE;
	}
	*a = (*rep)->element[0];
	*b = (*rep)->element[1];
	kh_store_mark_up(st);
	return KH_OK;
}

/* ---- checks ---- */

int
mfa_parse_num(const char *s, size_t len, long long *out)
{
	long long x = 0;
	size_t i = 0;
	int neg = 0;

	if (len > 0 && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (len <= i || len - i > MFA_NUM_MAX)
		return KH_ERR_INVALID;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return KH_ERR_INVALID;
		x = x * 10 + (s[i] - '0');
	}
	*out = neg ? -x : x;
	return KH_OK;
}

int
mfa_failures(const redisReply *f, long *failures)
{
	long long x = 0;

	if (f->len > 0 && (mfa_parse_num(f->str, f->len, &x) != KH_OK || x < 0))
		return KH_ERR_INVALID;
	*failures = x > 0x7fffffffLL ? 0x7fffffffL : (long)x;
	return KH_OK;
}

long
mfa_lock_left(long long ttl)
{
	if (ttl > 0)
		return ttl > MFA_TTL_MAX ? MFA_TTL_MAX : (long)ttl;
	if (ttl == -1)
		return MFA_LOCK_NO_TTL; /* no TTL: repaired by the next failure */
	return 0;
}

void
mfa_corrupt(const char *what, const struct mfa_keys *k)
{
	char tag[9];

	memcpy(tag, k->uh, 8);
	tag[8] = '\0';
	kh_warn("mfa.corrupt", "field", what, "user_hash", tag, NULL);
}

int
mfa_cred_id_ok(const char *s, size_t len_known, size_t *lenp)
{
	size_t i;

	for (i = 0; i < len_known || (len_known == 0 && s[i] != '\0'); i++) {
		if (i >= KH_MFA_CRED_ID_MAX)
			return 0;
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return 0;
	}
	if (lenp != NULL)
		*lenp = i;
	return i > 0;
}

char *
mfa_dup(const char *s, size_t n)
{
	char *p;

	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* ---- state ---- */

int
kh_mfa_has_factor(const struct kh_mfa_state *m)
{
	return m != NULL && (m->totp_active || m->nwebauthn > 0 || m->recovery_left > 0);
}

void
kh_mfa_state_free(struct kh_mfa_state *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nwebauthn; i++) {
		free(m->webauthn[i].id);
		free(m->webauthn[i].doc);
	}
	free(m->webauthn);
	free(m);
}

static int
field_is(const redisReply *f, const char *name)
{
	size_t n = strlen(name);

	return f->len == n && memcmp(f->str, name, n) == 0;
}

static int
field_has_prefix(const redisReply *f, const char *p)
{
	size_t n = strlen(p);

	return f->len > n && memcmp(f->str, p, n) == 0;
}

/* The sign counter "wc:<id>" of the credential field f ("wa:<id>") in the
 * HGETALL reply h. */
static int
state_sign_count(const redisReply *h, const redisReply *f, uint32_t *count)
{
	const redisReply *cf;
	long long x;
	size_t j;

	for (j = 0; j < h->elements; j += 2) {
		cf = h->element[j];
		if (cf->len == f->len && memcmp(cf->str, "wc:", 3) == 0 &&
		    memcmp(cf->str + 3, f->str + 3, f->len - 3) == 0)
			break;
	}
	if (j >= h->elements ||
	    mfa_parse_num(h->element[j + 1]->str, h->element[j + 1]->len, &x) != KH_OK || x < 0 ||
	    x > 0xffffffffLL)
		return KH_ERR_INVALID;
	*count = (uint32_t)x;
	return KH_OK;
}

/* The credentials (nwa "wa:" fields) of the HGETALL reply h into m. */
static int
state_webauthn(const struct mfa_keys *k, const redisReply *h, size_t nwa, struct kh_mfa_state *m)
{
	const redisReply *f, *v;
	struct kh_mfa_webauthn *w;
	size_t i;

	if ((m->webauthn = calloc(nwa, sizeof(*m->webauthn))) == NULL)
		return KH_ERR_NOMEM;
	for (i = 0; i < h->elements; i += 2) {
		f = h->element[i];
		v = h->element[i + 1];
		if (!field_has_prefix(f, "wa:"))
			continue;
		if (!mfa_cred_id_ok(f->str + 3, f->len - 3, NULL) ||
		    v->len > KH_MFA_WEBAUTHN_DOC_MAX || v->len == 0 ||
		    memchr(v->str, '\0', v->len) != NULL) {
			mfa_corrupt("wa", k);
			return KH_ERR_UNAVAILABLE;
		}
		w = &m->webauthn[m->nwebauthn];
		if ((w->id = mfa_dup(f->str + 3, f->len - 3)) == NULL ||
		    (w->doc = mfa_dup(v->str, v->len)) == NULL) {
			m->nwebauthn++; /* freed with the rest */
			return KH_ERR_NOMEM;
		}
		m->nwebauthn++;
		if (state_sign_count(h, f, &w->sign_count) != KH_OK) {
			mfa_corrupt("wc", k);
			return KH_ERR_UNAVAILABLE;
		}
	}
	return KH_OK;
}

/* Fills m from the HGETALL reply h (already checked: strings, even count). */
static int
state_from_hash(const struct mfa_keys *k, const redisReply *h, int64_t now, struct kh_mfa_state *m)
{
	const redisReply *f, *v;
	long long x;
	size_t i, nwa = 0;
	int pending = 0, bypass = 0;
	int64_t pending_at = -1, bypass_exp = 0;

	for (i = 0; i < h->elements; i += 2) {
		f = h->element[i];
		v = h->element[i + 1];
		if (field_is(f, "totp"))
			m->totp_active = 1;
		else if (field_is(f, "totp_pending"))
			pending = 1;
		else if (field_is(f, "bypass"))
			bypass = 1;
		else if (field_has_prefix(f, "rc:"))
			m->recovery_left++;
		else if (field_has_prefix(f, "wa:"))
			nwa++;
		else if (field_is(f, "totp_at") || field_is(f, "totp_pending_at") ||
		    field_is(f, "bypass_exp")) {
			if (mfa_parse_num(v->str, v->len, &x) != KH_OK || x < 0) {
				mfa_corrupt("time", k);
				return KH_ERR_UNAVAILABLE;
			}
			if (field_is(f, "totp_at"))
				m->totp_enrolled_at = x;
			else if (field_is(f, "totp_pending_at"))
				pending_at = x;
			else
				bypass_exp = x;
		}
	}
	if (!m->totp_active)
		m->totp_enrolled_at = 0;
	m->totp_pending = pending && pending_at >= 0 && now - pending_at <= PENDING_MAX_AGE;
	m->bypass_active = bypass && bypass_exp > now;
	m->bypass_expires = m->bypass_active ? bypass_exp : 0;
	if (nwa > KH_MFA_WEBAUTHN_MAX || m->recovery_left > KH_MFA_RECOVERY_CODES) {
		mfa_corrupt(nwa > KH_MFA_WEBAUTHN_MAX ? "wa" : "rc", k);
		return KH_ERR_TOO_LARGE;
	}
	return nwa == 0 ? KH_OK : state_webauthn(k, h, nwa, m);
}

/* state_script or reset_script over every key of the user (KEYS mfa,
 * mff, mfl, rdu; ARGV prefix "rd:", U(uid)), retried once: the first
 * reads and prunes only what is already gone, the second deletes (the
 * counts of a retry may be low). *rep is an array of 4 on KH_OK, anything
 * else is logged as what and KH_ERR_UNAVAILABLE. */
static int
user_script(struct kh_store *st, const struct mfa_keys *k, const char *script, const char *what,
    redisReply **rep)
{
	int r;

	if ((r = mfa_command(st, MFA_RETRY, rep, "EVAL %s 4 %b %b %b %b %s %s", script, k->mfa,
		 k->mfa_len, k->mff, k->mff_len, k->mfl, k->mfl_len, k->rdu, k->rdu_len, k->rdpfx,
		 k->uh)) != KH_OK)
		return r;
	if ((*rep)->type != REDIS_REPLY_ARRAY || (*rep)->elements != 4) {
		kh_reply_unexpected(what, *rep);
		kh_replies_free(rep, 1);
		return KH_ERR_UNAVAILABLE;
	}
	return KH_OK;
}

int
kh_mfa_state_get(struct kh_store *st, const char *uid, struct kh_mfa_state **out)
{
	struct mfa_keys k;
	struct kh_mfa_state *m = NULL;
	redisReply *rep = NULL;
	const redisReply *h, *f, *l, *d;
	size_t i;
	int r;

	if (out != NULL)
		*out = NULL;
	if (st == NULL || out == NULL)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	/* Reads, and prunes only what is already gone: retried once. */
	if ((r = user_script(st, &k, state_script, "EVAL mfa_state", &rep)) != KH_OK)
		goto out;
	r = KH_ERR_UNAVAILABLE;
	if ((h = rep->element[0])->type != REDIS_REPLY_ARRAY ||
	    (f = rep->element[1])->type != REDIS_REPLY_STRING ||
	    (l = rep->element[2])->type != REDIS_REPLY_INTEGER ||
	    (d = rep->element[3])->type != REDIS_REPLY_INTEGER || h->elements % 2 != 0) {
		kh_reply_unexpected("EVAL mfa_state", rep);
		goto out;
	}
	if (h->elements > 2 * MFA_FIELDS_MAX) {
		mfa_corrupt("fields", &k);
		r = KH_ERR_TOO_LARGE;
		goto out;
	}
	for (i = 0; i < h->elements; i++) {
		if (h->element[i]->type != REDIS_REPLY_STRING ||
		    h->element[i]->len >
			(i % 2 == 0 ? 3 + KH_MFA_CRED_ID_MAX : KH_MFA_WEBAUTHN_DOC_MAX)) {
			mfa_corrupt("size", &k);
			r = KH_ERR_TOO_LARGE;
			goto out;
		}
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	if ((r = state_from_hash(&k, h, kh_time(), m)) != KH_OK)
		goto out;
	if (mfa_failures(f, &m->failures) != KH_OK) {
		mfa_corrupt("failures", &k);
		r = KH_ERR_UNAVAILABLE;
		goto out;
	}
	m->locked_for = mfa_lock_left(l->integer);
	m->remembered_devices = d->integer > 0 ? (size_t)d->integer : 0;
	kh_store_mark_up(st);
	*out = m;
	m = NULL; /* transferred */
	r = KH_OK;
out:
	kh_mfa_state_free(m);
	kh_replies_free(&rep, 1);
	explicit_bzero(&k, sizeof(k));
	return r;
}

/* ---- reset ---- */

int
kh_mfa_reset(struct kh_store *st, const char *uid, struct kh_mfa_reset_counts *counts)
{
	struct mfa_keys k;
	redisReply *rep = NULL;
	size_t i;
	int r;

	if (counts != NULL)
		memset(counts, 0, sizeof(*counts));
	if (st == NULL || counts == NULL)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	/* Deleting is idempotent: retried once (the counts may then be low). */
	if ((r = user_script(st, &k, reset_script, "EVAL mfa_reset", &rep)) != KH_OK)
		goto out;
	r = KH_ERR_UNAVAILABLE;
	for (i = 0; i < 4; i++) {
		if (rep->element[i]->type != REDIS_REPLY_INTEGER || rep->element[i]->integer < 0 ||
		    rep->element[i]->integer > 0x7fffffffLL) {
			kh_reply_unexpected("EVAL mfa_reset", rep->element[i]);
			goto out;
		}
	}
	counts->totp = rep->element[0]->integer > 0;
	counts->recovery = (long)rep->element[1]->integer;
	counts->webauthn = (long)rep->element[2]->integer;
	counts->devices = (long)rep->element[3]->integer;
	kh_store_mark_up(st);
	r = KH_OK;
out:
	kh_replies_free(&rep, 1);
	explicit_bzero(&k, sizeof(k));
	return r;
}
