/* Recovery codes and the helpdesk's one-time bypass code. Both are 80-bit
 * random codes shown as xxxx-xxxx-xxxx-xxxx (Crockford base32) and kept
 * only as hex(HMAC(S, purpose ‖ canonical code)): 80 bits need no slow KDF,
 * and the comparison never touches the code itself. Using a code is decided
 * by Redis (one HDEL, one script), never retried. */
#include "sessions/mfa.h"

#include <stdio.h>
#include <string.h>

#include "common/crypto.h"
#include "common/errors.h"
#include "common/str.h"
#include "sessions/mfa_int.h"
#include "sessions/store.h"

#define CODE_RAW 10 /* bytes: 80 bits, 16 symbols of Crockford base32 */
#define CODE_SYMBOLS 16
#define CODE_INPUT_MAX 64 /* characters of a typed code read at most */
#define RC_FIELD_LEN (3 + 2 * KH_HMAC_LEN) /* "rc:" hex */
#define PURPOSE_RECOVERY "mfa-recovery"
#define PURPOSE_BYPASS "mfa-bypass"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* KEYS[1] mfa; ARGV[1] the new "rc:<hex>" field names, space-separated.
 * Replaces every recovery code at once. */
static const char rc_generate_script[] =
    "for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
    "  if string.sub(f, 1, 3) == 'rc:' then redis.call('HDEL', KEYS[1], f) end\n"
    "end\n"
    "local n = 0\n"
    "for f in string.gmatch(ARGV[1], '%S+') do\n"
    "  redis.call('HSET', KEYS[1], f, '1')\n"
    "  n = n + 1\n"
    "end\n"
    "return n\n";

/* KEYS[1] mfa; ARGV[1] HMAC of the code offered, ARGV[2] now. An expired
 * code is removed; a matching live one is removed and accepted. 1 or 0. */
static const char bypass_use_script[] =
    "local v = redis.call('HMGET', KEYS[1], 'bypass', 'bypass_exp')\n"
    "if not v[1] then return 0 end\n"
    "local exp = tonumber(v[2] or '')\n"
    "if exp == nil or exp <= tonumber(ARGV[2]) then\n"
    "  redis.call('HDEL', KEYS[1], 'bypass', 'bypass_exp')\n"
    "  return 0\n"
    "end\n"
    "if v[1] ~= ARGV[1] then return 0 end\n"
    "redis.call('HDEL', KEYS[1], 'bypass', 'bypass_exp')\n"
    "return 1\n";

/* ---- codes: Crockford base32, xxxx-xxxx-xxxx-xxxx ---- */

static int
code_new(char out[KH_MFA_CODE_LEN + 1])
{
	unsigned char raw[CODE_RAW];
	unsigned int acc = 0, bits = 0;
	size_t i, o = 0, sym = 0;
	int r;

	if ((r = kh_random(raw, sizeof(raw))) != KH_OK)
		goto out;
	for (i = 0; i < sizeof(raw); i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			if (sym > 0 && sym % 4 == 0)
				out[o++] = '-';
			out[o++] = crockford[(acc >> bits) & 31];
			sym++;
		}
	}
	out[o] = '\0';
	r = o == KH_MFA_CODE_LEN && sym == CODE_SYMBOLS ? KH_OK : KH_ERR_INTERNAL;
out:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(&acc, sizeof(acc));
	return r;
}

/* The 16 canonical symbols of a typed code: case-insensitive, '-' and ' '
 * ignored, O read as 0, I and L as 1. Anything else, or another number of
 * symbols, is KH_ERR_INVALID. Reads at most CODE_INPUT_MAX + 1 bytes. */
static int
code_norm(const char *in, char out[CODE_SYMBOLS + 1])
{
	size_t i, n = 0;
	char c;

	out[0] = '\0';
	if (in == NULL)
		return KH_ERR_INVALID;
	for (i = 0; in[i] != '\0'; i++) {
		if (i >= CODE_INPUT_MAX)
			return KH_ERR_INVALID;
		c = in[i];
		if (c == '-' || c == ' ')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c == 'O')
			c = '0';
		else if (c == 'I' || c == 'L')
			c = '1';
		if (c == '\0' || strchr(crockford, c) == NULL || n >= CODE_SYMBOLS)
			return KH_ERR_INVALID;
		out[n++] = c;
	}
	out[n] = '\0';
	return n == CODE_SYMBOLS ? KH_OK : KH_ERR_INVALID;
}

/* hex(HMAC(S, purpose ‖ canonical code)) of a typed or generated code. */
static int
code_mac(
    const struct kh_store *st, const char *purpose, const char *code, char hex[2 * KH_HMAC_LEN + 1])
{
	unsigned char mac[KH_HMAC_LEN];
	char norm[CODE_SYMBOLS + 1];
	const void *parts[2];
	size_t lens[2];
	int r;

	hex[0] = '\0';
	if ((r = code_norm(code, norm)) != KH_OK)
		goto out;
	parts[0] = purpose;
	lens[0] = strlen(purpose);
	parts[1] = norm;
	lens[1] = CODE_SYMBOLS;
	if ((r = kh_hmac_sha256_parts(st->key, st->keylen, parts, lens, 2, mac)) != KH_OK)
		goto out;
	kh_hex_encode(mac, sizeof(mac), hex);
out:
	explicit_bzero(mac, sizeof(mac));
	explicit_bzero(norm, sizeof(norm));
	return r;
}

/* ---- recovery codes ---- */

/* KH_MFA_RECOVERY_CODES distinct new codes, and their field names
 * "rc:<hex> ..." (space-separated) in fields. */
static int
recovery_new(const struct kh_store *st, char codes[][KH_MFA_CODE_LEN + 1], char *fields)
{
	char hex[2 * KH_HMAC_LEN + 1];
	size_t i, j, o = 0;
	int r = KH_OK;

	for (i = 0; i < KH_MFA_RECOVERY_CODES; i++) {
		if ((r = code_new(codes[i])) != KH_OK)
			goto out;
		for (j = 0; j < i; j++)
			if (kh_ct_streq(codes[i], codes[j]))
				break;
		if (j < i) {
			i--; /* 2^-80: draw again rather than store nine */
			continue;
		}
		if ((r = code_mac(st, PURPOSE_RECOVERY, codes[i], hex)) != KH_OK)
			goto out;
		memcpy(fields + o, "rc:", 3);
		memcpy(fields + o + 3, hex, 2 * KH_HMAC_LEN);
		o += RC_FIELD_LEN;
		fields[o++] = ' ';
	}
	fields[o] = '\0';
out:
	explicit_bzero(hex, sizeof(hex));
	return r;
}

int
kh_mfa_recovery_generate(struct kh_store *st, const char *uid, char codes[][KH_MFA_CODE_LEN + 1])
{
	struct mfa_keys k;
	char fields[KH_MFA_RECOVERY_CODES * (RC_FIELD_LEN + 1) + 1];
	redisReply *rep = NULL;
	int r;

	if (codes != NULL)
		explicit_bzero(codes, KH_MFA_RECOVERY_CODES * sizeof(codes[0]));
	if (st == NULL || codes == NULL)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	if ((r = recovery_new(st, codes, fields)) != KH_OK)
		goto out;
	/* Replaces the whole set with the same result every time: retried. */
	if ((r = mfa_command(st, MFA_RETRY, &rep, "EVAL %s 1 %b %s", rc_generate_script, k.mfa,
		 k.mfa_len, fields)) != KH_OK)
		goto out;
	if (rep->type != REDIS_REPLY_INTEGER || rep->integer != KH_MFA_RECOVERY_CODES) {
		kh_reply_unexpected("EVAL mfa_rc_generate", rep);
		r = KH_ERR_UNAVAILABLE;
		goto out;
	}
	kh_store_mark_up(st);
	r = KH_OK;
out:
	if (r != KH_OK)
		explicit_bzero(codes, KH_MFA_RECOVERY_CODES * sizeof(codes[0]));
	kh_replies_free(&rep, 1);
	explicit_bzero(fields, sizeof(fields));
	explicit_bzero(&k, sizeof(k));
	return r;
}

/* Uses a typed code: KH_OK when Redis removed it now, else KH_ERR_INVALID
 * (a malformed code without a round trip). Never retried: a retry after a
 * landed first try would call a good code wrong. A recovery code is one
 * HDEL of its field, the bypass code one script (an expired code is
 * removed, a live matching one removed and accepted). */
static int
code_use(struct kh_store *st, const char *uid, const char *code, int bypass)
{
	struct mfa_keys k;
	char hex[2 * KH_HMAC_LEN + 1], now_s[24];
	long long x;
	int r;

	if (st == NULL || code == NULL)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	if ((r = code_mac(st, bypass ? PURPOSE_BYPASS : PURPOSE_RECOVERY, code, hex)) != KH_OK)
		goto out; /* malformed: no round trip */
	if (bypass) {
		snprintf(now_s, sizeof(now_s), "%lld", (long long)kh_time());
		r = kh_conn_command_int(st, MFA_ONCE, "EVAL mfa_bypass", &x, "EVAL %s 1 %b %s %s",
		    bypass_use_script, k.mfa, k.mfa_len, hex, now_s);
	} else {
		/* HDEL decides single use: of two racing requests one gets 1. */
		r = kh_conn_command_int(
		    st, MFA_ONCE, "HDEL", &x, "HDEL %b rc:%s", k.mfa, k.mfa_len, hex);
	}
	if (r != KH_OK)
		goto out;
	r = x == 1 ? KH_OK : KH_ERR_INVALID;
out:
	explicit_bzero(hex, sizeof(hex));
	explicit_bzero(&k, sizeof(k));
	return r;
}

int
kh_mfa_recovery_use(struct kh_store *st, const char *uid, const char *code)
{
	return code_use(st, uid, code, 0);
}

/* ---- helpdesk ---- */

int
kh_mfa_bypass_issue(struct kh_store *st, const char *uid, long ttl, char code[KH_MFA_CODE_LEN + 1])
{
	struct mfa_keys k;
	char hex[2 * KH_HMAC_LEN + 1], exp_s[24];
	long long x;
	int r;

	if (code != NULL)
		explicit_bzero(code, KH_MFA_CODE_LEN + 1);
	if (st == NULL || code == NULL || ttl < 1 || ttl > MFA_TTL_MAX)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	if ((r = code_new(code)) != KH_OK || (r = code_mac(st, PURPOSE_BYPASS, code, hex)) != KH_OK)
		goto out;
	snprintf(exp_s, sizeof(exp_s), "%lld", (long long)(kh_time() + ttl));
	r = kh_conn_command_int(st, MFA_RETRY, "HSET", &x, "HSET %b bypass %s bypass_exp %s", k.mfa,
	    k.mfa_len, hex, exp_s);
out:
	if (r != KH_OK)
		explicit_bzero(code, KH_MFA_CODE_LEN + 1);
	explicit_bzero(hex, sizeof(hex));
	explicit_bzero(&k, sizeof(k));
	return r;
}

int
kh_mfa_bypass_use(struct kh_store *st, const char *uid, const char *code)
{
	return code_use(st, uid, code, 1);
}

int
kh_mfa_bypass_active(struct kh_store *st, const char *uid)
{
	struct mfa_keys k;
	redisReply *rep = NULL;
	const redisReply *code, *exp;
	long long until = 0;
	int r;

	if (st == NULL)
		return KH_ERR_INVALID;
	if ((r = mfa_keys(st, uid, &k)) != KH_OK)
		return r;
	r = mfa_hmget2(st, &rep, &code, &exp, "HMGET %b bypass bypass_exp", k.mfa, k.mfa_len);
	if (r == KH_OK) {
		r = code->type == REDIS_REPLY_STRING && exp->type == REDIS_REPLY_STRING &&
			mfa_parse_num(exp->str, exp->len, &until) == KH_OK && until > kh_time()
		    ? 1
		    : 0;
		kh_replies_free(&rep, 1);
	}
	explicit_bzero(&k, sizeof(k));
	return r;
}
