/* Discovery, JWKS, userinfo, introspection (RFC 7662) and revocation
 * (RFC 7009). */
#include <stdlib.h>
#include <string.h>

#include "certs/keys.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/apps.h"
#include "idp/idp.h"
#include "idp/oidc/oidc.h"
#include "idp/oidc/tokens.h"
#include "sessions/kv.h"

void
oidc_handle_discovery(struct kh_req *req, struct kh_resp *resp)
{
	struct oidc_global *g = oidc_global(req->app);

	if (g == NULL) {
		oidc_error_json(resp, 500, "server_error", NULL);
		return;
	}
	resp->status = 200;
	resp->content_type = "application/json";
	kh_buf_append(&resp->body, g->discovery, g->discovery_len);
	kh_resp_header(resp, "Access-Control-Allow-Origin", "*");
}

void
oidc_handle_jwks(struct kh_req *req, struct kh_resp *resp)
{
	if (req->app->keys == NULL || kh_keys_jwks(req->app->keys, &resp->body) != KH_OK) {
		kh_buf_reset(&resp->body);
		oidc_error_json(resp, 500, "server_error", "no signing keys");
		return;
	}
	resp->status = 200;
	resp->content_type = "application/jwk-set+json";
	kh_resp_header(resp, "Access-Control-Allow-Origin", "*");
}

/* ---- userinfo --------------------------------------------------------- */

static void
bearer_error(struct kh_resp *resp, int status, const char *err)
{
	char h[128];

	oidc_error_json(resp, status, err, NULL);
	if (strcmp(err, "invalid_request") == 0 && status == 401)
		kh_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"kakehashi\"");
	else {
		snprintf(h, sizeof(h), "Bearer realm=\"kakehashi\", error=\"%s\"", err);
		kh_resp_header(resp, "WWW-Authenticate", h);
	}
}

void
oidc_handle_userinfo(struct kh_req *req, struct kh_resp *resp)
{
	const char *authz = kh_req_header(req, "Authorization"), *token = NULL, *sc = NULL;
	const char *sub = NULL;
	json_t *rec = NULL, *out = NULL, *cl;
	size_t len = 0;
	int r;

	if (authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0) {
		token = authz + 7;
		while (*token == ' ')
			token++;
		if (kh_param_get(&req->form, "access_token", NULL) != NULL) {
			bearer_error(resp, 400, "invalid_request");
			return;
		}
	} else if (authz == NULL && req->method == KH_POST) {
		/* RFC 6750 2.2: form-encoded body parameter */
		token = kh_param_get(&req->form, "access_token", &len);
		if (kh_param_count(&req->form, "access_token") > 1 ||
		    (token != NULL && strlen(token) != len)) {
			bearer_error(resp, 400, "invalid_request");
			return;
		}
	}
	if (token == NULL || *token == '\0') {
		bearer_error(resp, 401, "invalid_request");
		return;
	}
	r = oidc_access_token_find(req->app, token, &rec);
	if (r == KH_ERR_NOT_FOUND || r == KH_ERR_INVALID) {
		bearer_error(resp, 401, "invalid_token");
		return;
	}
	if (r != KH_OK) {
		oidc_error_json(resp, 503, "temporarily_unavailable", NULL);
		return;
	}
	oidc_json_str(rec, "sc", &sc);
	oidc_json_str(rec, "s", &sub);
	if (json_object_get(rec, "u") == NULL || !oidc_scope_has(sc, "openid")) {
		bearer_error(resp, 403, "insufficient_scope");
		goto out;
	}
	out = json_pack("{ss}", "sub", sub != NULL ? sub : "");
	cl = json_object_get(rec, "cl");
	if (out != NULL && json_is_object(cl))
		json_object_update_missing(out, cl);
	oidc_json_resp(resp, 200, out);
out:
	json_decref(rec);
}

/* ---- introspection and revocation --------------------------------------- */

void
oidc_handle_introspect(struct kh_req *req, struct kh_resp *resp)
{
	struct oidc_global *g = oidc_global(req->app);
	struct kh_apps_view *v = NULL;
	const struct oidc_client *c;
	const char *token, *hint, *s;
	json_t *rec = NULL, *out = NULL, *x;
	size_t len = 0;
	int r;

	if (g == NULL) {
		oidc_error_json(resp, 500, "server_error", NULL);
		return;
	}
	if (req->form_error != KH_OK || req->form.overflow || req->form.duplicates) {
		oidc_error_json(resp, 400, "invalid_request", "malformed or repeated parameters");
		return;
	}
	v = kh_apps_acquire(req->app);
	if ((c = oidc_client_auth_or_respond(req, resp, v, g->introspect_url)) == NULL)
		goto out;
	if (c->auth == OIDC_AUTH_NONE) {
		oidc_error_json(
		    resp, 401, "invalid_client", "introspection needs a confidential client");
		goto out;
	}
	token = kh_param_get(&req->form, "token", &len);
	hint = kh_param_get(&req->form, "token_type_hint", NULL);
	if (token == NULL || strlen(token) != len) {
		oidc_error_json(resp, 400, "invalid_request", "token is required");
		goto out;
	}
	r = KH_ERR_NOT_FOUND;
	if (hint == NULL || strcmp(hint, "refresh_token") != 0)
		r = oidc_access_token_find(req->app, token, &rec);
	if (r == KH_ERR_NOT_FOUND) {
		/* A refresh token: only its own client may look at it. */
		r = oidc_rec_read(req->app, "ort:", "oidc-rt", token, 0, &rec, NULL);
		if (r == KH_OK &&
		    (!oidc_json_str(rec, "c", &s) || strcmp(s, c->client_id) != 0 ||
			oidc_grant_live(req->app, json_string_value(json_object_get(rec, "g"))) !=
			    KH_OK)) {
			json_decref(rec);
			rec = NULL;
			r = KH_ERR_NOT_FOUND;
		}
		if (r == KH_OK) {
			json_object_set_new(rec, "exp",
			    json_integer(json_integer_value(json_object_get(rec, "rt_iat")) +
				req->app->cfg->oidc_refresh_token_lifetime));
			json_object_set_new(rec, "iat",
			    json_object_get(rec, "rt_iat") != NULL
				? json_incref(json_object_get(rec, "rt_iat"))
				: json_integer(kh_time()));
			json_object_set_new(rec, "tt", json_string("refresh_token"));
		}
	}
	if (r == KH_ERR_NOT_FOUND || r == KH_ERR_INVALID) {
		oidc_json_resp(resp, 200, json_pack("{sb}", "active", 0));
		goto out;
	}
	if (r != KH_OK) {
		oidc_error_json(resp, 503, "temporarily_unavailable", NULL);
		goto out;
	}
	out = json_pack("{sb ss}", "active", 1, "iss", g->issuer);
	if (out == NULL) {
		oidc_error_json(resp, 500, "server_error", NULL);
		goto out;
	}
	if (oidc_json_str(rec, "sc", &s))
		json_object_set_new(out, "scope", json_string(s));
	if (oidc_json_str(rec, "c", &s)) {
		json_object_set_new(out, "client_id", json_string(s));
		json_object_set_new(out, "aud", json_string(s));
	}
	if (oidc_json_str(rec, "s", &s))
		json_object_set_new(out, "sub", json_string(s));
	if (oidc_json_str(rec, "u", &s))
		json_object_set_new(out, "username", json_string(s));
	if (oidc_json_str(rec, "j", &s))
		json_object_set_new(out, "jti", json_string(s));
	if ((x = json_object_get(rec, "exp")) != NULL)
		json_object_set(out, "exp", x);
	if ((x = json_object_get(rec, "iat")) != NULL)
		json_object_set(out, "iat", x);
	json_object_set_new(
	    out, "token_type", json_string(oidc_json_str(rec, "tt", &s) ? s : "Bearer"));
	oidc_json_resp(resp, 200, out);
out:
	json_decref(rec);
	kh_apps_release(req->app, v);
}

void
oidc_handle_revoke(struct kh_req *req, struct kh_resp *resp)
{
	struct oidc_global *g = oidc_global(req->app);
	struct kh_apps_view *v = NULL;
	const struct oidc_client *c;
	const char *token, *s, *gid;
	json_t *rec = NULL;
	char hid[65];
	size_t len = 0;
	int r;

	if (g == NULL) {
		oidc_error_json(resp, 500, "server_error", NULL);
		return;
	}
	if (req->form_error != KH_OK || req->form.overflow || req->form.duplicates) {
		oidc_error_json(resp, 400, "invalid_request", "malformed or repeated parameters");
		return;
	}
	v = kh_apps_acquire(req->app);
	if ((c = oidc_client_auth_or_respond(req, resp, v, g->revoke_url)) == NULL)
		goto out;
	token = kh_param_get(&req->form, "token", &len);
	if (token == NULL || strlen(token) != len) {
		oidc_error_json(resp, 400, "invalid_request", "token is required");
		goto out;
	}
	/* Access token: delete its record (JWT or opaque alike). */
	r = oidc_rec_read(req->app, "oat:", "oidc-at", token, 0, &rec, hid);
	if (r == KH_OK && oidc_json_str(rec, "c", &s) && strcmp(s, c->client_id) == 0) {
		kh_kv_del(req->app->store, "oat:", hid);
		kh_audit("oidc.revoke", "rid", req->rid, "client_id", c->client_id, "token",
		    "access_token", NULL);
	} else if (r == KH_ERR_NOT_FOUND) {
		/* Refresh token: the whole grant goes (its access tokens too). */
		r = oidc_rec_read(req->app, "ort:", "oidc-rt", token, 0, &rec, hid);
		if (r == KH_OK && oidc_json_str(rec, "c", &s) && strcmp(s, c->client_id) == 0) {
			if (oidc_json_str(rec, "g", &gid))
				oidc_grant_revoke(req->app, gid);
			kh_kv_del(req->app->store, "ort:", hid);
			kh_audit("oidc.revoke", "rid", req->rid, "client_id", c->client_id, "token",
			    "refresh_token", NULL);
		}
	}
	if (r != KH_OK && r != KH_ERR_NOT_FOUND && r != KH_ERR_INVALID) {
		oidc_error_json(resp, 503, "temporarily_unavailable", NULL);
		goto out;
	}
	/* RFC 7009 2.2: 200 whether or not the token was known. */
	resp->status = 200;
	resp->content_type = "application/json";
	kh_buf_append_str(&resp->body, "{}");
out:
	json_decref(rec);
	kh_apps_release(req->app, v);
}
