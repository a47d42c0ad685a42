/* SSO sessions in Redis.
 *
 * The cookie is 32 random bytes, base64url (43 characters). Redis never sees
 * it: the key is prefix "s:" hex(HMAC-SHA-256(server secret, cookie)), so a
 * dump of Redis yields no usable cookie. The value is a hash (uid, dn,
 * display_name, mail, groups, amr, acr, auth_time, created, abs_exp,
 * client_ip, family_name, given_name, employee_number, department, title, uix,
 * and module fields "x_*" set with kh_session_field_set) whose TTL is the idle timeout, slid forward on every read and
 * never past abs_exp. */
#include "sessions/sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "connectors/connector.h"
#include "sessions/store.h"

#define COOKIE_RAW_LEN 32
#define USER_INDEX_TAG "su:"

enum {
	F_UID,
	F_DN,
	F_DISPLAY_NAME,
	F_MAIL,
	F_GROUPS,
	F_AMR,
	F_ACR,
	F_CLIENT_IP,
	F_FAMILY_NAME,
	F_GIVEN_NAME,
	F_EMPLOYEE_NUMBER,
	F_DEPARTMENT,
	F_TITLE,
	F_AUTH_TIME,
	F_CREATED,
	F_ABS_EXP,
	F__COUNT
};
#define F__FIRST_INT F_AUTH_TIME
/* Fields added after the first release: a session written before them
 * lacks them and reads back with "" rather than being judged corrupt. */
#define F__FIRST_OPTIONAL F_FAMILY_NAME
#define F__LAST_OPTIONAL F_TITLE

static const char *const field_names[F__COUNT] = {
	"uid",
	"dn",
	"display_name",
	"mail",
	"groups",
	"amr",
	"acr",
	"client_ip",
	"family_name",
	"given_name",
	"employee_number",
	"department",
	"title",
	"auth_time",
	"created",
	"abs_exp",
};

/* Value of a base64url character, -1 for anything else (including NUL). */
static int
b64url_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int
kh_session_cookie_valid(const char *s)
{
	size_t i;
	int v = -1;

	if (s == NULL)
		return 0;
	for (i = 0; i < KH_SESSION_COOKIE_LEN; i++)
		if ((v = b64url_val(s[i])) < 0)
			return 0; /* also stops at a NUL: never reads past it */
	if (s[KH_SESSION_COOKIE_LEN] != '\0')
		return 0;
	/* 43 characters carry 258 bits for 256: the last two must be zero. */
	return (v & 3) == 0;
}

int
kh_session_key(const struct kh_store *st, const char *cookie, char *out, size_t *outlen)
{
	unsigned char mac[KH_HMAC_LEN];
	int r;

	*outlen = 0;
	out[0] = '\0';
	if (!kh_session_cookie_valid(cookie))
		return KH_ERR_NOT_FOUND;
	if ((r = kh_hmac_sha256(st->key, st->keylen, cookie, KH_SESSION_COOKIE_LEN, mac)) != KH_OK)
		return r;
	r = kh_store_key_from_mac(st, "s:", mac, out, outlen);
	explicit_bzero(mac, sizeof(mac));
	return r;
}

/* The first hex digits of a key's hash, for logs: enough to correlate, far
 * too short to be used. */
static void
key_tag(const char *key, size_t keylen, char out[9])
{
	size_t n = keylen >= 2 * KH_HMAC_LEN ? 8 : 0;

	memcpy(out, key + keylen - 2 * KH_HMAC_LEN, n);
	out[n] = '\0';
}

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

/* groups joined by '\n'. A name containing a newline would split into two
 * groups on the way back, so it is refused. */
static int
groups_join(const struct kh_identity *id, struct kh_buf *b)
{
	size_t i;
	int r;

	for (i = 0; id->groups != NULL && id->groups[i] != NULL; i++) {
		if (strchr(id->groups[i], '\n') != NULL)
			return KH_ERR_INVALID;
		if ((i > 0 && (r = kh_buf_append(b, "\n", 1)) != KH_OK) ||
		    (r = kh_buf_append_str(b, id->groups[i])) != KH_OK)
			return r;
	}
	return KH_OK;
}

static int
check_len(const char *s)
{
	return s == NULL || strlen(s) <= KH_SESSION_FIELD_MAX ? KH_OK : KH_ERR_TOO_LARGE;
}

static int
reply_status_is(const redisReply *r, const char *s)
{
	size_t n = strlen(s);

	return r != NULL && r->type == REDIS_REPLY_STATUS && r->len == n &&
	    memcmp(r->str, s, n) == 0;
}

int
kh_session_create(struct kh_store *st, const struct kh_identity *id, const char *amr,
    const char *acr, const char *client_ip, const char *old_cookie,
    char cookie[KH_SESSION_COOKIE_LEN + 1])
{
	unsigned char raw[COOKIE_RAW_LEN];
	char enc[64], key[KH_STORE_KEY_MAX + 1], oldkey[KH_STORE_KEY_MAX + 1];
	char now_s[24], abs_s[24], ttl_s[24], absttl_s[24], ix[KH_STORE_KEY_MAX + 1];
	size_t keylen = 0, oldkeylen = 0, ixlen = 0, n = 0, i, exp_i;
	struct kh_buf groups;
	redisContext *c = NULL;
	redisReply *rep[KH_STORE_MAX_PIPELINE] = { NULL };
	const redisReply *ex;
	int64_t now;
	long ttl;
	int r = KH_ERR_INTERNAL, have_old = 0;

	kh_buf_init(&groups, KH_SESSION_FIELD_MAX);
	if (cookie != NULL)
		explicit_bzero(cookie, KH_SESSION_COOKIE_LEN + 1);
	if (st == NULL || id == NULL || cookie == NULL || id->uid == NULL || id->uid[0] == '\0')
		return KH_ERR_INVALID;
	if ((r = check_len(id->uid)) != KH_OK || (r = check_len(id->dn)) != KH_OK ||
	    (r = check_len(id->display_name)) != KH_OK || (r = check_len(id->mail)) != KH_OK ||
	    (r = check_len(amr)) != KH_OK || (r = check_len(acr)) != KH_OK ||
	    (r = check_len(client_ip)) != KH_OK || (r = check_len(id->family_name)) != KH_OK ||
	    (r = check_len(id->given_name)) != KH_OK ||
	    (r = check_len(id->employee_number)) != KH_OK ||
	    (r = check_len(id->department)) != KH_OK || (r = check_len(id->title)) != KH_OK)
		goto out;
	if ((r = groups_join(id, &groups)) != KH_OK) {
		kh_warn("session.create", "uid", id->uid, "error",
		    r == KH_ERR_INVALID ? "group name with a newline" : "groups too large", NULL);
		goto out;
	}

	if ((r = kh_random(raw, sizeof(raw))) != KH_OK)
		goto out;
	kh_b64url_encode(raw, sizeof(raw), enc);
	if (strlen(enc) != KH_SESSION_COOKIE_LEN) {
		r = KH_ERR_INTERNAL;
		goto out;
	}
	memcpy(cookie, enc, KH_SESSION_COOKIE_LEN + 1);
	if ((r = kh_session_key(st, cookie, key, &keylen)) != KH_OK)
		goto out;
	if (old_cookie != NULL && kh_session_key(st, old_cookie, oldkey, &oldkeylen) == KH_OK)
		have_old = 1;
	if ((r = kh_store_user_key(st, USER_INDEX_TAG, id->uid, ix, &ixlen)) != KH_OK)
		goto out;

	now = kh_time();
	ttl = st->idle_timeout < st->absolute_timeout ? st->idle_timeout : st->absolute_timeout;
	snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
	snprintf(abs_s, sizeof(abs_s), "%lld", (long long)(now + st->absolute_timeout));
	snprintf(ttl_s, sizeof(ttl_s), "%ld", ttl);
	snprintf(absttl_s, sizeof(absttl_s), "%ld", st->absolute_timeout);

	/* One round trip, applied atomically by EXEC: the old session goes,
	 * the new one appears with its TTL already set and in its user's index
	 * (whose TTL, the absolute lifetime, outlives every member). */
	if ((r = kh_conn_get(st, &c)) != KH_OK)
		goto out;
	r = KH_ERR_UNAVAILABLE;
	if (redisAppendCommand(c, "MULTI") != REDIS_OK)
		goto drop;
	n++;
	if (have_old) {
		if (redisAppendCommand(c, "DEL %b", oldkey, oldkeylen) != REDIS_OK)
			goto drop;
		n++;
	}
	if (redisAppendCommand(c,
		"HSET %b uid %s dn %s display_name %s mail %s groups %b "
		"amr %s acr %s client_ip %s family_name %s given_name %s "
		"employee_number %s department %s title %s auth_time %s created %s abs_exp %s "
		"uix %b",
		key, keylen, id->uid, nz(id->dn), nz(id->display_name), nz(id->mail),
		groups.data != NULL ? groups.data : "", groups.len, nz(amr), nz(acr), nz(client_ip),
		nz(id->family_name), nz(id->given_name), nz(id->employee_number),
		nz(id->department), nz(id->title), now_s, now_s, abs_s, ix, ixlen) != REDIS_OK)
		goto drop;
	n++;
	if (redisAppendCommand(c, "EXPIRE %b %s", key, keylen, ttl_s) != REDIS_OK)
		goto drop;
	exp_i = n - 1; /* its place in the EXEC reply (MULTI has none) */
	n++;
	if (redisAppendCommand(c, "SADD %b %b", ix, ixlen, key + keylen - 2 * KH_HMAC_LEN,
		(size_t)(2 * KH_HMAC_LEN)) != REDIS_OK ||
	    redisAppendCommand(c, "EXPIRE %b %s", ix, ixlen, absttl_s) != REDIS_OK)
		goto drop;
	n += 2;
	if (redisAppendCommand(c, "EXEC") != REDIS_OK)
		goto drop;
	n++;
	if ((r = kh_conn_replies(st, c, rep, n)) != KH_OK)
		goto out;

	r = KH_ERR_UNAVAILABLE;
	if (!reply_status_is(rep[0], "OK")) {
		kh_reply_unexpected("MULTI", rep[0]);
		goto out;
	}
	for (i = 1; i + 1 < n; i++) {
		if (!reply_status_is(rep[i], "QUEUED")) {
			kh_reply_unexpected("session.create", rep[i]);
			goto out;
		}
	}
	ex = rep[n - 1];
	if (ex->type != REDIS_REPLY_ARRAY || ex->elements != n - 2) {
		kh_reply_unexpected("EXEC", ex);
		goto out;
	}
	for (i = 0; i < ex->elements; i++) {
		if (ex->element[i]->type != REDIS_REPLY_INTEGER) {
			kh_reply_unexpected("session.create", ex->element[i]);
			goto out;
		}
	}
	if (ex->element[exp_i]->integer != 1) {
		kh_reply_unexpected("EXPIRE", ex->element[exp_i]);
		goto out;
	}
	kh_store_mark_up(st);
	r = KH_OK;
	goto out;
drop:
	/* A partly written pipeline leaves the connection out of step. */
	kh_conn_drop(st);
out:
	if (r != KH_OK && cookie != NULL)
		explicit_bzero(cookie, KH_SESSION_COOKIE_LEN + 1);
	kh_replies_free(rep, KH_STORE_MAX_PIPELINE);
	kh_buf_free(&groups);
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(enc, sizeof(enc));
	explicit_bzero(key, sizeof(key));
	explicit_bzero(oldkey, sizeof(oldkey));
	explicit_bzero(ix, sizeof(ix));
	return r;
}

/* Decimal integer in [0, 2^53): the stored times. */
static int
parse_time(const redisReply *v, int64_t *out)
{
	int64_t x = 0;
	size_t i;

	if (v->len == 0 || v->len > 15)
		return KH_ERR_INVALID;
	for (i = 0; i < v->len; i++) {
		if (v->str[i] < '0' || v->str[i] > '9')
			return KH_ERR_INVALID;
		x = x * 10 + (v->str[i] - '0');
	}
	*out = x;
	return KH_OK;
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

/* Builds a session from an HGETALL reply. KH_ERR_INVALID when a field is
 * missing, repeated, of the wrong type, too long, holds a NUL or a time
 * is not a plain number. Unknown fields are ignored (later versions add
 * some). */
static int
session_parse(const redisReply *h, struct kh_session **out)
{
	const redisReply *v[F__COUNT] = { NULL };
	const redisReply *name, *val;
	struct kh_session *s = NULL;
	char **strs[F__FIRST_INT];
	int64_t *ints[F__COUNT - F__FIRST_INT];
	size_t i, f;
	int r = KH_ERR_INVALID;

	*out = NULL;
	if (h->elements % 2 != 0)
		return KH_ERR_INVALID;
	for (i = 0; i < h->elements; i += 2) {
		name = h->element[i];
		val = h->element[i + 1];
		if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
			return KH_ERR_INVALID;
		for (f = 0; f < F__COUNT; f++) {
			if (name->len == strlen(field_names[f]) &&
			    memcmp(name->str, field_names[f], name->len) == 0)
				break;
		}
		if (f == F__COUNT)
			continue;
		if (v[f] != NULL || val->len > KH_SESSION_FIELD_MAX ||
		    memchr(val->str, '\0', val->len) != NULL)
			return KH_ERR_INVALID;
		v[f] = val;
	}
	for (f = 0; f < F__COUNT; f++)
		if (v[f] == NULL && (f < F__FIRST_OPTIONAL || f > F__LAST_OPTIONAL))
			return KH_ERR_INVALID;
	if (v[F_UID]->len == 0)
		return KH_ERR_INVALID;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KH_ERR_NOMEM;
	strs[F_UID] = &s->uid;
	strs[F_DN] = &s->dn;
	strs[F_DISPLAY_NAME] = &s->display_name;
	strs[F_MAIL] = &s->mail;
	strs[F_GROUPS] = &s->groups;
	strs[F_AMR] = &s->amr;
	strs[F_ACR] = &s->acr;
	strs[F_CLIENT_IP] = &s->client_ip;
	strs[F_FAMILY_NAME] = &s->family_name;
	strs[F_GIVEN_NAME] = &s->given_name;
	strs[F_EMPLOYEE_NUMBER] = &s->employee_number;
	strs[F_DEPARTMENT] = &s->department;
	strs[F_TITLE] = &s->title;
	ints[F_AUTH_TIME - F__FIRST_INT] = &s->auth_time;
	ints[F_CREATED - F__FIRST_INT] = &s->created;
	ints[F_ABS_EXP - F__FIRST_INT] = &s->absolute_expiry;
	for (f = F__FIRST_INT; f < F__COUNT; f++)
		if ((r = parse_time(v[f], ints[f - F__FIRST_INT])) != KH_OK)
			goto out;
	if (s->created == 0 || s->absolute_expiry == 0) {
		r = KH_ERR_INVALID;
		goto out;
	}
	for (f = 0; f < F__FIRST_INT; f++) {
		if ((*strs[f] = v[f] != NULL ? reply_strdup(v[f]) : kh_strdup("")) == NULL) {
			r = KH_ERR_NOMEM;
			goto out;
		}
	}
	*out = s;
	s = NULL; /* transferred */
	r = KH_OK;
out:
	kh_session_free(s);
	return r;
}

/* A follow-up command whose failure changes nothing for the caller: the
 * session is already judged (an expired one stays rejected on every read
 * because abs_exp is checked each time). */
static void
session_fixup(struct kh_store *st, const char *cmd, const char *key, size_t keylen, const char *arg)
{
	redisContext *c;
	redisReply *rep = NULL;
	int ok;

	if (kh_conn_get(st, &c) != KH_OK)
		return;
	if (arg != NULL)
		ok = redisAppendCommand(c, "%s %b %s", cmd, key, keylen, arg) == REDIS_OK;
	else
		ok = redisAppendCommand(c, "%s %b", cmd, key, keylen) == REDIS_OK;
	if (!ok) {
		kh_conn_drop(st);
		return;
	}
	if (kh_conn_replies(st, c, &rep, 1) != KH_OK)
		return;
	if (rep->type != REDIS_REPLY_INTEGER)
		kh_reply_unexpected(cmd, rep);
	freeReplyObject(rep);
}

int
kh_session_get(struct kh_store *st, const char *cookie, struct kh_session **out)
{
	char key[KH_STORE_KEY_MAX + 1], ttl_s[24], tag[9];
	size_t keylen = 0;
	redisContext *c;
	redisReply *rep[2] = { NULL, NULL };
	struct kh_session *s = NULL;
	int64_t now, expiry, limit;
	int attempt, r;

	if (out == NULL)
		return KH_ERR_INVALID;
	*out = NULL;
	if (st == NULL)
		return KH_ERR_INVALID;
	/* A malformed cookie never reaches Redis. */
	if ((r = kh_session_key(st, cookie, key, &keylen)) != KH_OK)
		return r;
	snprintf(ttl_s, sizeof(ttl_s), "%ld", st->idle_timeout);

	/* One round trip: read the hash and slide the idle timeout. Both are
	 * idempotent, so a dead connection is retried once on a fresh one. */
	for (attempt = 0; attempt < 2; attempt++) {
		if ((r = kh_conn_get(st, &c)) != KH_OK)
			goto out;
		if (redisAppendCommand(c, "HGETALL %b", key, keylen) != REDIS_OK ||
		    redisAppendCommand(c, "EXPIRE %b %s", key, keylen, ttl_s) != REDIS_OK) {
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
	if (rep[0]->type == REDIS_REPLY_ERROR && rep[0]->len >= 9 &&
	    memcmp(rep[0]->str, "WRONGTYPE", 9) == 0) {
		r = KH_ERR_INVALID; /* not a hash: corrupt, handled below */
	} else if (rep[0]->type != REDIS_REPLY_ARRAY) {
		kh_reply_unexpected("HGETALL", rep[0]);
		goto out;
	} else if (rep[1]->type != REDIS_REPLY_INTEGER) {
		kh_reply_unexpected("EXPIRE", rep[1]);
		goto out;
	} else if (rep[0]->elements == 0) {
		kh_store_mark_up(st);
		r = KH_ERR_NOT_FOUND;
		goto out;
	} else
		r = session_parse(rep[0], &s);
	kh_store_mark_up(st);
	if (r != KH_OK) {
		if (r == KH_ERR_NOMEM)
			goto out;
		key_tag(key, keylen, tag);
		kh_warn("session.corrupt", "key", tag, NULL);
		session_fixup(st, "DEL", key, keylen, NULL);
		r = KH_ERR_NOT_FOUND;
		goto out;
	}

	/* The absolute lifetime: the stored expiry, and never more than the
	 * configured lifetime (a shortened absolute_timeout applies at once). */
	now = kh_time();
	expiry = s->absolute_expiry;
	limit = s->created + st->absolute_timeout;
	if (limit < expiry)
		expiry = limit;
	if (now >= expiry) {
		session_fixup(st, "DEL", key, keylen, NULL);
		r = KH_ERR_NOT_FOUND;
		goto out;
	}
	if (expiry - now < st->idle_timeout) {
		snprintf(ttl_s, sizeof(ttl_s), "%lld", (long long)(expiry - now));
		session_fixup(st, "EXPIRE", key, keylen, ttl_s);
	}
	*out = s;
	s = NULL; /* transferred */
	r = KH_OK;
out:
	kh_replies_free(rep, 2);
	kh_session_free(s);
	explicit_bzero(key, sizeof(key));
	return r;
}

/* KEYS[1] session; ARGV[1] its key hash, ARGV[2] prefix "su:". Deletes the
 * session and removes it from its user's index (named in its "uix" field,
 * which must be an index key). Returns the number of keys deleted. */
static const char destroy_script[] = "local ix = false\n"
				     "if redis.call('TYPE', KEYS[1]).ok == 'hash' then\n"
				     "  ix = redis.call('HGET', KEYS[1], 'uix')\n"
				     "end\n"
				     "local n = redis.call('DEL', KEYS[1])\n"
				     "if ix and string.sub(ix, 1, #ARGV[2]) == ARGV[2] then\n"
				     "  redis.call('SREM', ix, ARGV[1])\n"
				     "end\n"
				     "return n\n";

int
kh_session_destroy(struct kh_store *st, const char *cookie)
{
	char key[KH_STORE_KEY_MAX + 1], ixpfx[KH_STORE_PREFIX_MAX + 8];
	size_t keylen = 0;
	long long n = 0;
	int r;

	if (st == NULL)
		return KH_ERR_INVALID;
	if ((r = kh_session_key(st, cookie, key, &keylen)) != KH_OK)
		return r;
	snprintf(ixpfx, sizeof(ixpfx), "%s%s", st->prefix, USER_INDEX_TAG);
	/* Idempotent: retried once on a fresh connection. */
	r = kh_conn_command_int(st, 1, "EVAL destroy", &n, "EVAL %s 1 %b %b %s", destroy_script,
	    key, keylen, key + keylen - 2 * KH_HMAC_LEN, (size_t)(2 * KH_HMAC_LEN), ixpfx);
	if (r == KH_OK)
		r = n > 0 ? KH_OK : KH_ERR_NOT_FOUND;
	explicit_bzero(key, sizeof(key));
	return r;
}

/* "x_" then [a-z0-9_], at most KH_SESSION_XFIELD_NAME_MAX characters. */
static int
xfield_ok(const char *f)
{
	size_t i;

	if (f == NULL || f[0] != 'x' || f[1] != '_')
		return 0;
	for (i = 2; f[i] != '\0'; i++) {
		if (i >= KH_SESSION_XFIELD_NAME_MAX)
			return 0;
		if (!((f[i] >= 'a' && f[i] <= 'z') || (f[i] >= '0' && f[i] <= '9') || f[i] == '_'))
			return 0;
	}
	return i > 2;
}

/* KEYS[1] session; ARGV[1] field, ARGV[2] value, ARGV[3] "1" to delete.
 * Writes only into an existing session: an HSET on a missing key would
 * create a hash with no TTL and no identity. Returns 1, or 0 when the
 * session is gone. */
static const char field_set_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "if ARGV[3] == '1' then redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end\n"
    "return 1\n";

int
kh_session_field_set(
    struct kh_store *st, const char *cookie, const char *field, const char *value, size_t len)
{
	char key[KH_STORE_KEY_MAX + 1];
	size_t keylen = 0;
	long long n = 0;
	int r;

	if (st == NULL || !xfield_ok(field) || (value == NULL && len != 0))
		return KH_ERR_INVALID;
	if (len > KH_SESSION_XFIELD_MAX)
		return KH_ERR_TOO_LARGE;
	if ((r = kh_session_key(st, cookie, key, &keylen)) != KH_OK)
		return r;
	/* Setting a field to a value is idempotent: retried once. */
	r = kh_conn_command_int(st, 1, "EVAL field_set", &n, "EVAL %s 1 %b %s %b %s",
	    field_set_script, key, keylen, field, value != NULL ? value : "", len,
	    value == NULL ? "1" : "0");
	if (r == KH_OK)
		r = n == 1 ? KH_OK : KH_ERR_NOT_FOUND;
	explicit_bzero(key, sizeof(key));
	return r;
}

static const char set_auth_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'amr', ARGV[1], 'acr', ARGV[2])\n"
    "return 1\n";

int
kh_session_set_auth(struct kh_store *st, const char *cookie, const char *amr, const char *acr)
{
	char key[KH_STORE_KEY_MAX + 1];
	size_t keylen = 0;
	long long n = 0;
	int r;

	if (st == NULL || amr == NULL || acr == NULL)
		return KH_ERR_INVALID;
	if ((r = check_len(amr)) != KH_OK || (r = check_len(acr)) != KH_OK)
		return r;
	if ((r = kh_session_key(st, cookie, key, &keylen)) != KH_OK)
		return r;
	/* Idempotent (the same values again): retried once. */
	r = kh_conn_command_int(st, 1, "EVAL set_auth", &n, "EVAL %s 1 %b %s %s", set_auth_script,
	    key, keylen, amr, acr);
	if (r == KH_OK)
		r = n == 1 ? KH_OK : KH_ERR_NOT_FOUND;
	explicit_bzero(key, sizeof(key));
	return r;
}

int
kh_session_field_get(
    struct kh_store *st, const char *cookie, const char *field, char **value, size_t *len)
{
	char key[KH_STORE_KEY_MAX + 1];
	size_t keylen = 0;
	redisReply *rep = NULL;
	char *v = NULL;
	int r;

	if (value != NULL)
		*value = NULL;
	if (len != NULL)
		*len = 0;
	if (st == NULL || value == NULL || len == NULL || !xfield_ok(field))
		return KH_ERR_INVALID;
	if ((r = kh_session_key(st, cookie, key, &keylen)) != KH_OK)
		return r;
	r = kh_conn_command_retry(st, &rep, "HGET %b %s", key, keylen, field);
	if (r != KH_OK)
		goto out;
	kh_store_mark_up(st);
	if (rep->type == REDIS_REPLY_NIL ||
	    (rep->type == REDIS_REPLY_ERROR && rep->len >= 9 &&
		memcmp(rep->str, "WRONGTYPE", 9) == 0)) {
		r = KH_ERR_NOT_FOUND;
		goto out;
	}
	if (rep->type != REDIS_REPLY_STRING) {
		kh_reply_unexpected("HGET", rep);
		r = KH_ERR_UNAVAILABLE;
		goto out;
	}
	if (rep->len > KH_SESSION_XFIELD_MAX) {
		kh_reply_unexpected("HGET", rep);
		r = KH_ERR_TOO_LARGE;
		goto out;
	}
	if ((v = malloc(rep->len + 1)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	memcpy(v, rep->str, rep->len);
	v[rep->len] = '\0';
	*value = v;
	*len = rep->len;
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
kh_session_id(struct kh_store *st, const char *cookie, char out[65])
{
	unsigned char mac[KH_HMAC_LEN];
	const void *parts[2];
	size_t lens[2];
	int r;

	if (out != NULL)
		out[0] = '\0';
	if (st == NULL || out == NULL)
		return KH_ERR_INVALID;
	if (!kh_session_cookie_valid(cookie))
		return KH_ERR_NOT_FOUND;
	/* Length-prefixed ("sid", cookie): never equal to the Redis key's
	 * HMAC(secret, cookie), which takes the cookie alone. */
	parts[0] = "sid";
	lens[0] = 3;
	parts[1] = cookie;
	lens[1] = KH_SESSION_COOKIE_LEN;
	if ((r = kh_hmac_sha256_parts(st->key, st->keylen, parts, lens, 2, mac)) != KH_OK)
		goto out;
	kh_hex_encode(mac, sizeof(mac), out);
	r = KH_OK;
out:
	explicit_bzero(mac, sizeof(mac));
	return r;
}

/* KEYS[1] user index; ARGV[1] prefix "s:", ARGV[2] most sessions to return.
 * For each member: a session that is gone or not this user's (its "uix"
 * differs) is removed from the index; otherwise its hash, created,
 * auth_time, abs_exp, client_ip and amr are returned, 6 values each. */
static const char list_script[] =
    "local out, n = {}, 0\n"
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local k = ARGV[1] .. h\n"
    "  local v = false\n"
    "  if redis.call('TYPE', k).ok == 'hash' then\n"
    "    v = redis.call('HMGET', k, 'uix', 'created', 'auth_time', 'abs_exp', 'client_ip', 'amr')\n"
    "  end\n"
    "  if not v or v[1] ~= KEYS[1] then\n"
    "    redis.call('SREM', KEYS[1], h)\n"
    "  elseif n < tonumber(ARGV[2]) then\n"
    "    n = n + 1\n"
    "    table.insert(out, h)\n"
    "    for i = 2, 6 do table.insert(out, v[i] or '') end\n"
    "  end\n"
    "end\n"
    "return out\n";

/* KEYS[1] user index; ARGV[1] prefix "s:". Deletes every session of the
 * index that is still this user's, then the index. Returns the count. */
static const char revoke_script[] =
    "local n = 0\n"
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local k = ARGV[1] .. h\n"
    "  if redis.call('TYPE', k).ok == 'hash' and redis.call('HGET', k, 'uix') == KEYS[1] then\n"
    "    n = n + redis.call('DEL', k)\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return n\n";

#define LIST_FIELDS 6

static int
reply_is_hex64(const redisReply *v)
{
	size_t i;

	if (v->type != REDIS_REPLY_STRING || v->len != 2 * KH_HMAC_LEN)
		return 0;
	for (i = 0; i < v->len; i++)
		if (!((v->str[i] >= '0' && v->str[i] <= '9') ||
			(v->str[i] >= 'a' && v->str[i] <= 'f')))
			return 0;
	return 1;
}

static int
info_cmp(const void *a, const void *b)
{
	const struct kh_session_info *x = a, *y = b;

	return x->created < y->created ? -1 : x->created > y->created;
}

void
kh_session_info_free(struct kh_session_info *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		kh_free_str(v[i].client_ip);
		kh_free_str(v[i].amr);
	}
	free(v);
}

int
kh_session_list_user(struct kh_store *st, const char *uid, struct kh_session_info **out, size_t *n)
{
	char ix[KH_STORE_KEY_MAX + 1], spfx[KH_STORE_PREFIX_MAX + 8], max_s[24];
	size_t ixlen = 0, cnt, i, j, kept = 0;
	struct kh_session_info *v = NULL;
	redisReply *rep = NULL;
	const redisReply *const *e;
	int64_t now = kh_time(), limit;
	int r;

	if (out != NULL)
		*out = NULL;
	if (n != NULL)
		*n = 0;
	if (st == NULL || out == NULL || n == NULL)
		return KH_ERR_INVALID;
	if ((r = kh_store_user_key(st, USER_INDEX_TAG, uid, ix, &ixlen)) != KH_OK)
		return r;
	snprintf(spfx, sizeof(spfx), "%ss:", st->prefix);
	snprintf(max_s, sizeof(max_s), "%d", KH_SESSION_LIST_MAX);
	/* Only prunes what is already gone: retried once. */
	r = kh_conn_command_retry(
	    st, &rep, "EVAL %s 1 %b %s %s", list_script, ix, ixlen, spfx, max_s);
	if (r != KH_OK)
		return r;
	r = KH_ERR_UNAVAILABLE;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements % LIST_FIELDS != 0 ||
	    rep->elements / LIST_FIELDS > KH_SESSION_LIST_MAX) {
		kh_reply_unexpected("EVAL list", rep);
		goto out;
	}
	kh_store_mark_up(st);
	if ((cnt = rep->elements / LIST_FIELDS) == 0) {
		r = KH_OK;
		goto out;
	}
	if ((v = calloc(cnt, sizeof(*v))) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < cnt; i++) {
		struct kh_session_info *si = &v[kept];

		e = (const redisReply *const *)rep->element + i * LIST_FIELDS;
		for (j = 1; j < LIST_FIELDS; j++)
			if (e[j]->type != REDIS_REPLY_STRING || e[j]->len > KH_SESSION_FIELD_MAX ||
			    memchr(e[j]->str, '\0', e[j]->len) != NULL)
				break;
		/* A malformed record is skipped: kh_session_get deletes it. */
		if (j < LIST_FIELDS || !reply_is_hex64(e[0]) ||
		    parse_time(e[1], &si->created) != KH_OK ||
		    parse_time(e[2], &si->auth_time) != KH_OK ||
		    parse_time(e[3], &si->absolute_expiry) != KH_OK)
			continue;
		limit = si->created + st->absolute_timeout;
		if (limit < si->absolute_expiry)
			si->absolute_expiry = limit;
		if (si->absolute_expiry <= now)
			continue; /* expired: deleted at its next get */
		memcpy(si->id, e[0]->str, sizeof(si->id) - 1);
		si->id[sizeof(si->id) - 1] = '\0';
		if ((si->client_ip = reply_strdup(e[4])) == NULL ||
		    (si->amr = reply_strdup(e[5])) == NULL) {
			kept++;
			r = KH_ERR_NOMEM;
			goto out;
		}
		kept++;
	}
	qsort(v, kept, sizeof(*v), info_cmp);
	*out = v;
	*n = kept;
	v = NULL; /* transferred */
	r = KH_OK;
out:
	kh_session_info_free(v, kept);
	freeReplyObject(rep);
	explicit_bzero(ix, sizeof(ix));
	return r;
}

int
kh_session_revoke_user(struct kh_store *st, const char *uid, long *count)
{
	char ix[KH_STORE_KEY_MAX + 1], spfx[KH_STORE_PREFIX_MAX + 8];
	size_t ixlen = 0;
	long long n = 0;
	int r;

	if (count != NULL)
		*count = 0;
	if (st == NULL || count == NULL)
		return KH_ERR_INVALID;
	if ((r = kh_store_user_key(st, USER_INDEX_TAG, uid, ix, &ixlen)) != KH_OK)
		return r;
	snprintf(spfx, sizeof(spfx), "%ss:", st->prefix);
	/* Deleting is idempotent: retried once (the count may then be low). */
	r = kh_conn_command_int(
	    st, 1, "EVAL revoke", &n, "EVAL %s 1 %b %s", revoke_script, ix, ixlen, spfx);
	if (r == KH_OK)
		*count = (long)n;
	explicit_bzero(ix, sizeof(ix));
	return r;
}

void
kh_session_free(struct kh_session *s)
{
	if (s == NULL)
		return;
	kh_free_str(s->uid);
	kh_free_str(s->dn);
	kh_free_str(s->display_name);
	kh_free_str(s->mail);
	kh_free_str(s->groups);
	kh_free_str(s->amr);
	kh_free_str(s->acr);
	kh_free_str(s->client_ip);
	kh_free_str(s->family_name);
	kh_free_str(s->given_name);
	kh_free_str(s->employee_number);
	kh_free_str(s->department);
	kh_free_str(s->title);
	explicit_bzero(s, sizeof(*s));
	free(s);
}
