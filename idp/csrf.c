#include "idp/csrf.h"

#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/buf.h"
#include "common/errors.h"
#include "idp/idp.h"

static int
valid_cookie(const char *c)
{
	return c != NULL && strlen(c) == KH_CSRF_TOKEN_LEN &&
	    strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	    KH_CSRF_TOKEN_LEN;
}

static int
token_for(const struct kh_config *cfg, const char *cookie, char token[KH_CSRF_TOKEN_LEN + 1])
{
	unsigned char mac[KH_HMAC_LEN];
	const void *parts[2] = { "csrf-v1", cookie };
	size_t lens[2] = { 7, strlen(cookie) };
	int r;

	if ((r = kh_hmac_sha256_parts(
		 cfg->session_key, cfg->session_key_len, parts, lens, 2, mac)) != KH_OK)
		return r;
	kh_b64url_encode(mac, sizeof(mac), token);
	return KH_OK;
}

int
kh_csrf_cookie(struct kh_req *req, struct kh_resp *resp, char value[KH_CSRF_TOKEN_LEN + 1])
{
	const char *cookie = kh_req_cookie(req, KH_CSRF_COOKIE);
	char *fresh = NULL;
	int r;

	value[0] = '\0';
	if (valid_cookie(cookie)) {
		memcpy(value, cookie, KH_CSRF_TOKEN_LEN + 1);
		return KH_OK;
	}
	/* One fresh value per response, even when asked twice. */
	if (req->csrf_fresh[0] != '\0') {
		memcpy(value, req->csrf_fresh, KH_CSRF_TOKEN_LEN + 1);
		return KH_OK;
	}
	if ((r = kh_random_token(32, &fresh)) != KH_OK)
		return r;
	kh_resp_cookie(resp, req, KH_CSRF_COOKIE, fresh, -1);
	memcpy(req->csrf_fresh, fresh, KH_CSRF_TOKEN_LEN + 1);
	memcpy(value, fresh, KH_CSRF_TOKEN_LEN + 1);
	kh_free_str(fresh);
	return KH_OK;
}

int
kh_csrf_token(struct kh_req *req, struct kh_resp *resp, char token[KH_CSRF_TOKEN_LEN + 1])
{
	char cookie[KH_CSRF_TOKEN_LEN + 1];
	int r;

	token[0] = '\0';
	if ((r = kh_csrf_cookie(req, resp, cookie)) != KH_OK)
		return r;
	r = token_for(req->app->cfg, cookie, token);
	explicit_bzero(cookie, sizeof(cookie));
	return r;
}

int
kh_csrf_check(struct kh_req *req)
{
	const char *cookie = kh_req_cookie(req, KH_CSRF_COOKIE);
	const char *origin = kh_req_header(req, "Origin");
	const char *sent;
	char want[KH_CSRF_TOKEN_LEN + 1];
	size_t len;
	int ok;

	if (origin != NULL && strcmp(origin, req->app->origin) != 0)
		return 0;
	if (kh_param_count(&req->form, KH_CSRF_FIELD) != 1 || !valid_cookie(cookie))
		return 0;
	sent = kh_param_get(&req->form, KH_CSRF_FIELD, &len);
	if (len != KH_CSRF_TOKEN_LEN || token_for(req->app->cfg, cookie, want) != KH_OK)
		return 0;
	ok = kh_ct_equal(sent, want, KH_CSRF_TOKEN_LEN);
	explicit_bzero(want, sizeof(want));
	return ok;
}
