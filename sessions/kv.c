/* Short-lived protocol state: prefix ‖ tag ‖ id → opaque bytes with a TTL.
 *
 *   prefix tag id            string value, TTL always set
 *
 * The caller chooses the id; secret ids (codes, tokens) are first turned into
 * hex(HMAC-SHA-256(server secret, "kv" ‖ purpose ‖ secret)) with
 * kh_kv_secret_id() (length-prefixed parts), so Redis never holds a usable
 * code or token. Read-only and idempotent commands are retried once on a
 * fresh connection after a peer close; SET NX, GETDEL and INCR are not (a
 * retry could report a replay that never happened, or count twice). */
#include "sessions/kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "sessions/sessions.h"
#include "sessions/store.h"

#define KV_TAG_MAX 16
#define KV_KEY_MAX (KH_STORE_PREFIX_MAX + KV_TAG_MAX + KH_KV_ID_MAX)
#define KV_TTL_MAX (400L * 24 * 3600) /* no protocol state lives longer */

static int
kv_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '_' || c == ':' || c == '-';
}

/* Checks a tag or an id: 1..max characters of [A-Za-z0-9._:-]. Reads at most
 * max + 1 bytes. */
static int
kv_word_ok(const char *s, size_t max, size_t *lenp)
{
	size_t i;

	*lenp = 0;
	if (s == NULL)
		return 0;
	for (i = 0; i <= max && s[i] != '\0'; i++)
		if (!kv_char_ok(s[i]))
			return 0;
	if (i == 0 || i > max)
		return 0;
	*lenp = i;
	return 1;
}

/* prefix ‖ tag ‖ id into out[KV_KEY_MAX + 1]. */
static int
kv_key(const struct kh_store *st, const char *tag, const char *id, char *out, size_t *outlen)
{
	size_t plen = strlen(st->prefix), tlen, ilen;

	*outlen = 0;
	out[0] = '\0';
	if (!kv_word_ok(tag, KV_TAG_MAX, &tlen) || !kv_word_ok(id, KH_KV_ID_MAX, &ilen))
		return KH_ERR_INVALID;
	if (plen + tlen + ilen > KV_KEY_MAX)
		return KH_ERR_INTERNAL;
	memcpy(out, st->prefix, plen);
	memcpy(out + plen, tag, tlen);
	memcpy(out + plen + tlen, id, ilen);
	out[plen + tlen + ilen] = '\0';
	*outlen = plen + tlen + ilen;
	return KH_OK;
}

static int
ttl_ok(long ttl)
{
	return ttl >= 1 && ttl <= KV_TTL_MAX;
}

int
kh_kv_put(struct kh_store *st, const char *tag, const char *id, const void *val, size_t len,
    long ttl, int nx)
{
	char key[KV_KEY_MAX + 1], ttl_s[24];
	size_t keylen = 0;
	redisContext *c;
	redisReply *rep = NULL;
	int attempt, r;

	if (st == NULL || (val == NULL && len > 0) || !ttl_ok(ttl))
		return KH_ERR_INVALID;
	if (len > KH_KV_VALUE_MAX)
		return KH_ERR_TOO_LARGE;
	if ((r = kv_key(st, tag, id, key, &keylen)) != KH_OK)
		return r;
	snprintf(ttl_s, sizeof(ttl_s), "%ld", ttl);
	/* A plain SET is idempotent and retried once; SET NX is not (the first
	 * try may have landed, and the retry would then see a "replay"). */
	for (attempt = 0; attempt < (nx ? 1 : 2); attempt++) {
		if ((r = kh_conn_get(st, &c)) != KH_OK)
			goto out;
		if ((nx ? redisAppendCommand(c, "SET %b %b EX %s NX", key, keylen,
			      val != NULL ? val : "", len, ttl_s)
			: redisAppendCommand(c, "SET %b %b EX %s", key, keylen,
			      val != NULL ? val : "", len, ttl_s)) != REDIS_OK) {
			kh_conn_drop(st);
			r = KH_ERR_UNAVAILABLE;
			continue;
		}
		if ((r = kh_conn_replies(st, c, &rep, 1)) == KH_OK || !kh_conn_retryable(st))
			break;
	}
	if (r != KH_OK)
		goto out;
	if (nx && rep->type == REDIS_REPLY_NIL) {
		kh_store_mark_up(st);
		r = KH_ERR_EXISTS;
		goto out;
	}
	if (rep->type != REDIS_REPLY_STATUS || rep->len != 2 || memcmp(rep->str, "OK", 2) != 0) {
		kh_reply_unexpected("SET", rep);
		r = KH_ERR_UNAVAILABLE;
		goto out;
	}
	kh_store_mark_up(st);
	r = KH_OK;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	explicit_bzero(key, sizeof(key));
	return r;
}

/* GET or GETDEL; retried only when the command is idempotent. */
static int
kv_read(struct kh_store *st, const char *cmd, int retry, const char *tag, const char *id,
    char **val, size_t *len)
{
	char key[KV_KEY_MAX + 1];
	size_t keylen = 0;
	redisContext *c;
	redisReply *rep = NULL;
	char *v = NULL;
	int attempt, r;

	if (val != NULL)
		*val = NULL;
	if (len != NULL)
		*len = 0;
	if (st == NULL || val == NULL || len == NULL)
		return KH_ERR_INVALID;
	if ((r = kv_key(st, tag, id, key, &keylen)) != KH_OK)
		return r;
	for (attempt = 0; attempt < (retry ? 2 : 1); attempt++) {
		if ((r = kh_conn_get(st, &c)) != KH_OK)
			goto out;
		if (redisAppendCommand(c, "%s %b", cmd, key, keylen) != REDIS_OK) {
			kh_conn_drop(st);
			r = KH_ERR_UNAVAILABLE;
			continue;
		}
		if ((r = kh_conn_replies(st, c, &rep, 1)) == KH_OK || !kh_conn_retryable(st))
			break;
	}
	if (r != KH_OK)
		goto out;
	if (rep->type == REDIS_REPLY_NIL) {
		kh_store_mark_up(st);
		r = KH_ERR_NOT_FOUND;
		goto out;
	}
	if (rep->type != REDIS_REPLY_STRING) {
		kh_reply_unexpected(cmd, rep);
		r = KH_ERR_UNAVAILABLE;
		goto out;
	}
	if (rep->len > KH_KV_VALUE_MAX) {
		kh_reply_unexpected(cmd, rep);
		r = KH_ERR_TOO_LARGE;
		goto out;
	}
	if ((v = malloc(rep->len + 1)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	memcpy(v, rep->str, rep->len);
	v[rep->len] = '\0';
	*val = v;
	*len = rep->len;
	v = NULL; /* transferred */
	kh_store_mark_up(st);
	r = KH_OK;
out:
	if (rep != NULL) {
		if (rep->type == REDIS_REPLY_STRING && rep->str != NULL)
			explicit_bzero(rep->str, rep->len);
		freeReplyObject(rep);
	}
	explicit_bzero(key, sizeof(key));
	return r;
}

int
kh_kv_get(struct kh_store *st, const char *tag, const char *id, char **val, size_t *len)
{
	return kv_read(st, "GET", 1, tag, id, val, len);
}

int
kh_kv_take(struct kh_store *st, const char *tag, const char *id, char **val, size_t *len)
{
	/* GETDEL (Redis >= 6.2) is never retried: a lost reply means the
	 * value is gone, and the caller must treat it as used. */
	return kv_read(st, "GETDEL", 0, tag, id, val, len);
}

int
kh_kv_del(struct kh_store *st, const char *tag, const char *id)
{
	char key[KV_KEY_MAX + 1];
	size_t keylen = 0;
	long long n = 0;
	int r;

	if (st == NULL)
		return KH_ERR_INVALID;
	if ((r = kv_key(st, tag, id, key, &keylen)) != KH_OK)
		return r;
	r = kh_conn_command_int(st, 1, "DEL", &n, "DEL %b", key, keylen);
	if (r == KH_OK)
		r = n > 0 ? KH_OK : KH_ERR_NOT_FOUND;
	explicit_bzero(key, sizeof(key));
	return r;
}

/* KEYS[1] counter; ARGV[1] ttl. Counts and gives a counter without a TTL
 * (a new one, or one left without) its TTL. Atomic, one round trip. */
static const char incr_script[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
    "return n\n";

int
kh_kv_incr(struct kh_store *st, const char *tag, const char *id, long ttl, long *out)
{
	char key[KV_KEY_MAX + 1], ttl_s[24];
	size_t keylen = 0;
	redisContext *c;
	redisReply *rep = NULL;
	int r;

	if (out != NULL)
		*out = 0;
	if (st == NULL || out == NULL || !ttl_ok(ttl))
		return KH_ERR_INVALID;
	if ((r = kv_key(st, tag, id, key, &keylen)) != KH_OK)
		return r;
	snprintf(ttl_s, sizeof(ttl_s), "%ld", ttl);
	/* Not idempotent (it counts): never retried. */
	if ((r = kh_conn_get(st, &c)) != KH_OK)
		goto out;
	if (redisAppendCommand(c, "EVAL %s 1 %b %s", incr_script, key, keylen, ttl_s) != REDIS_OK) {
		kh_conn_drop(st);
		r = KH_ERR_UNAVAILABLE;
		goto out;
	}
	if ((r = kh_conn_replies(st, c, &rep, 1)) != KH_OK)
		goto out;
	if (rep->type == REDIS_REPLY_ERROR) {
		/* ERR value is not an integer: the key holds something else. */
		kh_reply_unexpected("EVAL incr", rep);
		r = KH_ERR_INVALID;
		goto out;
	}
	if (rep->type != REDIS_REPLY_INTEGER || rep->integer < 1) {
		kh_reply_unexpected("EVAL incr", rep);
		r = KH_ERR_UNAVAILABLE;
		goto out;
	}
	*out = rep->integer > 0x7fffffffL ? 0x7fffffffL : (long)rep->integer;
	kh_store_mark_up(st);
	r = KH_OK;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	explicit_bzero(key, sizeof(key));
	return r;
}

int
kh_kv_secret_id(struct kh_store *st, const char *purpose, const char *secret, char out[65])
{
	unsigned char mac[KH_HMAC_LEN];
	const void *parts[3];
	size_t lens[3];
	int r;

	if (out != NULL)
		out[0] = '\0';
	if (st == NULL || purpose == NULL || secret == NULL || out == NULL || purpose[0] == '\0')
		return KH_ERR_INVALID;
	if ((lens[2] = strlen(secret)) > KH_KV_VALUE_MAX)
		return KH_ERR_TOO_LARGE;
	parts[0] = "kv";
	lens[0] = 2;
	parts[1] = purpose;
	lens[1] = strlen(purpose);
	parts[2] = secret;
	if ((r = kh_hmac_sha256_parts(st->key, st->keylen, parts, lens, 3, mac)) != KH_OK)
		goto out;
	kh_hex_encode(mac, sizeof(mac), out);
	r = KH_OK;
out:
	explicit_bzero(mac, sizeof(mac));
	return r;
}
