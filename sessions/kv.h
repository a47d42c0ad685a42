/* Short-lived protocol state in Redis: pending login requests, authorization
 * codes, refresh-token families, replay caches (AuthnRequest IDs, jti).
 * Keys are prefix + tag + an id the caller chose; callers hash secret ids
 * (codes, tokens) with kh_kv_secret_id() first so a Redis dump yields nothing
 * usable. Values are opaque bytes up to KH_KV_VALUE_MAX. Same per-thread
 * connection and fail-closed rules as sessions.h. */
#ifndef KH_KV_H
#define KH_KV_H

#include <stddef.h>

struct kh_store;

#define KH_KV_VALUE_MAX (256 * 1024)
#define KH_KV_ID_MAX 256

/* tag: a short constant naming the kind, e.g. "p:" (pending), "c:" (code).
 * id: [A-Za-z0-9._:-], at most KH_KV_ID_MAX bytes (else KH_ERR_INVALID). */

/* SET key value EX ttl [NX]. With nx: KH_ERR_EXISTS when the key exists
 * (replay caches, single-use codes). */
int kh_kv_put(struct kh_store *st, const char *tag, const char *id, const void *val, size_t len,
    long ttl, int nx);
/* GET: *val is a NUL-terminated copy (free with kh_freezero(*val, *len + 1)).
 * KH_ERR_NOT_FOUND when absent. */
int kh_kv_get(struct kh_store *st, const char *tag, const char *id, char **val, size_t *len);
/* GETDEL: read and delete in one step (single use). */
int kh_kv_take(struct kh_store *st, const char *tag, const char *id, char **val, size_t *len);
int kh_kv_del(struct kh_store *st, const char *tag, const char *id);
/* INCR with a TTL set when the counter is created; *out = the new value. */
int kh_kv_incr(struct kh_store *st, const char *tag, const char *id, long ttl, long *out);
/* hex(HMAC(server secret, purpose ‖ secret)) into out[65]: the Redis id of a
 * secret value such as an authorization code or a refresh token. */
int kh_kv_secret_id(struct kh_store *st, const char *purpose, const char *secret, char out[65]);

#endif
