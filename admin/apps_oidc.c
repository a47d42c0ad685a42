/* Admin API for OIDC clients (admin role; routed by admin/routes.c):
 *   POST /admin/api/v1/apps/oidc                create
 *   PUT  /admin/api/v1/apps/{id}                update (an OIDC app)
 *   POST /admin/api/v1/apps/{id}/rotate-secret  new client secret
 *
 * Body: an app document, {"id","name","enabled","groups","category",
 * "oidc":{client_id (default: id), public, redirect_uris,
 * post_logout_redirect_uris, token_endpoint_auth_method, jwks | jwks_uri,
 * scopes, groups, pairwise, backchannel_logout_uri, access_token_format,
 * id_token_signed_response_alg}}. secret_hash is never accepted from the
 * caller: the server makes a 256-bit secret, stores only
 * HMAC-SHA-256(server key, client_id ‖ secret) and shows the secret once, in
 * the answer to create / rotate-secret ("client_secret"). */
#include <string.h>

#include "admin/admin.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "idp/apps.h"
#include "idp/idp.h"
#include "idp/oidc/oidc.h"

static int
needs_secret(json_t *o)
{
	const char *m = json_string_value(json_object_get(o, "token_endpoint_auth_method"));

	if (json_is_true(json_object_get(o, "public")))
		return 0;
	return m == NULL || strcmp(m, "client_secret_basic") == 0 ||
	    strcmp(m, "client_secret_post") == 0;
}

/* Makes a new secret for the client in o: secret_hash set, *secret (free
 * with kh_free_str) to show once. */
static int
new_secret(struct kh_req *req, json_t *o, char **secret)
{
	const char *cid = json_string_value(json_object_get(o, "client_id"));
	char hash[KH_OIDC_HASH_HEX];
	int r;

	*secret = NULL;
	if ((r = kh_random_token(KH_OIDC_SECRET_BYTES, secret)) != KH_OK)
		return r;
	if ((r = kh_oidc_secret_hash(req->app->cfg, cid, *secret, hash)) != KH_OK) {
		kh_free_str(*secret);
		*secret = NULL;
		return r;
	}
	json_object_set_new(o, "secret_hash", json_string(hash));
	explicit_bzero(hash, sizeof(hash));
	return KH_OK;
}

static void
answer(struct kh_req *req, struct kh_resp *resp, int status, json_t *doc, long long version,
    const char *secret)
{
	json_t *shown = json_deep_copy(doc), *body;

	json_object_del(json_object_get(shown, "oidc"), "secret_hash");
	body = json_pack("{so sI}", "app", shown, "version", (json_int_t)version);
	if (body != NULL && secret != NULL)
		json_object_set_new(body, "client_secret", json_string(secret));
	kh_apps_refresh(req->app); /* visible on this daemon at once */
	kh_admin_json(resp, status, body);
}

/* Validates the oidc object of doc; 400 answered on failure. */
static int
check_or_respond(struct kh_resp *resp, json_t *doc)
{
	json_t *o = json_object_get(doc, "oidc");
	const char *why = NULL;
	char msg[200];

	if (!json_is_object(o)) {
		kh_admin_error(resp, 400, "invalid_field", "oidc: an object is required.",
		    "oidc オブジェクトが必要です。");
		return KH_ERR_INVALID;
	}
	if (json_object_get(o, "client_id") == NULL)
		json_object_set(o, "client_id", json_object_get(doc, "id"));
	if (kh_oidc_client_doc_check(o, &why) != KH_OK) {
		snprintf(msg, sizeof(msg), "%s: invalid value.", why != NULL ? why : "oidc");
		kh_admin_error(
		    resp, 400, "invalid_field", msg, "OIDC クライアントの設定が不正です。");
		return KH_ERR_INVALID;
	}
	return KH_OK;
}

void
kh_admin_apps_oidc_create(struct kh_req *req, struct kh_resp *resp)
{
	json_t *doc = NULL, *o;
	char *secret = NULL;
	long long version = 0;

	if (kh_admin_read_json_or_respond(req, resp, &doc) != KH_OK)
		return;
	if (kh_admin_app_common_or_respond(req, resp, doc, "oidc") != KH_OK)
		goto out;
	o = json_object_get(doc, "oidc");
	if (json_is_object(o) && json_object_get(o, "secret_hash") != NULL) {
		kh_admin_error(resp, 400, "invalid_field",
		    "oidc.secret_hash is set by the server, never by the caller.",
		    "oidc.secret_hash はサーバーが設定します。");
		goto out;
	}
	if (json_is_object(o) && json_object_get(o, "client_id") == NULL)
		json_object_set(o, "client_id", json_object_get(doc, "id"));
	if (json_is_object(o) && needs_secret(o) && new_secret(req, o, &secret) != KH_OK) {
		kh_admin_error(resp, 500, "internal", "Cannot make a secret.", "内部エラーです。");
		goto out;
	}
	if (check_or_respond(resp, doc) != KH_OK)
		goto out;
	if (kh_admin_app_save_or_respond(req, resp, doc, 1, &version) != KH_OK)
		goto out;
	kh_admin_audit(
	    req, "admin.app_oidc_create", json_string_value(json_object_get(doc, "id")), "ok");
	answer(req, resp, 201, doc, version, secret);
out:
	kh_free_str(secret);
	json_decref(doc);
}

void
kh_admin_apps_oidc_update(struct kh_req *req, struct kh_resp *resp, const char *id)
{
	json_t *doc = NULL, *old = NULL, *o, *oo;
	const char *cid, *ocid;
	char *secret = NULL;
	long long version = 0;

	if (kh_admin_read_json_or_respond(req, resp, &doc) != KH_OK)
		return;
	if (kh_admin_app_load_or_respond(req, resp, id, &old) != KH_OK)
		goto out;
	json_object_set_new(doc, "id", json_string(id));
	if (kh_admin_app_common_or_respond(req, resp, doc, "oidc") != KH_OK)
		goto out;
	o = json_object_get(doc, "oidc");
	oo = json_object_get(old, "oidc");
	if (!json_is_object(o)) {
		kh_admin_error(resp, 400, "invalid_field", "oidc: an object is required.",
		    "oidc オブジェクトが必要です。");
		goto out;
	}
	json_object_del(o, "secret_hash");
	ocid = json_string_value(json_object_get(oo, "client_id"));
	cid = json_string_value(json_object_get(o, "client_id"));
	if (cid != NULL && ocid != NULL && strcmp(cid, ocid) != 0) {
		kh_admin_error(resp, 409, "client_id_fixed",
		    "client_id cannot change; register a new client instead.",
		    "client_id は変更できません。新しいクライアントを登録してください。");
		goto out;
	}
	if (ocid != NULL)
		json_object_set_new(o, "client_id", json_string(ocid));
	/* The secret stays across updates; a client that newly needs one gets it. */
	if (needs_secret(o)) {
		if (json_is_string(json_object_get(oo, "secret_hash")))
			json_object_set(o, "secret_hash", json_object_get(oo, "secret_hash"));
		else if (new_secret(req, o, &secret) != KH_OK) {
			kh_admin_error(
			    resp, 500, "internal", "Cannot make a secret.", "内部エラーです。");
			goto out;
		}
	}
	if (check_or_respond(resp, doc) != KH_OK)
		goto out;
	if (kh_admin_app_save_or_respond(req, resp, doc, 0, &version) != KH_OK)
		goto out;
	kh_admin_audit(req, "admin.app_oidc_update", id, "ok");
	answer(req, resp, 200, doc, version, secret);
out:
	kh_free_str(secret);
	json_decref(old);
	json_decref(doc);
}

void
kh_admin_apps_oidc_rotate_secret(struct kh_req *req, struct kh_resp *resp, const char *id)
{
	json_t *doc = NULL, *o;
	char *secret = NULL;
	long long version = 0;

	if (kh_admin_app_load_or_respond(req, resp, id, &doc) != KH_OK)
		return;
	o = json_object_get(doc, "oidc");
	if (!json_is_object(o) || !needs_secret(o)) {
		kh_admin_error(resp, 409, "no_secret",
		    "This client authenticates without a secret (public or private_key_jwt).",
		    "このクライアントはシークレットを使いません。");
		goto out;
	}
	if (new_secret(req, o, &secret) != KH_OK) {
		kh_admin_error(resp, 500, "internal", "Cannot make a secret.", "内部エラーです。");
		goto out;
	}
	if (kh_admin_app_save_or_respond(req, resp, doc, 0, &version) != KH_OK)
		goto out;
	kh_admin_audit(req, "admin.app_oidc_rotate_secret", id, "ok");
	answer(req, resp, 200, doc, version, secret);
out:
	kh_free_str(secret);
	json_decref(doc);
}
