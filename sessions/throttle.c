/* Login throttling per user name and per client address.
 *
 *   prefix "t:u:" H          failure counter of a user name, TTL = failure_window
 *   prefix "t:u:" H ":lock"  present while the user name is locked, TTL = lock_duration
 *   prefix "t:i:" H ...      the same for a client address
 *
 * H = hex(HMAC-SHA-256(server secret, "throttle" ‖ kind ‖ value)) with
 * length-prefixed parts, so no user name or address is ever stored. The
 * window starts with the first failure and is not extended by later ones. */
#include "sessions/sessions.h"

#include <stdio.h>
#include <string.h>

#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "sessions/store.h"

#define LOCK_SUFFIX ":lock"

/* KEYS[1] counter, KEYS[2] lock; ARGV window, max, lock seconds. The
 * login throttle's and MFA's (kh_throttle_count): counts the failure, gives
 * a counter without TTL its window (the first failure, or a counter left
 * without one), locks at max (a lock left without TTL is repaired).
 * Returns {failures, seconds locked}. Atomic, one round trip. */
static const char fail_script[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
    "local lock = redis.call('TTL', KEYS[2])\n"
    "if lock == -1 then\n"
    "  redis.call('EXPIRE', KEYS[2], ARGV[3])\n"
    "  lock = tonumber(ARGV[3])\n"
    "elseif lock < 0 and n >= tonumber(ARGV[2]) then\n"
    "  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])\n"
    "  lock = tonumber(ARGV[3])\n"
    "end\n"
    "if lock < 0 then lock = 0 end\n"
    "return {n, lock}\n";

struct throttle_keys {
	char counter[KH_STORE_KEY_MAX + 1];
	char lock[KH_STORE_KEY_MAX + 1];
	size_t counter_len, lock_len;
};

static int
throttle_keys(const struct kh_store *st, enum kh_throttle_kind kind, const char *value,
    struct throttle_keys *k)
{
	unsigned char mac[KH_HMAC_LEN];
	const char *kname = kind == KH_THROTTLE_USER ? "u" : "i";
	const void *parts[3];
	size_t lens[3], vlen;
	int r;

	memset(k, 0, sizeof(*k));
	if (value == NULL || (kind != KH_THROTTLE_USER && kind != KH_THROTTLE_IP))
		return KH_ERR_INVALID;
	if ((vlen = strlen(value)) > KH_THROTTLE_KEY_MAX)
		return KH_ERR_TOO_LARGE;
	parts[0] = "throttle";
	lens[0] = strlen("throttle");
	parts[1] = kname;
	lens[1] = 1;
	parts[2] = value;
	lens[2] = vlen;
	if ((r = kh_hmac_sha256_parts(st->key, st->keylen, parts, lens, 3, mac)) != KH_OK)
		goto out;
	if ((r = kh_store_key_from_mac(st, kind == KH_THROTTLE_USER ? "t:u:" : "t:i:", mac,
		 k->counter, &k->counter_len)) != KH_OK)
		goto out;
	if (k->counter_len + strlen(LOCK_SUFFIX) > KH_STORE_KEY_MAX) {
		r = KH_ERR_INTERNAL;
		goto out;
	}
	memcpy(k->lock, k->counter, k->counter_len);
	memcpy(k->lock + k->counter_len, LOCK_SUFFIX, strlen(LOCK_SUFFIX) + 1);
	k->lock_len = k->counter_len + strlen(LOCK_SUFFIX);
	r = KH_OK;
out:
	explicit_bzero(mac, sizeof(mac));
	return r;
}

/* TTL reply of the lock key as seconds locked. */
static int
lock_ttl(const struct kh_store *st, const redisReply *rep, long *locked_for)
{
	if (rep->type != REDIS_REPLY_INTEGER) {
		kh_reply_unexpected("TTL", rep);
		return KH_ERR_UNAVAILABLE;
	}
	if (rep->integer == -1)
		*locked_for = st->lock_duration; /* no TTL: repaired by the next failure */
	else if (rep->integer > 0)
		*locked_for =
		    rep->integer > st->lock_duration ? st->lock_duration : (long)rep->integer;
	else
		*locked_for = 0;
	return KH_OK;
}

int
kh_throttle_check(struct kh_store *st, enum kh_throttle_kind kind, const char *key, long *failures,
    long *locked_for)
{
	struct throttle_keys k;
	redisContext *c;
	redisReply *rep[2] = { NULL, NULL };
	long n = 0;
	size_t i;
	int attempt, r;

	if (failures != NULL)
		*failures = 0;
	if (locked_for != NULL)
		*locked_for = 0;
	if (st == NULL || failures == NULL || locked_for == NULL)
		return KH_ERR_INVALID;
	if ((r = throttle_keys(st, kind, key, &k)) != KH_OK)
		return r;
	/* Read-only: retried once on a fresh connection. */
	for (attempt = 0; attempt < 2; attempt++) {
		if ((r = kh_conn_get(st, &c)) != KH_OK)
			goto out;
		if (redisAppendCommand(c, "GET %b", k.counter, k.counter_len) != REDIS_OK ||
		    redisAppendCommand(c, "TTL %b", k.lock, k.lock_len) != REDIS_OK) {
			kh_conn_drop(st);
			r = KH_ERR_UNAVAILABLE;
			continue;
		}
		if ((r = kh_conn_replies(st, c, rep, 2)) == KH_OK || !kh_conn_retryable(st))
			break;
	}
	if (r != KH_OK)
		goto out;
	r = KH_ERR_UNAVAILABLE;
	if (rep[0]->type == REDIS_REPLY_STRING) {
		if (rep[0]->len == 0 || rep[0]->len > 18) {
			kh_reply_unexpected("GET", rep[0]);
			goto out;
		}
		for (i = 0; i < rep[0]->len; i++) {
			if (rep[0]->str[i] < '0' || rep[0]->str[i] > '9') {
				kh_reply_unexpected("GET", rep[0]);
				goto out;
			}
			n = n * 10 + (rep[0]->str[i] - '0');
		}
	} else if (rep[0]->type != REDIS_REPLY_NIL) {
		kh_reply_unexpected("GET", rep[0]);
		goto out;
	}
	if ((r = lock_ttl(st, rep[1], locked_for)) != KH_OK)
		goto out;
	*failures = n;
	kh_store_mark_up(st);
	r = KH_OK;
out:
	kh_replies_free(rep, 2);
	explicit_bzero(&k, sizeof(k));
	return r;
}

int
kh_throttle_fail(struct kh_store *st, enum kh_throttle_kind kind, const char *key, long *failures,
    long *locked_for)
{
	struct throttle_keys k;
	int r;

	if (failures != NULL)
		*failures = 0;
	if (locked_for != NULL)
		*locked_for = 0;
	if (st == NULL || failures == NULL || locked_for == NULL)
		return KH_ERR_INVALID;
	if ((r = throttle_keys(st, kind, key, &k)) != KH_OK)
		return r;
	r = kh_throttle_count(st, "EVAL throttle", k.counter, k.counter_len, k.lock, k.lock_len,
	    st->failure_window,
	    kind == KH_THROTTLE_USER ? st->user_max_failures : st->ip_max_failures,
	    st->lock_duration, failures, locked_for);
	explicit_bzero(&k, sizeof(k));
	return r;
}

int
kh_throttle_reset(struct kh_store *st, enum kh_throttle_kind kind, const char *key)
{
	struct throttle_keys k;
	long long n = 0;
	int r;

	if (st == NULL)
		return KH_ERR_INVALID;
	if ((r = throttle_keys(st, kind, key, &k)) != KH_OK)
		return r;
	/* DEL is idempotent: retried once on a fresh connection. */
	r = kh_conn_command_int(
	    st, 1, "DEL", &n, "DEL %b %b", k.counter, k.counter_len, k.lock, k.lock_len);
	explicit_bzero(&k, sizeof(k));
	return r;
}

int
kh_throttle_count(struct kh_store *st, const char *what, const char *counter, size_t counter_len,
    const char *lock, size_t lock_len, long window, long max_failures, long lock_seconds,
    long *failures, long *locked_for)
{
	redisContext *c;
	redisReply *rep = NULL;
	char win[24], max[24], dur[24];
	int r;

	*failures = 0;
	*locked_for = 0;
	snprintf(win, sizeof(win), "%ld", window);
	snprintf(max, sizeof(max), "%ld", max_failures);
	snprintf(dur, sizeof(dur), "%ld", lock_seconds);
	/* Not idempotent (it counts): never retried. */
	if ((r = kh_conn_get(st, &c)) != KH_OK)
		goto out;
	if (redisAppendCommand(c, "EVAL %s 2 %b %b %s %s %s", fail_script, counter, counter_len,
		lock, lock_len, win, max, dur) != REDIS_OK) {
		kh_conn_drop(st);
		r = KH_ERR_UNAVAILABLE;
		goto out;
	}
	if ((r = kh_conn_replies(st, c, &rep, 1)) != KH_OK)
		goto out;
	r = KH_ERR_UNAVAILABLE;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER || rep->element[0]->integer < 1 ||
	    rep->element[1]->integer < 0) {
		kh_reply_unexpected(what, rep);
		goto out;
	}
	*failures =
	    rep->element[0]->integer > 0x7fffffff ? 0x7fffffff : (long)rep->element[0]->integer;
	*locked_for =
	    rep->element[1]->integer > lock_seconds ? lock_seconds : (long)rep->element[1]->integer;
	kh_store_mark_up(st);
	r = KH_OK;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	return r;
}
