/* The shared kh_store and its per-thread hiredis contexts.
 *
 * A redisContext is not thread-safe, so every thread gets its own, created
 * lazily on first use and kept in a pthread key whose destructor closes it
 * when the thread exits. A context is dropped after any error and rebuilt
 * (connect, AUTH, SELECT) on the next call; before a context is reused it is
 * checked for a peer close (Redis restarted) so a command is never written
 * into a connection that is already dead. */
#include "sessions/sessions.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "sessions/store.h"

static void
conn_free(struct kh_conn *kc)
{
	if (kc == NULL)
		return;
	if (kc->ctx != NULL)
		redisFree(kc->ctx);
	free(kc);
}

/* Unlinks kc from its store's list; the caller holds st->lock. */
static void
conn_unlink(struct kh_store *st, struct kh_conn *kc)
{
	if (kc->prev != NULL)
		kc->prev->next = kc->next;
	else
		st->conns = kc->next;
	if (kc->next != NULL)
		kc->next->prev = kc->prev;
	kc->prev = kc->next = NULL;
}

/* pthread key destructor: the thread is exiting. */
static void
conn_thread_exit(void *arg)
{
	struct kh_conn *kc = arg;
	struct kh_store *st = kc->st;

	pthread_mutex_lock(&st->lock);
	conn_unlink(st, kc);
	pthread_mutex_unlock(&st->lock);
	conn_free(kc);
}

int
kh_store_new(const struct kh_config *cfg, struct kh_store **out)
{
	struct kh_store *st = NULL;
	int r = KH_ERR_INTERNAL, key_ok = 0, mutex_ok = 0;

	*out = NULL;
	if (cfg == NULL || cfg->redis_host == NULL || cfg->redis_prefix == NULL)
		return KH_ERR_CONFIG;
	if (strlen(cfg->redis_prefix) > KH_STORE_PREFIX_MAX || cfg->session_key_len < 16 ||
	    cfg->session_key_len > sizeof(st->key) || cfg->redis_port < 1 ||
	    cfg->redis_port > 65535 || cfg->redis_timeout_ms < 1 || cfg->session_idle_timeout < 1 ||
	    cfg->session_absolute_timeout < 1 || cfg->login_user_max_failures < 1 ||
	    cfg->login_ip_max_failures < 1 || cfg->login_failure_window < 1 ||
	    cfg->login_lock_duration < 1)
		return KH_ERR_CONFIG;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return KH_ERR_NOMEM;
	if ((st->host = kh_strdup(cfg->redis_host)) == NULL ||
	    (st->password = kh_strdup(cfg->redis_password ? cfg->redis_password : "")) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	st->port = (int)cfg->redis_port;
	st->db = cfg->redis_db;
	st->timeout_ms = cfg->redis_timeout_ms;
	kh_strlcpy(st->prefix, cfg->redis_prefix, sizeof(st->prefix));
	memcpy(st->key, cfg->session_key, cfg->session_key_len);
	st->keylen = cfg->session_key_len;
	st->idle_timeout = cfg->session_idle_timeout;
	st->absolute_timeout = cfg->session_absolute_timeout;
	st->user_max_failures = cfg->login_user_max_failures;
	st->ip_max_failures = cfg->login_ip_max_failures;
	st->failure_window = cfg->login_failure_window;
	st->lock_duration = cfg->login_lock_duration;
	atomic_init(&st->down, 0);
	if (pthread_mutex_init(&st->lock, NULL) != 0)
		goto out;
	mutex_ok = 1;
	if (pthread_key_create(&st->tls, conn_thread_exit) != 0)
		goto out;
	key_ok = 1;
	*out = st;
	st = NULL; /* transferred */
	r = KH_OK;
out:
	if (st != NULL) {
		if (key_ok)
			pthread_key_delete(st->tls);
		if (mutex_ok)
			pthread_mutex_destroy(&st->lock);
		kh_free_str(st->host);
		kh_free_str(st->password);
		explicit_bzero(st, sizeof(*st));
		free(st);
	}
	return r;
}

/* Callers guarantee that no other thread uses st any more (worker threads
 * joined). Contexts of threads that are still alive but idle are closed here;
 * their key slots are never read again once the key is deleted. */
void
kh_store_free(struct kh_store *st)
{
	struct kh_conn *kc, *next;

	if (st == NULL)
		return;
	pthread_setspecific(st->tls, NULL);
	pthread_key_delete(st->tls);
	pthread_mutex_lock(&st->lock);
	for (kc = st->conns; kc != NULL; kc = next) {
		next = kc->next;
		conn_free(kc);
	}
	st->conns = NULL;
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_destroy(&st->lock);
	kh_free_str(st->host);
	kh_free_str(st->password);
	explicit_bzero(st, sizeof(*st));
	free(st);
}

void
kh_store_thread_cleanup(struct kh_store *st)
{
	struct kh_conn *kc;

	if (st == NULL || (kc = pthread_getspecific(st->tls)) == NULL)
		return;
	pthread_setspecific(st->tls, NULL);
	pthread_mutex_lock(&st->lock);
	conn_unlink(st, kc);
	pthread_mutex_unlock(&st->lock);
	conn_free(kc);
}

/* Logs the first failure after a healthy period; later ones stay quiet so an
 * outage does not flood the log with one line per request. */
static void
store_mark_down(struct kh_store *st, const char *event, const char *why)
{
	char port[16];

	if (atomic_exchange(&st->down, 1) != 0)
		return;
	snprintf(port, sizeof(port), "%d", st->port);
	kh_warn(event, "host", st->host, "port", port, "error", why, NULL);
}

void
kh_store_mark_up(struct kh_store *st)
{
	char port[16];

	if (atomic_load(&st->down) == 0 || atomic_exchange(&st->down, 0) == 0)
		return;
	snprintf(port, sizeof(port), "%d", st->port);
	kh_info("redis.recovered", "host", st->host, "port", port, NULL);
}

/* 1 when the peer has closed the connection or sent bytes nobody asked for
 * (both mean the context must not be used). One non-blocking peek. */
static int
conn_dead(const redisContext *c)
{
	char b;
	ssize_t n;

	if (c->err != 0 || c->fd < 0)
		return 1;
	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	return 1;
}

/* The first word of a Redis error ("WRONGPASS", "NOAUTH", "ERR"), safe to log. */
static void
err_word(const redisReply *r, char *out, size_t outlen)
{
	size_t n = 0;

	if (r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL)
		while (n < r->len && n + 1 < outlen && r->str[n] >= 'A' && r->str[n] <= 'Z')
			n++;
	if (n > 0)
		memcpy(out, r->str, n);
	out[n] = '\0';
}

void
kh_reply_unexpected(const char *what, const redisReply *r)
{
	char type[16], word[24];

	snprintf(type, sizeof(type), "%d", r != NULL ? r->type : -1);
	err_word(r, word, sizeof(word));
	kh_warn("redis.reply", "command", what, "type", type, "error", word[0] ? word : NULL, NULL);
}

static int
reply_is_ok(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STATUS && r->len == 2 &&
	    memcmp(r->str, "OK", 2) == 0;
}

/* Connects, AUTHs and SELECTs in one round trip. */
static int
conn_open(struct kh_store *st, redisContext **out)
{
	redisContext *c = NULL;
	redisReply *rep[2] = { NULL, NULL };
	struct timeval tv;
	char db[24], word[24];
	size_t n = 0, i;
	int r = KH_ERR_UNAVAILABLE;

	*out = NULL;
	tv.tv_sec = st->timeout_ms / 1000;
	tv.tv_usec = (st->timeout_ms % 1000) * 1000;
	c = redisConnectWithTimeout(st->host, st->port, tv);
	if (c == NULL) {
		store_mark_down(st, "redis.connect", "out of memory");
		r = KH_ERR_NOMEM;
		goto out;
	}
	if (c->err != 0) {
		store_mark_down(st, "redis.connect", c->errstr);
		goto out;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		store_mark_down(st, "redis.connect", "cannot set the socket timeout");
		goto out;
	}
	if (st->password[0] != '\0') {
		if (redisAppendCommand(c, "AUTH %s", st->password) != REDIS_OK)
			goto out;
		n++;
	}
	if (st->db != 0) {
		snprintf(db, sizeof(db), "%ld", st->db);
		if (redisAppendCommand(c, "SELECT %s", db) != REDIS_OK)
			goto out;
		n++;
	}
	for (i = 0; i < n; i++) {
		if (redisGetReply(c, (void **)&rep[i]) != REDIS_OK || rep[i] == NULL) {
			store_mark_down(st, "redis.connect", c->errstr[0] ? c->errstr : "no reply");
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (!reply_is_ok(rep[i])) {
			/* The message of a failed AUTH never repeats the password,
			 * but log only its first word anyway. */
			err_word(rep[i], word, sizeof(word));
			store_mark_down(st,
			    i == 0 && st->password[0] != '\0' ? "redis.auth" : "redis.select",
			    word[0] ? word : "unexpected reply");
			goto out;
		}
	}
	*out = c;
	c = NULL; /* transferred */
	r = KH_OK;
out:
	kh_replies_free(rep, 2);
	if (c != NULL)
		redisFree(c);
	return r;
}

int
kh_conn_get(struct kh_store *st, redisContext **out)
{
	struct kh_conn *kc;
	int r;

	*out = NULL;
	if ((kc = pthread_getspecific(st->tls)) == NULL) {
		if ((kc = calloc(1, sizeof(*kc))) == NULL)
			return KH_ERR_NOMEM;
		kc->st = st;
		if (pthread_setspecific(st->tls, kc) != 0) {
			free(kc);
			return KH_ERR_INTERNAL;
		}
		pthread_mutex_lock(&st->lock);
		kc->next = st->conns;
		if (st->conns != NULL)
			st->conns->prev = kc;
		st->conns = kc;
		pthread_mutex_unlock(&st->lock);
	}
	if (kc->ctx != NULL && conn_dead(kc->ctx)) {
		redisFree(kc->ctx);
		kc->ctx = NULL;
	}
	if (kc->ctx == NULL && (r = conn_open(st, &kc->ctx)) != KH_OK)
		return r;
	*out = kc->ctx;
	return KH_OK;
}

void
kh_conn_drop(struct kh_store *st)
{
	struct kh_conn *kc;

	if ((kc = pthread_getspecific(st->tls)) == NULL || kc->ctx == NULL)
		return;
	redisFree(kc->ctx);
	kc->ctx = NULL;
}

void
kh_replies_free(redisReply **replies, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (replies[i] != NULL)
			freeReplyObject(replies[i]);
		replies[i] = NULL;
	}
}

int
kh_conn_replies(struct kh_store *st, redisContext *c, redisReply **replies, size_t n)
{
	struct kh_conn *kc;
	size_t i;
	void *rep;
	int err;

	for (i = 0; i < n; i++)
		replies[i] = NULL;
	for (i = 0; i < n; i++) {
		rep = NULL;
		if (redisGetReply(c, &rep) != REDIS_OK || rep == NULL) {
			err = errno;
			store_mark_down(st, "redis.io", c->errstr[0] ? c->errstr : "no reply");
			if ((kc = pthread_getspecific(st->tls)) != NULL)
				kc->broken = c->err == REDIS_ERR_EOF ||
				    (c->err == REDIS_ERR_IO && (err == ECONNRESET || err == EPIPE));
			kh_replies_free(replies, n);
			kh_conn_drop(st);
			return KH_ERR_UNAVAILABLE;
		}
		replies[i] = rep;
	}
	return KH_OK;
}

int
kh_conn_retryable(struct kh_store *st)
{
	struct kh_conn *kc = pthread_getspecific(st->tls);

	return kc != NULL && kc->broken;
}

int
kh_store_ping(struct kh_store *st)
{
	redisReply *rep = NULL;
	int r = KH_ERR_UNAVAILABLE;

	if (st == NULL)
		return KH_ERR_INVALID;
	/* Idempotent: one fresh connection is tried after a failure. */
	r = kh_conn_command_retry(st, &rep, "PING");
	if (r != KH_OK)
		return r;
	if (rep->type == REDIS_REPLY_STATUS && rep->len == 4 && memcmp(rep->str, "PONG", 4) == 0) {
		kh_store_mark_up(st);
		r = KH_OK;
	} else {
		kh_reply_unexpected("PING", rep);
		r = KH_ERR_UNAVAILABLE;
	}
	freeReplyObject(rep);
	return r;
}

int
kh_store_key_from_mac(const struct kh_store *st, const char *tag,
    const unsigned char mac[KH_HMAC_LEN], char *out, size_t *outlen)
{
	size_t plen = strlen(st->prefix), tlen = strlen(tag);

	*outlen = 0;
	out[0] = '\0';
	if (plen + tlen + 2 * KH_HMAC_LEN > KH_STORE_KEY_MAX)
		return KH_ERR_INTERNAL;
	memcpy(out, st->prefix, plen);
	memcpy(out + plen, tag, tlen);
	kh_hex_encode(mac, KH_HMAC_LEN, out + plen + tlen);
	*outlen = plen + tlen + 2 * KH_HMAC_LEN;
	return KH_OK;
}

void
kh_user_fold(const char *in, char *out, size_t outlen)
{
	size_t i;

	if (outlen == 0)
		return;
	for (i = 0; in[i] != '\0' && i + 1 < outlen; i++)
		out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] - 'A' + 'a') : in[i];
	out[i] = '\0';
}

int
kh_store_user_key(
    const struct kh_store *st, const char *tag, const char *uid, char *out, size_t *outlen)
{
	unsigned char mac[KH_HMAC_LEN];
	char folded[KH_THROTTLE_KEY_MAX + 1];
	const void *parts[2];
	size_t lens[2], n;
	int r;

	*outlen = 0;
	out[0] = '\0';
	if (uid == NULL || (n = strlen(uid)) == 0)
		return KH_ERR_INVALID;
	if (n > KH_THROTTLE_KEY_MAX)
		return KH_ERR_TOO_LARGE;
	kh_user_fold(uid, folded, sizeof(folded));
	parts[0] = "user";
	lens[0] = 4;
	parts[1] = folded;
	lens[1] = n;
	if ((r = kh_hmac_sha256_parts(st->key, st->keylen, parts, lens, 2, mac)) == KH_OK)
		r = kh_store_key_from_mac(st, tag, mac, out, outlen);
	explicit_bzero(mac, sizeof(mac));
	explicit_bzero(folded, sizeof(folded));
	return r;
}

int
kh_conn_vcommand(struct kh_store *st, int retry, redisReply **rep, const char *fmt, va_list ap)
{
	redisContext *c;
	va_list aq;
	int attempt, rc, r = KH_ERR_UNAVAILABLE;

	*rep = NULL;
	for (attempt = 0; attempt < (retry ? 2 : 1); attempt++) {
		if ((r = kh_conn_get(st, &c)) != KH_OK)
			return r;
		va_copy(aq, ap);
		rc = redisvAppendCommand(c, fmt, aq);
		va_end(aq);
		if (rc != REDIS_OK) {
			kh_conn_drop(st);
			r = KH_ERR_UNAVAILABLE;
			continue;
		}
		if ((r = kh_conn_replies(st, c, rep, 1)) == KH_OK || !kh_conn_retryable(st))
			break;
	}
	return r;
}

int
kh_conn_command_retry(struct kh_store *st, redisReply **rep, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = kh_conn_vcommand(st, 1, rep, fmt, ap);
	va_end(ap);
	return r;
}

int
kh_conn_command_int(
    struct kh_store *st, int retry, const char *what, long long *v, const char *fmt, ...)
{
	redisReply *rep = NULL;
	va_list ap;
	int r;

	*v = 0;
	va_start(ap, fmt);
	r = kh_conn_vcommand(st, retry, &rep, fmt, ap);
	va_end(ap);
	if (r != KH_OK)
		goto out;
	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
		kh_reply_unexpected(what, rep);
		r = KH_ERR_UNAVAILABLE;
		goto out;
	}
	*v = rep->integer;
	kh_store_mark_up(st);
	r = KH_OK;
out:
	kh_replies_free(&rep, 1);
	return r;
}
