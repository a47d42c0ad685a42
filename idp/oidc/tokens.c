/* Codes and tokens: what is stored, how tokens are minted and found.
 *
 * Redis (sessions/kv.h; every secret is hashed with kh_kv_secret_id first):
 *   oc:<H(code)>    grant record, TTL code_lifetime, taken with GETDEL
 *   ocu:<H(code)>   gid of a redeemed code: a replay revokes that grant
 *   oat:<H(at)>     access-token record (JWT or opaque alike), TTL access lifetime
 *   ort:<H(rt)>     refresh-token record (the grant), TTL refresh lifetime
 *   oru:<H(rt)>     gid of a rotated refresh token: reuse revokes the family
 *   ogr:<gid>       revocation mark of a grant (code + refresh family)
 *   ojti:<client>:<H(jti)>  client-assertion replay cache
 *
 * An access token is valid while its oat: record exists and its grant has no
 * ogr: mark: the token string itself is the lookup key, so a JWT access token
 * is checked without a signature verification, and a revoked JWT is dead at
 * once for introspection and userinfo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs/keys.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "connectors/connector.h"
#include "idp/idp.h"
#include "idp/oidc/oidc.h"
#include "idp/oidc/tokens.h"
#include "sessions/kv.h"
#include "sessions/sessions.h"

#define REC_MAX (32 * 1024)

int
oidc_json_str(json_t *o, const char *k, const char **out)
{
	*out = json_string_value(json_object_get(o, k));
	return *out != NULL;
}

void
oidc_json_resp(struct kh_resp *resp, int status, json_t *o)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	kh_buf_reset(&resp->body);
	resp->status = status;
	resp->content_type = "application/json";
	if (s == NULL) {
		resp->status = 500;
		kh_buf_append_str(&resp->body, "{\"error\":\"server_error\"}");
		return;
	}
	kh_buf_append_str(&resp->body, s);
	kh_free_str(s);
	kh_resp_header(resp, "Pragma", "no-cache");
}

void
oidc_error_json(struct kh_resp *resp, int status, const char *err, const char *desc)
{
	json_t *o = json_pack("{ss}", "error", err);

	if (o != NULL && desc != NULL)
		json_object_set_new(o, "error_description", json_string(desc));
	oidc_json_resp(resp, status, o);
}

/* ---- records ------------------------------------------------------------- */

int
oidc_rec_put(struct kh_idp *app, const char *tag, const char *purpose, const char *secret,
    json_t *rec, long ttl, int nx)
{
	char id[65], *s;
	int r;

	if ((r = kh_kv_secret_id(app->store, purpose, secret, id)) != KH_OK)
		return r;
	if ((s = json_dumps(rec, JSON_COMPACT)) == NULL)
		return KH_ERR_NOMEM;
	r = kh_kv_put(app->store, tag, id, s, strlen(s), ttl, nx);
	kh_free_str(s);
	return r;
}

int
oidc_rec_read(struct kh_idp *app, const char *tag, const char *purpose, const char *secret,
    int take, json_t **rec, char hid[65])
{
	char id[65], *val = NULL;
	size_t len = 0;
	int r;

	*rec = NULL;
	if (hid != NULL)
		hid[0] = '\0';
	if (secret == NULL || *secret == '\0' || strlen(secret) > OIDC_TOKEN_MAX)
		return KH_ERR_NOT_FOUND;
	if ((r = kh_kv_secret_id(app->store, purpose, secret, id)) != KH_OK)
		return r;
	if (hid != NULL)
		memcpy(hid, id, 65);
	r = take ? kh_kv_take(app->store, tag, id, &val, &len)
		 : kh_kv_get(app->store, tag, id, &val, &len);
	if (r != KH_OK)
		return r;
	*rec = json_loadb(val, len, 0, NULL);
	kh_freezero(val, len + 1);
	if (*rec == NULL || !json_is_object(*rec)) {
		json_decref(*rec);
		*rec = NULL;
		return KH_ERR_INTERNAL;
	}
	return KH_OK;
}

int
oidc_grant_revoke(struct kh_idp *app, const char *gid)
{
	const struct kh_config *cfg = app->cfg;
	long ttl = cfg->oidc_refresh_token_lifetime + cfg->oidc_access_token_lifetime + 60;

	if (gid == NULL || *gid == '\0')
		return KH_OK;
	kh_audit("oidc.grant_revoked", "gid", gid, NULL);
	return kh_kv_put(app->store, "ogr:", gid, "1", 1, ttl, 0);
}

/* ---- per-user revocation (helpdesk) ----
 * ouv:<H(folded uid)> holds the time of the last revocation: grants whose
 * sign-in (auth_time) and access tokens whose iat are older are dead. */

static int
user_key(struct kh_idp *app, const char *uid, char id[65])
{
	char folded[KH_USERNAME_MAX + 1];

	kh_user_fold(uid, folded, sizeof(folded));
	return kh_kv_secret_id(app->store, "oidc-user", folded, id);
}

int
kh_oidc_user_revoke(struct kh_idp *app, const char *uid)
{
	const struct kh_config *cfg = app->cfg;
	long ttl = cfg->oidc_refresh_token_lifetime + cfg->oidc_access_token_lifetime + 60;
	char id[65], now[24];
	int r;

	if ((r = user_key(app, uid, id)) != KH_OK)
		return r;
	/* Strictly after every token minted so far this second. */
	snprintf(now, sizeof(now), "%lld", (long long)kh_time() + 1);
	return kh_kv_put(app->store, "ouv:", id, now, strlen(now), ttl, 0);
}

int
oidc_user_live(struct kh_idp *app, const char *uid, int64_t t)
{
	char id[65], *val = NULL;
	long long since = 0;
	size_t len = 0;
	int r;

	if (uid == NULL || *uid == '\0')
		return KH_OK;
	if ((r = user_key(app, uid, id)) != KH_OK)
		return r;
	r = kh_kv_get(app->store, "ouv:", id, &val, &len);
	if (r == KH_ERR_NOT_FOUND)
		return KH_OK;
	if (r != KH_OK)
		return r;
	if (sscanf(val, "%lld", &since) != 1)
		since = 0;
	kh_freezero(val, len + 1);
	return t < since ? KH_ERR_DENIED : KH_OK;
}

/* KH_OK when the grant is live, KH_ERR_DENIED when revoked. */
int
oidc_grant_live(struct kh_idp *app, const char *gid)
{
	char *val = NULL;
	size_t len = 0;
	int r;

	if (gid == NULL || *gid == '\0')
		return KH_OK;
	r = kh_kv_get(app->store, "ogr:", gid, &val, &len);
	if (r == KH_OK) {
		kh_freezero(val, len + 1);
		return KH_ERR_DENIED;
	}
	return r == KH_ERR_NOT_FOUND ? KH_OK : r;
}

int
oidc_issue_code(struct kh_req *req, const struct oidc_client *c, json_t *rec, char **code)
{
	struct kh_idp *app = req->app;
	int r;

	(void)c;
	*code = NULL;
	if ((r = kh_random_token(32, code)) != KH_OK)
		return r;
	json_object_set_new(rec, "iat", json_integer(kh_time()));
	r = oidc_rec_put(app, "oc:", "oidc-code", *code, rec, app->cfg->oidc_code_lifetime, 1);
	if (r != KH_OK) {
		kh_free_str(*code);
		*code = NULL;
	}
	return r;
}

int
oidc_access_token_find(struct kh_idp *app, const char *token, json_t **rec)
{
	const char *gid = NULL;
	json_int_t exp;
	int r;

	*rec = NULL;
	if ((r = oidc_rec_read(app, "oat:", "oidc-at", token, 0, rec, NULL)) != KH_OK)
		return r;
	exp = json_integer_value(json_object_get(*rec, "exp"));
	oidc_json_str(*rec, "g", &gid);
	if (exp < kh_time())
		r = KH_ERR_NOT_FOUND;
	else if ((r = oidc_grant_live(app, gid)) == KH_ERR_DENIED)
		r = KH_ERR_NOT_FOUND;
	else if (r == KH_OK &&
	    (r = oidc_user_live(app, json_string_value(json_object_get(*rec, "u")),
		 json_integer_value(json_object_get(*rec, "iat")))) == KH_ERR_DENIED)
		r = KH_ERR_NOT_FOUND;
	if (r != KH_OK) {
		json_decref(*rec);
		*rec = NULL;
	}
	return r;
}

/* ---- minting ------------------------------------------------------------- */

static int
sign(struct kh_idp *app, int alg, const char *typ, json_t *claims, char **jwt)
{
	char *s = json_dumps(claims, JSON_COMPACT);
	int r;

	*jwt = NULL;
	if (s == NULL)
		return KH_ERR_NOMEM;
	if (!kh_keys_have(app->keys, (enum kh_jws_alg)alg))
		alg = KH_ALG_RS256;
	r = kh_keys_sign_jwt(app->keys, (enum kh_jws_alg)alg, typ, s, jwt);
	kh_free_str(s);
	return r;
}

static json_t *
amr_array(const char *amr)
{
	json_t *a = json_array();
	char buf[256], *tok, *save = NULL;

	kh_strlcpy(buf, amr != NULL ? amr : "pwd", sizeof(buf));
	for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save))
		json_array_append_new(a, json_string(tok));
	return a;
}

int
oidc_scope_has(const char *scope, const char *want)
{
	size_t n = strlen(want);
	const char *p = scope;

	if (scope == NULL)
		return 0;
	while ((p = strstr(p, want)) != NULL) {
		if ((p == scope || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return 1;
		p += n;
	}
	return 0;
}

int
oidc_logout_token(
    struct kh_idp *app, const struct oidc_client *c, const char *sub, const char *sid, char **jwt)
{
	struct oidc_global *g = oidc_global(app);
	char *jti = NULL;
	json_t *cl;
	int64_t now = kh_time();
	int r;

	*jwt = NULL;
	if (g == NULL || (r = kh_random_token(16, &jti)) != KH_OK)
		return KH_ERR_NOMEM;
	cl = json_pack("{ss ss ss sI sI ss s{s{}}}", "iss", g->issuer, "aud", c->client_id, "sub",
	    sub, "iat", (json_int_t)now, "exp", (json_int_t)(now + 120), "jti", jti, "events",
	    "http://schemas.openid.net/event/backchannel-logout");
	if (cl != NULL && sid != NULL)
		json_object_set_new(cl, "sid", json_string(sid));
	r = cl != NULL ? sign(app, c->id_token_alg, "logout+jwt", cl, jwt) : KH_ERR_NOMEM;
	json_decref(cl);
	kh_free_str(jti);
	return r;
}

int
oidc_issue_tokens(struct kh_req *req, struct kh_resp *resp, const struct oidc_client *c,
    json_t *grant, int with_nonce, int with_refresh)
{
	struct kh_idp *app = req->app;
	const struct kh_config *cfg = app->cfg;
	struct oidc_global *g = oidc_global(app);
	const char *uid = NULL, *sub = NULL, *scope = "", *gid = "", *nonce = NULL, *acr = NULL;
	const char *amr = NULL, *sid = NULL;
	char *at = NULL, *rt = NULL, *idt = NULL, *jti = NULL, ath[44];
	json_t *atrec = NULL, *claims = NULL, *out = NULL, *cl, *v;
	int64_t now = kh_time();
	json_int_t auth_time;
	const char *k;
	int r;

	if (g == NULL) {
		oidc_error_json(resp, 500, "server_error", NULL);
		return KH_ERR_NOMEM;
	}
	oidc_json_str(grant, "u", &uid);
	oidc_json_str(grant, "s", &sub);
	oidc_json_str(grant, "sc", &scope);
	oidc_json_str(grant, "g", &gid);
	oidc_json_str(grant, "n", &nonce);
	oidc_json_str(grant, "acr", &acr);
	oidc_json_str(grant, "amr", &amr);
	oidc_json_str(grant, "sid", &sid);
	auth_time = json_integer_value(json_object_get(grant, "at"));
	cl = json_object_get(grant, "cl");
	if (sub == NULL)
		sub = c->client_id;
	if (scope == NULL)
		scope = "";
	if (gid == NULL)
		gid = "";

	/* Access token. */
	if ((r = kh_random_token(16, &jti)) != KH_OK)
		goto fail;
	if (c->at_jwt) {
		claims = json_pack("{ss ss ss sI sI ss ss ss}", "iss", g->issuer, "sub", sub, "aud",
		    c->client_id, "exp", (json_int_t)(now + cfg->oidc_access_token_lifetime), "iat",
		    (json_int_t)now, "jti", jti, "client_id", c->client_id, "scope", scope);
		if (claims == NULL) {
			r = KH_ERR_NOMEM;
			goto fail;
		}
		if (uid != NULL && auth_time > 0)
			json_object_set_new(claims, "auth_time", json_integer(auth_time));
		if (acr != NULL)
			json_object_set_new(claims, "acr", json_string(acr));
		/* ES256 when available: an order of magnitude cheaper than RS256. */
		if ((r = sign(app, KH_ALG_ES256, "at+jwt", claims, &at)) != KH_OK)
			goto fail;
		json_decref(claims);
		claims = NULL;
	} else if ((r = kh_random_token(32, &at)) != KH_OK)
		goto fail;
	atrec = json_pack("{ss ss ss sI sI ss ss}", "c", c->client_id, "s", sub, "sc", scope, "exp",
	    (json_int_t)(now + cfg->oidc_access_token_lifetime), "iat", (json_int_t)now, "g", gid,
	    "j", jti);
	if (atrec == NULL) {
		r = KH_ERR_NOMEM;
		goto fail;
	}
	if (uid != NULL)
		json_object_set_new(atrec, "u", json_string(uid));
	if (cl != NULL)
		json_object_set(atrec, "cl", cl);
	if ((r = oidc_rec_put(
		 app, "oat:", "oidc-at", at, atrec, cfg->oidc_access_token_lifetime, 0)) != KH_OK)
		goto fail;

	/* Refresh token (a new member of the grant's family). */
	if (with_refresh && *gid != '\0') {
		if ((r = kh_random_token(32, &rt)) != KH_OK)
			goto fail;
		json_t *rg = json_copy(grant);
		if (rg == NULL) {
			r = KH_ERR_NOMEM;
			goto fail;
		}
		json_object_del(rg, "n"); /* nonce belongs to the first ID token only */
		json_object_set_new(rg, "rt_iat", json_integer(now));
		r = oidc_rec_put(
		    app, "ort:", "oidc-rt", rt, rg, cfg->oidc_refresh_token_lifetime, 1);
		json_decref(rg);
		if (r != KH_OK)
			goto fail;
	}

	/* ID token. */
	if (uid != NULL && oidc_scope_has(scope, "openid")) {
		oidc_half_hash(at, ath);
		claims = json_pack("{ss ss ss sI sI ss ss}", "iss", g->issuer, "sub", sub, "aud",
		    c->client_id, "exp", (json_int_t)(now + cfg->oidc_id_token_lifetime), "iat",
		    (json_int_t)now, "at_hash", ath, "azp", c->client_id);
		if (claims == NULL) {
			r = KH_ERR_NOMEM;
			goto fail;
		}
		if (auth_time > 0)
			json_object_set_new(claims, "auth_time", json_integer(auth_time));
		if (with_nonce && nonce != NULL)
			json_object_set_new(claims, "nonce", json_string(nonce));
		if (acr != NULL)
			json_object_set_new(claims, "acr", json_string(acr));
		json_object_set_new(claims, "amr", amr_array(amr));
		if (sid != NULL)
			json_object_set_new(claims, "sid", json_string(sid));
		json_object_foreach(cl, k, v)
		{
			if (json_object_get(claims, k) == NULL)
				json_object_set(claims, k, v);
		}
		if ((r = sign(app, c->id_token_alg, "JWT", claims, &idt)) != KH_OK)
			goto fail;
	}

	out = json_pack("{ss ss sI ss}", "access_token", at, "token_type", "Bearer", "expires_in",
	    (json_int_t)cfg->oidc_access_token_lifetime, "scope", scope);
	if (out == NULL) {
		r = KH_ERR_NOMEM;
		goto fail;
	}
	if (rt != NULL)
		json_object_set_new(out, "refresh_token", json_string(rt));
	if (idt != NULL)
		json_object_set_new(out, "id_token", json_string(idt));
	oidc_json_resp(resp, 200, out);
	out = NULL; /* transferred */
	r = KH_OK;
	goto done;
fail:
	kh_error("oidc.issue", "rid", req->rid, "client_id", c->client_id, "error", kh_strerror(r),
	    NULL);
	if (r == KH_ERR_UNAVAILABLE)
		oidc_error_json(resp, 503, "temporarily_unavailable", NULL);
	else
		oidc_error_json(resp, 500, "server_error", NULL);
done:
	json_decref(claims);
	json_decref(atrec);
	json_decref(out);
	kh_free_str(at);
	kh_free_str(rt);
	free(idt);
	kh_free_str(jti);
	return r;
}

/* ---- SSO-session participation ---------------------------------------- */

void
oidc_session_add_rp(struct kh_idp *app, const char *cookie, const char *client_id)
{
	char *val = NULL, buf[4096], pad[256], have[4100];
	size_t len = 0;
	int r;

	if (strlen(client_id) > 200)
		return;
	r = kh_session_field_get(app->store, cookie, "x_rps", &val, &len);
	if (r == KH_OK) {
		/* space-separated client ids, bounded */
		snprintf(pad, sizeof(pad), " %s ", client_id);
		snprintf(have, sizeof(have), " %s ", val);
		snprintf(buf, sizeof(buf), "%s %s", val, client_id);
		kh_freezero(val, len + 1);
		if (strstr(have, pad) != NULL || strlen(buf) > 3000)
			return;
	} else if (r == KH_ERR_NOT_FOUND)
		kh_strlcpy(buf, client_id, sizeof(buf));
	else
		return;
	kh_session_field_set(app->store, cookie, "x_rps", buf, strlen(buf));
}
