/* The audit trail in Redis (see audit.h).
 *
 *   prefix "audit"              stream of every audit event, MAXLEN ~ 100000
 *   prefix "audit:u:" H(uid)    stream of one user's events, MAXLEN ~ 1000
 *
 * Written by kh_audit_sink on the calling thread's connection, both XADDs in
 * one round trip. A failure drops the entry (the audit file keeps it), is
 * counted, and is logged once until the next success; after a failure no
 * attempt is made for AUDIT_BACKOFF_MS, so a hung Redis costs a caller at
 * most one timeout per second. */
#include "sessions/audit.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "sessions/sessions.h"
#include "sessions/store.h"

#define AUDIT_TAG "audit"
#define AUDIT_USER_TAG "audit:u:"
#define AUDIT_BACKOFF_MS 1000
/* "XADD" key "MAXLEN" "~" max "*" "ts" ts "event" event, then the pairs. */
#define AUDIT_ARGC_FIXED 10
#define AUDIT_ARGC_MAX (AUDIT_ARGC_FIXED + 2 * KH_AUDIT_SINK_PAIRS)

static atomic_ulong audit_dropped;
static atomic_int audit_down;
static atomic_llong audit_retry_ms;

unsigned long
kh_audit_dropped(void)
{
	return atomic_load(&audit_dropped);
}

static long long
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Length of s cut to KH_AUDIT_VALUE_MAX bytes at a UTF-8 boundary. */
static size_t
value_len(const char *s)
{
	size_t n = strlen(s);

	if (n <= KH_AUDIT_VALUE_MAX)
		return n;
	n = KH_AUDIT_VALUE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static void
audit_failed(const char *why)
{
	unsigned long n = atomic_fetch_add(&audit_dropped, 1) + 1;
	char cnt[24];

	atomic_store(&audit_retry_ms, now_ms() + AUDIT_BACKOFF_MS);
	if (atomic_exchange(&audit_down, 1) == 0) {
		snprintf(cnt, sizeof(cnt), "%lu", n);
		kh_warn("audit.redis", "error", why, "dropped", cnt, NULL);
	}
}

static void
audit_ok(void)
{
	char cnt[24];

	if (atomic_exchange(&audit_down, 0) == 1) {
		snprintf(cnt, sizeof(cnt), "%lu", atomic_load(&audit_dropped));
		kh_info("audit.redis", "result", "recovered", "dropped", cnt, NULL);
	}
}

/* Appends one XADD of the entry to key. */
static int
append_xadd(redisContext *c, const char *key, size_t keylen, const char *max, const char *ts,
    const char *event, const char *const *kv, size_t nkv)
{
	const char *argv[AUDIT_ARGC_MAX];
	size_t lens[AUDIT_ARGC_MAX], argc = 0, i;

	argv[argc] = "XADD";
	lens[argc++] = 4;
	argv[argc] = key;
	lens[argc++] = keylen;
	argv[argc] = "MAXLEN";
	lens[argc++] = 6;
	argv[argc] = "~";
	lens[argc++] = 1;
	argv[argc] = max;
	lens[argc++] = strlen(max);
	argv[argc] = "*";
	lens[argc++] = 1;
	argv[argc] = "ts";
	lens[argc++] = 2;
	argv[argc] = ts;
	lens[argc++] = strlen(ts);
	argv[argc] = "event";
	lens[argc++] = 5;
	argv[argc] = event;
	lens[argc++] = value_len(event);
	for (i = 0; i < 2 * nkv && argc < AUDIT_ARGC_MAX; i++) {
		argv[argc] = kv[i];
		lens[argc++] = value_len(kv[i]);
	}
	return redisAppendCommandArgv(c, (int)argc, argv, lens) == REDIS_OK ? KH_OK
									    : KH_ERR_UNAVAILABLE;
}

void
kh_audit_sink(void *store, const char *event, const char *const *kv, size_t nkv)
{
	struct kh_store *st = store;
	char key[KH_STORE_KEY_MAX + 1], ukey[KH_STORE_KEY_MAX + 1], ts[40], max[24], umax[24];
	const char *user = NULL;
	size_t keylen, ukeylen = 0, n = 0, i;
	redisContext *c;
	redisReply *rep[2] = { NULL, NULL };
	struct timeval tv;
	struct tm tm;

	if (st == NULL || event == NULL || (nkv > 0 && kv == NULL))
		return;
	if (nkv > KH_AUDIT_SINK_PAIRS)
		nkv = KH_AUDIT_SINK_PAIRS;
	if (atomic_load(&audit_down) && now_ms() < atomic_load(&audit_retry_ms)) {
		atomic_fetch_add(&audit_dropped, 1);
		return;
	}
	for (i = 0; i < nkv; i++) {
		if (strcmp(kv[2 * i], "user") == 0 && strcmp(kv[2 * i + 1], "-") != 0) {
			user = kv[2 * i + 1];
			break;
		}
	}
	keylen = strlen(st->prefix) + strlen(AUDIT_TAG);
	snprintf(key, sizeof(key), "%s%s", st->prefix, AUDIT_TAG);
	if (user != NULL && kh_store_user_key(st, AUDIT_USER_TAG, user, ukey, &ukeylen) != KH_OK)
		user = NULL; /* an over-long name: the main stream only */
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03ldZ", (long)(tv.tv_usec / 1000));
	snprintf(max, sizeof(max), "%d", KH_AUDIT_STREAM_MAX);
	snprintf(umax, sizeof(umax), "%d", KH_AUDIT_USER_STREAM_MAX);

	if (kh_conn_get(st, &c) != KH_OK) {
		audit_failed("unavailable");
		return;
	}
	if (append_xadd(c, key, keylen, max, ts, event, kv, nkv) != KH_OK)
		goto drop;
	n++;
	if (user != NULL) {
		if (append_xadd(c, ukey, ukeylen, umax, ts, event, kv, nkv) != KH_OK)
			goto drop;
		n++;
	}
	if (kh_conn_replies(st, c, rep, n) != KH_OK) {
		audit_failed("unavailable");
		return;
	}
	for (i = 0; i < n; i++) {
		if (rep[i]->type != REDIS_REPLY_STRING) {
			kh_reply_unexpected("XADD", rep[i]);
			kh_replies_free(rep, 2);
			audit_failed("unexpected reply");
			return;
		}
	}
	kh_replies_free(rep, 2);
	kh_store_mark_up(st);
	audit_ok();
	return;
drop:
	/* A partly written pipeline leaves the connection out of step. */
	kh_conn_drop(st);
	audit_failed("out of memory");
}

static char *
dup_reply(const redisReply *v)
{
	char *s;

	if ((s = malloc(v->len + 1)) == NULL)
		return NULL;
	memcpy(s, v->str, v->len);
	s[v->len] = '\0';
	return s;
}

void
kh_audit_entries_free(struct kh_audit_entry *e, size_t n)
{
	size_t i, j;

	if (e == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(e[i].id);
		for (j = 0; e[i].kv != NULL && j < 2 * e[i].nkv; j++)
			free(e[i].kv[j]);
		free(e[i].kv);
	}
	free(e);
}

/* One XREVRANGE entry: [id, [field, value, ...]]. */
static int
entry_parse(const redisReply *r, struct kh_audit_entry *e)
{
	const redisReply *f;
	size_t j;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY ||
	    r->element[1]->elements % 2 != 0)
		return KH_ERR_INVALID;
	f = r->element[1];
	for (j = 0; j < f->elements; j++)
		if (f->element[j]->type != REDIS_REPLY_STRING)
			return KH_ERR_INVALID;
	if ((e->id = dup_reply(r->element[0])) == NULL)
		return KH_ERR_NOMEM;
	if (f->elements > 0 && (e->kv = calloc(f->elements, sizeof(*e->kv))) == NULL)
		return KH_ERR_NOMEM;
	e->nkv = f->elements / 2;
	for (j = 0; j < f->elements; j++)
		if ((e->kv[j] = dup_reply(f->element[j])) == NULL)
			return KH_ERR_NOMEM;
	return KH_OK;
}

int
kh_audit_read(
    struct kh_store *st, const char *uid, long count, struct kh_audit_entry **out, size_t *n)
{
	char key[KH_STORE_KEY_MAX + 1], cnt[24];
	size_t keylen = 0, i;
	struct kh_audit_entry *e = NULL;
	redisReply *rep = NULL;
	int r;

	if (out != NULL)
		*out = NULL;
	if (n != NULL)
		*n = 0;
	if (st == NULL || out == NULL || n == NULL || count < 1 || count > KH_AUDIT_READ_MAX)
		return KH_ERR_INVALID;
	if (uid != NULL) {
		if ((r = kh_store_user_key(st, AUDIT_USER_TAG, uid, key, &keylen)) != KH_OK)
			return r;
	} else {
		snprintf(key, sizeof(key), "%s%s", st->prefix, AUDIT_TAG);
		keylen = strlen(key);
	}
	snprintf(cnt, sizeof(cnt), "%ld", count);
	/* A read: retried once on a fresh connection. */
	r = kh_conn_command_retry(st, &rep, "XREVRANGE %b + - COUNT %s", key, keylen, cnt);
	if (r != KH_OK)
		return r;
	r = KH_ERR_UNAVAILABLE;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements > (size_t)count) {
		kh_reply_unexpected("XREVRANGE", rep);
		goto out;
	}
	kh_store_mark_up(st);
	if (rep->elements == 0) {
		r = KH_OK;
		goto out;
	}
	if ((e = calloc(rep->elements, sizeof(*e))) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < rep->elements; i++) {
		if ((r = entry_parse(rep->element[i], &e[i])) != KH_OK) {
			if (r == KH_ERR_INVALID) {
				kh_reply_unexpected("XREVRANGE", rep->element[i]);
				r = KH_ERR_UNAVAILABLE;
			}
			kh_audit_entries_free(e, rep->elements);
			e = NULL;
			goto out;
		}
	}
	*n = rep->elements;
	*out = e;
	e = NULL; /* transferred */
	r = KH_OK;
out:
	freeReplyObject(rep);
	return r;
}
