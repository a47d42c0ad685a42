/* The app registry in Redis (see registry.h for the keys).
 *
 * Every write changes the documents and INCRs reg:version in one MULTI/EXEC,
 * so a reader that sees the same version before and after reading the
 * documents has read one consistent state. A write that depends on the
 * current state (create_only, delete of an existing app) WATCHes the
 * document key first; EXEC then fails if another writer got in between and
 * the write is tried again. A list reads the version, the ids and the
 * documents in one Lua script (atomic like MULTI/EXEC), so it is consistent
 * even while writers keep going. The documents are stored as given: the admin API
 * validates them (this module does not parse JSON). */
#include "sessions/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "sessions/sessions.h"
#include "sessions/store.h"

#define REG_KEY_MAX (KH_STORE_PREFIX_MAX + 16 + KH_APP_ID_MAX)
#define REG_WRITE_TRIES 5 /* EXEC aborted by a concurrent writer */

struct reg_keys {
	char version[REG_KEY_MAX + 1];
	char apps[REG_KEY_MAX + 1];
	char app[REG_KEY_MAX + 1]; /* "" when no id */
	size_t version_len, apps_len, app_len;
};

int
kh_registry_id_valid(const char *id)
{
	size_t i;
	char c;

	if (id == NULL)
		return 0;
	for (i = 0; i <= KH_APP_ID_MAX && id[i] != '\0'; i++) {
		c = id[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return i > 0 && i <= KH_APP_ID_MAX;
}

static void
key_join(const struct kh_store *st, const char *suffix, const char *id, char *out, size_t *outlen)
{
	int n = snprintf(out, REG_KEY_MAX + 1, "%s%s%s", st->prefix, suffix, id != NULL ? id : "");

	*outlen = n > 0 && n <= REG_KEY_MAX ? (size_t)n : 0;
}

static int
reg_keys(const struct kh_store *st, const char *id, struct reg_keys *k)
{
	memset(k, 0, sizeof(*k));
	if (id != NULL && !kh_registry_id_valid(id))
		return KH_ERR_INVALID;
	key_join(st, "reg:version", NULL, k->version, &k->version_len);
	key_join(st, "reg:apps", NULL, k->apps, &k->apps_len);
	if (id != NULL)
		key_join(st, "reg:app:", id, k->app, &k->app_len);
	if (k->version_len == 0 || k->apps_len == 0 || (id != NULL && k->app_len == 0))
		return KH_ERR_INTERNAL;
	return KH_OK;
}

static int
status_is(const redisReply *r, const char *s)
{
	size_t n = strlen(s);

	return r != NULL && r->type == REDIS_REPLY_STATUS && r->len == n &&
	    memcmp(r->str, s, n) == 0;
}

/* A GET reply of the version: nil = 0. */
static int
parse_version(const redisReply *r, long long *out)
{
	long long v = 0;
	size_t i;

	*out = 0;
	if (r->type == REDIS_REPLY_NIL)
		return KH_OK;
	if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 18) {
		kh_reply_unexpected("GET version", r);
		return KH_ERR_UNAVAILABLE;
	}
	for (i = 0; i < r->len; i++) {
		if (r->str[i] < '0' || r->str[i] > '9') {
			kh_reply_unexpected("GET version", r);
			return KH_ERR_UNAVAILABLE;
		}
		v = v * 10 + (r->str[i] - '0');
	}
	*out = v;
	return KH_OK;
}

int
kh_registry_version(struct kh_store *st, long long *version)
{
	struct reg_keys k;
	redisReply *rep = NULL;
	int r;

	if (version != NULL)
		*version = 0;
	if (st == NULL || version == NULL)
		return KH_ERR_INVALID;
	if ((r = reg_keys(st, NULL, &k)) != KH_OK)
		return r;
	r = kh_conn_command_retry(st, &rep, "GET %b", k.version, k.version_len);
	if (r != KH_OK)
		return r;
	if ((r = parse_version(rep, version)) == KH_OK)
		kh_store_mark_up(st);
	freeReplyObject(rep);
	return r;
}

/* Sends WATCH app + EXISTS app; *exists = 0/1. The connection stays in
 * WATCH state for the MULTI that follows (or an UNWATCH). */
static int
watch_exists(struct kh_store *st, redisContext *c, const struct reg_keys *k, int *exists)
{
	redisReply *rep[2] = { NULL, NULL };
	int r;

	*exists = 0;
	if (redisAppendCommand(c, "WATCH %b", k->app, k->app_len) != REDIS_OK ||
	    redisAppendCommand(c, "EXISTS %b", k->app, k->app_len) != REDIS_OK) {
		kh_conn_drop(st);
		return KH_ERR_UNAVAILABLE;
	}
	if ((r = kh_conn_replies(st, c, rep, 2)) != KH_OK)
		return r;
	r = KH_ERR_UNAVAILABLE;
	if (!status_is(rep[0], "OK")) {
		kh_reply_unexpected("WATCH", rep[0]);
		kh_conn_drop(st); /* leave no WATCH behind */
		goto out;
	}
	if (rep[1]->type != REDIS_REPLY_INTEGER) {
		kh_reply_unexpected("EXISTS", rep[1]);
		kh_conn_drop(st);
		goto out;
	}
	*exists = rep[1]->integer > 0;
	r = KH_OK;
out:
	kh_replies_free(rep, 2);
	return r;
}

static int
unwatch(struct kh_store *st, redisContext *c)
{
	redisReply *rep = NULL;
	int r;

	if (redisAppendCommand(c, "UNWATCH") != REDIS_OK) {
		kh_conn_drop(st);
		return KH_ERR_UNAVAILABLE;
	}
	if ((r = kh_conn_replies(st, c, &rep, 1)) != KH_OK)
		return r;
	if (!status_is(rep, "OK")) {
		kh_reply_unexpected("UNWATCH", rep);
		kh_conn_drop(st);
		r = KH_ERR_UNAVAILABLE;
	}
	freeReplyObject(rep);
	return r;
}

/* Reads the replies of MULTI, nqueued commands and EXEC. KH_ERR_EXISTS when
 * EXEC was aborted by a WATCH (the caller retries); otherwise the EXEC array
 * is handed back in *exec (free with freeReplyObject). */
static int
exec_replies(struct kh_store *st, redisContext *c, size_t nqueued, redisReply **exec)
{
	redisReply *rep[KH_STORE_MAX_PIPELINE] = { NULL };
	size_t n = nqueued + 2, i;
	int r;

	*exec = NULL;
	if (n > KH_STORE_MAX_PIPELINE)
		return KH_ERR_INTERNAL;
	if ((r = kh_conn_replies(st, c, rep, n)) != KH_OK)
		return r;
	r = KH_ERR_UNAVAILABLE;
	if (!status_is(rep[0], "OK")) {
		kh_reply_unexpected("MULTI", rep[0]);
		goto out;
	}
	for (i = 1; i + 1 < n; i++) {
		if (!status_is(rep[i], "QUEUED")) {
			kh_reply_unexpected("registry", rep[i]);
			goto out;
		}
	}
	if (rep[n - 1]->type == REDIS_REPLY_NIL) {
		r = KH_ERR_EXISTS; /* aborted: the watched key changed */
		goto out;
	}
	if (rep[n - 1]->type != REDIS_REPLY_ARRAY || rep[n - 1]->elements != nqueued) {
		kh_reply_unexpected("EXEC", rep[n - 1]);
		goto out;
	}
	*exec = rep[n - 1];
	rep[n - 1] = NULL; /* transferred */
	r = KH_OK;
out:
	kh_replies_free(rep, n);
	return r;
}

/* MULTI; SET/DEL app; SADD/SREM apps id; INCR version; EXEC. */
static int
write_app(struct kh_store *st, redisContext *c, const struct reg_keys *k, const char *id,
    const char *json, size_t jlen)
{
	redisReply *ex = NULL;
	int r, ok;

	ok = redisAppendCommand(c, "MULTI") == REDIS_OK;
	if (json != NULL)
		ok = ok &&
		    redisAppendCommand(c, "SET %b %b", k->app, k->app_len, json, jlen) ==
			REDIS_OK &&
		    redisAppendCommand(c, "SADD %b %s", k->apps, k->apps_len, id) == REDIS_OK;
	else
		ok = ok && redisAppendCommand(c, "DEL %b", k->app, k->app_len) == REDIS_OK &&
		    redisAppendCommand(c, "SREM %b %s", k->apps, k->apps_len, id) == REDIS_OK;
	ok = ok && redisAppendCommand(c, "INCR %b", k->version, k->version_len) == REDIS_OK &&
	    redisAppendCommand(c, "EXEC") == REDIS_OK;
	if (!ok) {
		kh_conn_drop(st); /* a partly written pipeline */
		return KH_ERR_UNAVAILABLE;
	}
	if ((r = exec_replies(st, c, 3, &ex)) != KH_OK) {
		if (r == KH_ERR_UNAVAILABLE)
			kh_conn_drop(st);
		return r;
	}
	r = KH_ERR_UNAVAILABLE;
	if (ex->element[2]->type != REDIS_REPLY_INTEGER ||
	    ex->element[1]->type != REDIS_REPLY_INTEGER ||
	    (json != NULL ? !status_is(ex->element[0], "OK")
			  : ex->element[0]->type != REDIS_REPLY_INTEGER)) {
		kh_reply_unexpected("EXEC registry", ex);
		goto out;
	}
	r = KH_OK;
out:
	freeReplyObject(ex);
	return r;
}

/* json NULL = delete. must: 1 = must not exist (create), -1 = must exist
 * (delete), 0 = either. */
static int
registry_write(struct kh_store *st, const char *id, const char *json, int must)
{
	struct reg_keys k;
	redisContext *c;
	size_t jlen = 0;
	int r, tries, exists;

	if (st == NULL)
		return KH_ERR_INVALID;
	if (json != NULL && (jlen = strlen(json)) > KH_APP_DOC_MAX)
		return KH_ERR_TOO_LARGE;
	if (json != NULL && jlen == 0)
		return KH_ERR_INVALID;
	if ((r = reg_keys(st, id, &k)) != KH_OK)
		return r;
	/* Writes are not retried after a lost reply (the first may have
	 * landed); an EXEC aborted by a concurrent writer is. */
	for (tries = 0; tries < REG_WRITE_TRIES; tries++) {
		if ((r = kh_conn_get(st, &c)) != KH_OK)
			return r;
		if (must != 0) {
			if ((r = watch_exists(st, c, &k, &exists)) != KH_OK)
				return r;
			if ((must > 0 && exists) || (must < 0 && !exists)) {
				if ((r = unwatch(st, c)) != KH_OK)
					return r;
				kh_store_mark_up(st);
				return must > 0 ? KH_ERR_EXISTS : KH_ERR_NOT_FOUND;
			}
		}
		if ((r = write_app(st, c, &k, id, json, jlen)) != KH_ERR_EXISTS)
			break;
	}
	if (r == KH_ERR_EXISTS) {
		kh_warn("registry.contended", "id", id, NULL);
		return KH_ERR_UNAVAILABLE;
	}
	if (r == KH_OK)
		kh_store_mark_up(st);
	return r;
}

int
kh_registry_put(struct kh_store *st, const char *id, const char *json, int create_only)
{
	if (json == NULL)
		return KH_ERR_INVALID;
	return registry_write(st, id, json, create_only ? 1 : 0);
}

int
kh_registry_delete(struct kh_store *st, const char *id)
{
	return registry_write(st, id, NULL, -1);
}

static char *
reply_strdup(const redisReply *v)
{
	char *s;

	if ((s = malloc(v->len + 1)) == NULL)
		return NULL;
	memcpy(s, v->str, v->len);
	s[v->len] = '\0';
	return s;
}

/* A document reply: a string within the cap with no NUL. */
static int
doc_ok(const redisReply *v)
{
	return v->type == REDIS_REPLY_STRING && v->len > 0 && v->len <= KH_APP_DOC_MAX &&
	    memchr(v->str, '\0', v->len) == NULL;
}

int
kh_registry_get(struct kh_store *st, const char *id, char **json)
{
	struct reg_keys k;
	redisReply *rep = NULL;
	int r;

	if (json != NULL)
		*json = NULL;
	if (st == NULL || json == NULL)
		return KH_ERR_INVALID;
	if ((r = reg_keys(st, id, &k)) != KH_OK)
		return r;
	r = kh_conn_command_retry(st, &rep, "GET %b", k.app, k.app_len);
	if (r != KH_OK)
		return r;
	if (rep->type == REDIS_REPLY_NIL) {
		r = KH_ERR_NOT_FOUND;
		kh_store_mark_up(st);
	} else if (!doc_ok(rep)) {
		kh_reply_unexpected("GET app", rep);
		r = KH_ERR_UNAVAILABLE;
	} else if ((*json = reply_strdup(rep)) == NULL) {
		r = KH_ERR_NOMEM;
	} else {
		kh_store_mark_up(st);
		r = KH_OK;
	}
	freeReplyObject(rep);
	return r;
}

void
kh_registry_list_free(char **docs)
{
	size_t i;

	if (docs == NULL)
		return;
	for (i = 0; docs[i] != NULL; i++)
		free(docs[i]);
	free(docs);
}

/* KEYS[1] version, KEYS[2] the id set; ARGV[1] the document key prefix,
 * ARGV[2] the maximum number of apps. Reads the version, the ids and every
 * document in one atomic step (a script runs alone, like MULTI/EXEC), so a
 * concurrent writer can never be seen half-way. Returns
 * {version or nil, {ids...}, {docs or nil...}}. */
static const char list_script[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "local ids = redis.call('SMEMBERS', KEYS[2])\n"
    "if #ids > tonumber(ARGV[2]) then return redis.error_reply('TOOMANY apps') end\n"
    "local docs = {}\n"
    "for i, id in ipairs(ids) do docs[i] = redis.call('GET', ARGV[1] .. id) end\n"
    "return {v, ids, docs}\n";

/* One atomic read of the whole registry. */
static int
list_once(struct kh_store *st, const struct reg_keys *k, char ***docs, long long *version)
{
	redisContext *c;
	redisReply *rep = NULL;
	const redisReply *ids, *d, *vrep;
	char appkey[REG_KEY_MAX + 1], max[24];
	size_t applen = 0, i, n = 0, nids;
	char **out = NULL;
	long long v;
	int r;

	*docs = NULL;
	*version = 0;
	key_join(st, "reg:app:", NULL, appkey, &applen);
	if (applen == 0)
		return KH_ERR_INTERNAL;
	snprintf(max, sizeof(max), "%d", KH_APPS_MAX);
	if ((r = kh_conn_get(st, &c)) != KH_OK)
		return r;
	if (redisAppendCommand(c, "EVAL %s 2 %b %b %b %s", list_script, k->version, k->version_len,
		k->apps, k->apps_len, appkey, applen, max) != REDIS_OK) {
		kh_conn_drop(st);
		return KH_ERR_UNAVAILABLE;
	}
	if ((r = kh_conn_replies(st, c, &rep, 1)) != KH_OK)
		goto out;
	r = KH_ERR_UNAVAILABLE;
	if (rep->type == REDIS_REPLY_ERROR && rep->len >= 7 &&
	    memcmp(rep->str, "TOOMANY", 7) == 0) {
		kh_warn("registry.list", "error", "too many apps", NULL);
		r = KH_ERR_TOO_LARGE;
		goto out;
	}
	/* Lua's false (a missing key) arrives as nil: a nil version is 0 and
	 * a nil document is an id in the set without a document. */
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3) {
		kh_reply_unexpected("EVAL list", rep);
		goto out;
	}
	vrep = rep->element[0];
	ids = rep->element[1];
	d = rep->element[2];
	if ((r = parse_version(vrep, &v)) != KH_OK)
		goto out;
	r = KH_ERR_UNAVAILABLE;
	if (ids->type != REDIS_REPLY_ARRAY || d->type != REDIS_REPLY_ARRAY ||
	    d->elements != ids->elements || (nids = ids->elements) > KH_APPS_MAX) {
		kh_reply_unexpected("EVAL list", rep);
		goto out;
	}
	for (i = 0; i < nids; i++) {
		if (ids->element[i]->type != REDIS_REPLY_STRING ||
		    ids->element[i]->len > KH_APP_ID_MAX ||
		    memchr(ids->element[i]->str, '\0', ids->element[i]->len) != NULL ||
		    !kh_registry_id_valid(ids->element[i]->str)) {
			kh_reply_unexpected("SMEMBERS id", ids->element[i]);
			goto out;
		}
	}
	if ((out = calloc(nids + 1, sizeof(*out))) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < d->elements; i++) {
		if (d->element[i]->type == REDIS_REPLY_NIL)
			continue; /* in the set without a document: skipped */
		if (!doc_ok(d->element[i])) {
			kh_reply_unexpected("GET app", d->element[i]);
			goto out;
		}
		if ((out[n] = reply_strdup(d->element[i])) == NULL) {
			r = KH_ERR_NOMEM;
			goto out;
		}
		n++;
	}
	*docs = out;
	out = NULL; /* transferred */
	*version = v;
	r = KH_OK;
out:
	kh_registry_list_free(out);
	if (rep != NULL)
		freeReplyObject(rep);
	return r;
}

int
kh_registry_list(struct kh_store *st, char ***docs, long long *version)
{
	struct reg_keys k;
	int r = KH_ERR_INTERNAL, attempt;

	if (docs != NULL)
		*docs = NULL;
	if (version != NULL)
		*version = 0;
	if (st == NULL || docs == NULL || version == NULL)
		return KH_ERR_INVALID;
	if ((r = reg_keys(st, NULL, &k)) != KH_OK)
		return r;
	/* Read-only: retried once on a fresh connection after a peer close.
	 * The script reads atomically, so the version cannot move during the
	 * read and no version retry is needed. */
	for (attempt = 0; attempt < 2; attempt++)
		if ((r = list_once(st, &k, docs, version)) == KH_OK || !kh_conn_retryable(st))
			break;
	if (r == KH_OK)
		kh_store_mark_up(st);
	return r;
}
