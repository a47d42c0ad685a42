/* Pending protocol requests: sessions/kv.h records under tag "p:".
 *
 * Record layout (text header, then the caller's bytes):
 *   "kp1 <kind> <flags> <created> <bind-hex>\n" data
 * bind = HMAC(server secret, "pending-bind" ‖ id ‖ kh_csrf cookie). */
#include "idp/pending.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/csrf.h"
#include "idp/idp.h"
#include "sessions/kv.h"

#define PENDING_TAG "p:"
#define HEADER_MAX 160

int
kh_pending_id_valid(const char *s)
{
	return s != NULL && strlen(s) == KH_PENDING_ID_LEN &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	    KH_PENDING_ID_LEN;
}

static int
binding(const struct kh_config *cfg, const char *id, const char *cookie, char out[65])
{
	unsigned char mac[KH_HMAC_LEN];
	const void *parts[3] = { "pending-bind", id, cookie };
	size_t lens[3] = { 12, strlen(id), strlen(cookie) };
	int r;

	if ((r = kh_hmac_sha256_parts(
		 cfg->session_key, cfg->session_key_len, parts, lens, 3, mac)) != KH_OK)
		return r;
	kh_hex_encode(mac, sizeof(mac), out);
	explicit_bzero(mac, sizeof(mac));
	return KH_OK;
}

int
kh_pending_save(struct kh_req *req, struct kh_resp *resp, enum kh_pending_kind kind, int flags,
    const void *data, size_t len, char id[KH_PENDING_ID_LEN + 1])
{
	char cookie[KH_CSRF_TOKEN_LEN + 1], bind[65], header[HEADER_MAX];
	unsigned char raw[16];
	struct kh_buf rec;
	int n, r;

	id[0] = '\0';
	if (len > KH_KV_VALUE_MAX - HEADER_MAX)
		return KH_ERR_TOO_LARGE;
	if ((r = kh_csrf_cookie(req, resp, cookie)) != KH_OK ||
	    (r = kh_random(raw, sizeof(raw))) != KH_OK)
		return r;
	{
		/* the encoder writes padding before trimming it: use a full-size buffer */
		char enc[32];
		_Static_assert(sizeof(enc) >= (16 + 2) / 3 * 4 + 1, "b64url buffer");
		kh_b64url_encode(raw, sizeof(raw), enc);
		memcpy(id, enc, KH_PENDING_ID_LEN + 1);
	}
	if ((r = binding(req->app->cfg, id, cookie, bind)) != KH_OK)
		goto out;
	n = snprintf(header, sizeof(header), "kp1 %d %d %" PRId64 " %s\n", (int)kind, flags,
	    kh_time(), bind);
	if (n < 0 || (size_t)n >= sizeof(header)) {
		r = KH_ERR_INTERNAL;
		goto out;
	}
	kh_buf_init(&rec, KH_KV_VALUE_MAX);
	if ((r = kh_buf_append(&rec, header, (size_t)n)) == KH_OK &&
	    (r = kh_buf_append(&rec, data, len)) == KH_OK)
		r = kh_kv_put(
		    req->app->store, PENDING_TAG, id, rec.data, rec.len, KH_PENDING_TTL, 1);
	kh_buf_free(&rec);
out:
	if (r != KH_OK)
		id[0] = '\0';
	explicit_bzero(cookie, sizeof(cookie));
	return r;
}

/* Parses and checks a record read from Redis; moves its data out. */
static int
pending_parse(struct kh_req *req, const char *id, char *rec, size_t reclen,
    enum kh_pending_kind *kind, int *flags, int64_t *created, char **data, size_t *len)
{
	const char *cookie = kh_req_cookie(req, KH_CSRF_COOKIE);
	char bind[65], want[65];
	int k, f, n = 0;
	long long c;
	char *nl, *d;
	size_t dlen;

	if (cookie == NULL || (nl = memchr(rec, '\n', reclen)) == NULL ||
	    (size_t)(nl - rec) >= HEADER_MAX)
		return KH_ERR_NOT_FOUND;
	*nl = '\0';
	if (sscanf(rec, "kp1 %d %d %lld %64s%n", &k, &f, &c, bind, &n) != 4 ||
	    (size_t)n != (size_t)(nl - rec) || (k != KH_PENDING_SAML && k != KH_PENDING_OIDC))
		return KH_ERR_NOT_FOUND;
	if (binding(req->app->cfg, id, cookie, want) != KH_OK || strlen(bind) != 64 ||
	    !kh_ct_equal(bind, want, 64)) {
		kh_warn("pending.binding", "rid", req->rid, "ip", req->client_ip, NULL);
		return KH_ERR_NOT_FOUND;
	}
	dlen = reclen - (size_t)(nl + 1 - rec);
	if (data != NULL) {
		if ((d = malloc(dlen + 1)) == NULL)
			return KH_ERR_NOMEM;
		memcpy(d, nl + 1, dlen);
		d[dlen] = '\0';
		*data = d;
		*len = dlen;
	}
	*kind = (enum kh_pending_kind)k;
	*flags = f;
	*created = (int64_t)c;
	return KH_OK;
}

static int
pending_read(struct kh_req *req, const char *id, int take, enum kh_pending_kind *kind, int *flags,
    int64_t *created, char **data, size_t *len)
{
	char *rec = NULL;
	size_t reclen = 0;
	int r;

	if (data != NULL) {
		*data = NULL;
		*len = 0;
	}
	if (!kh_pending_id_valid(id))
		return KH_ERR_NOT_FOUND;
	/* Peek first even when taking: a browser that is not the owner must not
	 * be able to burn someone else's pending request. */
	if ((r = kh_kv_get(req->app->store, PENDING_TAG, id, &rec, &reclen)) != KH_OK)
		return r;
	r = pending_parse(req, id, rec, reclen, kind, flags, created, data, len);
	kh_freezero(rec, reclen + 1);
	if (r != KH_OK || !take)
		return r;
	if ((r = kh_kv_take(req->app->store, PENDING_TAG, id, &rec, &reclen)) != KH_OK) {
		if (data != NULL) {
			kh_freezero(*data, *len + 1);
			*data = NULL;
		}
		return r; /* taken by a concurrent request: single use */
	}
	kh_freezero(rec, reclen + 1);
	return KH_OK;
}

int
kh_pending_peek(struct kh_req *req, const char *id, enum kh_pending_kind *kind, int *flags,
    int64_t *created, char **data, size_t *len)
{
	return pending_read(req, id, 0, kind, flags, created, data, len);
}

int
kh_pending_take(struct kh_req *req, const char *id, enum kh_pending_kind *kind, int *flags,
    int64_t *created, char **data, size_t *len)
{
	return pending_read(req, id, 1, kind, flags, created, data, len);
}

int
kh_pending_resume_url(enum kh_pending_kind kind, const char *id, struct kh_buf *out)
{
	if (!kh_pending_id_valid(id))
		return KH_ERR_INVALID;
	return kh_buf_appendf(
	    out, "%s?resume=%s", kind == KH_PENDING_SAML ? "/saml/sso" : "/oidc/authorize", id);
}

void
kh_pending_redirect_to_login(struct kh_req *req, struct kh_resp *resp, const char *id)
{
	struct kh_buf b;

	(void)req;
	kh_buf_init(&b, 128);
	if (kh_buf_appendf(&b, "/login?p=%s", id) == KH_OK)
		kh_resp_redirect(resp, 303, kh_buf_cstr(&b));
	kh_buf_free(&b);
}
