/* POST /oidc/token: authorization_code (PKCE), refresh_token (rotation with
 * reuse detection), client_credentials; and client authentication for the
 * token, introspection and revocation endpoints. */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/apps.h"
#include "idp/idp.h"
#include "idp/oidc/oidc.h"
#include "idp/oidc/tokens.h"
#include "sessions/kv.h"

#define JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define CRED_MAX 512

/* Appends " tok" (or "tok" to an empty list) when it fits. */
static int
scope_append(char *dst, size_t dstlen, const char *tok)
{
	size_t used = strlen(dst), tl = strlen(tok);

	if (used + tl + 2 > dstlen)
		return KH_ERR_TOO_LARGE;
	if (used > 0)
		dst[used++] = ' ';
	memcpy(dst + used, tok, tl + 1);
	return KH_OK;
}

/* ---- client authentication ---------------------------------------------- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* application/x-www-form-urlencoded decoding in place (RFC 6749 2.3.1). */
static int
form_decode(char *s)
{
	char *o = s;
	int h, l;

	for (; *s != '\0'; s++) {
		if (*s == '+')
			*o++ = ' ';
		else if (*s == '%') {
			if ((h = hexval(s[1])) < 0 || (l = hexval(s[2])) < 0)
				return KH_ERR_INVALID;
			if (h == 0 && l == 0)
				return KH_ERR_INVALID;
			*o++ = (char)(h * 16 + l);
			s += 2;
		} else
			*o++ = *s;
	}
	*o = '\0';
	return KH_OK;
}

/* "Basic base64(id:secret)" into id and secret (both form-decoded). */
static int
basic_parse(const char *h, char *id, char *secret)
{
	unsigned char dec[CRED_MAX * 2];
	size_t n;
	int len, pad = 0;
	char *colon;

	while (*h == ' ')
		h++;
	n = strlen(h);
	if (n == 0 || n > sizeof(dec) || n % 4 != 0)
		return KH_ERR_INVALID;
	if (h[n - 1] == '=')
		pad++;
	if (n > 1 && h[n - 2] == '=')
		pad++;
	len = EVP_DecodeBlock(dec, (const unsigned char *)h, (int)n);
	if (len < 0 || len - pad <= 0)
		return KH_ERR_INVALID;
	len -= pad;
	dec[len] = '\0';
	if (memchr(dec, '\0', (size_t)len) != NULL || (colon = strchr((char *)dec, ':')) == NULL ||
	    (size_t)(colon - (char *)dec) >= CRED_MAX || strlen(colon + 1) >= CRED_MAX)
		return KH_ERR_INVALID;
	*colon = '\0';
	kh_strlcpy(id, (char *)dec, CRED_MAX);
	kh_strlcpy(secret, colon + 1, CRED_MAX);
	explicit_bzero(dec, sizeof(dec));
	if (form_decode(id) != KH_OK || form_decode(secret) != KH_OK)
		return KH_ERR_INVALID;
	return KH_OK;
}

static void
invalid_client(
    struct kh_req *req, struct kh_resp *resp, int basic, const char *client_id, const char *why)
{
	kh_warn("oidc.client_auth", "rid", req->rid, "client_id", client_id, "why", why, "ip",
	    req->client_ip, NULL);
	oidc_error_json(resp, 401, "invalid_client", NULL);
	if (basic)
		kh_resp_header(resp, "WWW-Authenticate", "Basic realm=\"kakehashi\"");
}

static int
secret_ok(struct oidc_global *g, const struct oidc_client *c, const char *secret)
{
	unsigned char mac[KH_HMAC_LEN];
	const void *parts[2] = { c->client_id, secret };
	size_t lens[2] = { strlen(c->client_id), strlen(secret) };
	int ok;

	if (!c->has_secret || *secret == '\0')
		return 0;
	if (kh_hmac_sha256_parts(g->secret_key, sizeof(g->secret_key), parts, lens, 2, mac) !=
	    KH_OK)
		return 0;
	ok = kh_ct_equal(mac, c->secret_hash, sizeof(mac));
	explicit_bzero(mac, sizeof(mac));
	return ok;
}

/* The unverified "iss" of a JWT, to find whose keys to verify it with. */
static int
peek_iss(const char *jwt, char *out, size_t outlen)
{
	unsigned char buf[OIDC_ASSERTION_MAX];
	const char *d1 = strchr(jwt, '.'), *d2, *iss;
	json_t *o;
	int n, r;

	out[0] = '\0';
	if (d1 == NULL || (d2 = strchr(d1 + 1, '.')) == NULL)
		return KH_ERR_INVALID;
	n = kh_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), buf, sizeof(buf));
	if (n <= 0 || (o = json_loadb((const char *)buf, (size_t)n, 0, NULL)) == NULL)
		return KH_ERR_INVALID;
	iss = json_string_value(json_object_get(o, "iss"));
	r = iss != NULL && strlen(iss) < outlen ? KH_OK : KH_ERR_INVALID;
	if (r == KH_OK)
		kh_strlcpy(out, iss, outlen);
	json_decref(o);
	return r;
}

static int
aud_ok(json_t *aud, struct oidc_global *g, const char *endpoint)
{
	const char *ok[3] = { g->token_url, g->issuer, endpoint };
	json_t *e;
	size_t i, j;

	if (json_is_string(aud)) {
		for (j = 0; j < 3; j++)
			if (ok[j] != NULL && strcmp(json_string_value(aud), ok[j]) == 0)
				return 1;
		return 0;
	}
	if (!json_is_array(aud))
		return 0;
	json_array_foreach(aud, i, e)
	{
		if (json_is_string(e) && aud_ok(e, g, endpoint))
			return 1;
	}
	return 0;
}

/* RFC 7523 client assertion: signed by a registered key (RS256/ES256),
 * iss = sub = client_id, aud = us, short-lived, jti never seen before. */
static int
assertion_ok(struct kh_req *req, struct oidc_global *g, const struct oidc_client *c,
    const char *jwt, const char *endpoint, const char **why)
{
	json_t *pl = NULL;
	const char *iss, *sub, *jti;
	json_int_t exp, iat, nbf;
	int64_t now = kh_time();
	char key[KH_KV_ID_MAX], hid[65], *buf = NULL;
	int r = KH_ERR_DENIED;

	*why = "signature";
	if (c->njwks == 0) {
		*why = "no client keys";
		return KH_ERR_DENIED;
	}
	if (oidc_jws_verify(jwt, c->jwks, c->njwks, &pl, NULL) != KH_OK)
		goto out;
	*why = "claims";
	iss = json_string_value(json_object_get(pl, "iss"));
	sub = json_string_value(json_object_get(pl, "sub"));
	jti = json_string_value(json_object_get(pl, "jti"));
	if (iss == NULL || sub == NULL || strcmp(iss, c->client_id) != 0 ||
	    strcmp(sub, c->client_id) != 0)
		goto out;
	*why = "aud";
	if (!aud_ok(json_object_get(pl, "aud"), g, endpoint))
		goto out;
	*why = "exp";
	if (!json_is_integer(json_object_get(pl, "exp")))
		goto out;
	exp = json_integer_value(json_object_get(pl, "exp"));
	if (exp + OIDC_CLOCK_SKEW < now || exp > now + OIDC_ASSERTION_MAX_LIFETIME)
		goto out;
	*why = "iat";
	iat = json_integer_value(json_object_get(pl, "iat"));
	nbf = json_integer_value(json_object_get(pl, "nbf"));
	if (iat > now + OIDC_CLOCK_SKEW || nbf > now + OIDC_CLOCK_SKEW)
		goto out;
	*why = "jti";
	if (jti == NULL || *jti == '\0' || strlen(jti) > 256)
		goto out;
	if (asprintf(&buf, "%s %s", c->client_id, jti) < 0) {
		buf = NULL;
		r = KH_ERR_NOMEM;
		goto out;
	}
	if ((r = kh_kv_secret_id(req->app->store, "oidc-jti", buf, hid)) != KH_OK)
		goto out;
	snprintf(key, sizeof(key), "%s", hid);
	r = kh_kv_put(
	    req->app->store, "ojti:", key, "1", 1, (long)(exp - now) + OIDC_CLOCK_SKEW + 1, 1);
	if (r == KH_ERR_EXISTS) {
		*why = "jti replayed";
		r = KH_ERR_DENIED;
		goto out;
	}
	if (r != KH_OK) {
		*why = "replay cache unavailable";
		goto out;
	}
	*why = NULL;
	r = KH_OK;
out:
	free(buf);
	json_decref(pl);
	return r;
}

static int
param_single(const struct kh_params *ps, const char *name, const char **v)
{
	size_t len = 0;

	*v = kh_param_get(ps, name, &len);
	if (kh_param_count(ps, name) > 1)
		return 0;
	if (*v != NULL && strlen(*v) != len)
		return 0; /* NUL inside */
	return 1;
}

const struct oidc_client *
oidc_client_auth_or_respond(
    struct kh_req *req, struct kh_resp *resp, const struct kh_apps_view *v, const char *endpoint)
{
	struct oidc_global *g = oidc_global(req->app);
	const char *authz = kh_req_header(req, "Authorization");
	const char *fid, *fsecret, *assertion, *atype, *why = NULL;
	char bid[CRED_MAX], bsecret[CRED_MAX], iss[CRED_MAX];
	const struct oidc_client *c = NULL;
	enum oidc_auth_method used;
	int basic = 0;

	bid[0] = bsecret[0] = '\0';
	if (g == NULL) {
		oidc_error_json(resp, 500, "server_error", NULL);
		return NULL;
	}
	if (!param_single(&req->form, "client_id", &fid) ||
	    !param_single(&req->form, "client_secret", &fsecret) ||
	    !param_single(&req->form, "client_assertion", &assertion) ||
	    !param_single(&req->form, "client_assertion_type", &atype)) {
		oidc_error_json(resp, 400, "invalid_request", "repeated client parameter");
		return NULL;
	}
	if (authz != NULL && strncasecmp(authz, "Basic ", 6) == 0) {
		basic = 1;
		if (basic_parse(authz + 6, bid, bsecret) != KH_OK) {
			invalid_client(req, resp, 1, NULL, "malformed basic credentials");
			goto out;
		}
	}
	if ((basic ? 1 : 0) + (fsecret != NULL ? 1 : 0) + (assertion != NULL ? 1 : 0) > 1) {
		oidc_error_json(
		    resp, 400, "invalid_request", "more than one client authentication method");
		goto out;
	}
	if (basic) {
		used = OIDC_AUTH_SECRET_BASIC;
		if (fid != NULL && strcmp(fid, bid) != 0) {
			invalid_client(req, resp, 1, bid, "client_id differs from basic");
			goto out;
		}
		fid = bid;
		fsecret = bsecret;
	} else if (assertion != NULL) {
		used = OIDC_AUTH_PRIVATE_KEY_JWT;
		if (atype == NULL || strcmp(atype, JWT_BEARER) != 0) {
			invalid_client(req, resp, 0, fid, "client_assertion_type");
			goto out;
		}
		if (peek_iss(assertion, iss, sizeof(iss)) != KH_OK ||
		    (fid != NULL && strcmp(fid, iss) != 0)) {
			invalid_client(req, resp, 0, fid, "client_assertion iss");
			goto out;
		}
		fid = iss;
	} else if (fsecret != NULL)
		used = OIDC_AUTH_SECRET_POST;
	else
		used = OIDC_AUTH_NONE;
	if (fid == NULL) {
		invalid_client(req, resp, basic, NULL, "no client_id");
		goto out;
	}
	if ((c = oidc_client_find(v, fid)) == NULL) {
		invalid_client(req, resp, basic, fid, "unknown client");
		goto out;
	}
	if (used != c->auth) {
		invalid_client(req, resp, basic, fid, "authentication method not registered");
		c = NULL;
		goto out;
	}
	switch (used) {
	case OIDC_AUTH_SECRET_BASIC:
	case OIDC_AUTH_SECRET_POST:
		if (!secret_ok(g, c, fsecret)) {
			invalid_client(req, resp, basic, fid, "wrong secret");
			c = NULL;
		}
		break;
	case OIDC_AUTH_PRIVATE_KEY_JWT:
		if (assertion_ok(req, g, c, assertion, endpoint, &why) != KH_OK) {
			invalid_client(req, resp, 0, fid, why);
			c = NULL;
		}
		break;
	case OIDC_AUTH_NONE: break; /* a public client: PKCE binds its codes */
	}
out:
	explicit_bzero(bsecret, sizeof(bsecret));
	return c;
}

/* ---- grants ------------------------------------------------------------- */

static int
verifier_ok(const char *verifier, const char *challenge)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char enc[48];
	size_t i, n;

	if (verifier == NULL || challenge == NULL)
		return 0;
	n = strlen(verifier);
	if (n < 43 || n > 128)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = verifier[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			(ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
			ch == '~'))
			return 0;
	}
	SHA256((const unsigned char *)verifier, n, md);
	kh_b64url_encode(md, sizeof(md), enc);
	return strlen(challenge) == strlen(enc) && kh_ct_streq(enc, challenge);
}

static void
grant_code(struct kh_req *req, struct kh_resp *resp, const struct oidc_client *c)
{
	struct kh_idp *app = req->app;
	const struct kh_config *cfg = app->cfg;
	const char *code, *redirect_uri, *verifier, *rc = NULL, *ru = NULL, *cc = NULL, *gid = NULL;
	const char *scope = NULL;
	json_t *rec = NULL, *used = NULL;
	char hid[65];
	int r;

	param_single(&req->form, "code", &code);
	param_single(&req->form, "redirect_uri", &redirect_uri);
	param_single(&req->form, "code_verifier", &verifier);
	if (code == NULL || redirect_uri == NULL) {
		oidc_error_json(resp, 400, "invalid_request", "code and redirect_uri are required");
		return;
	}
	r = oidc_rec_read(app, "oc:", "oidc-code", code, 1, &rec, hid);
	if (r == KH_ERR_NOT_FOUND) {
		/* Replayed? Then whoever holds the code is not the only one:
		 * revoke everything the first redemption issued. */
		if (hid[0] != '\0' &&
		    oidc_rec_read(app, "ocu:", "oidc-code-used", code, 0, &used, NULL) == KH_OK &&
		    oidc_json_str(used, "g", &gid)) {
			kh_audit("oidc.code_replay", "rid", req->rid, "client_id", c->client_id,
			    "ip", req->client_ip, NULL);
			oidc_grant_revoke(app, gid);
		}
		json_decref(used);
		oidc_error_json(resp, 400, "invalid_grant", "unknown, expired or used code");
		return;
	}
	if (r != KH_OK) {
		oidc_error_json(resp, 503, "temporarily_unavailable", NULL);
		return;
	}
	oidc_json_str(rec, "c", &rc);
	oidc_json_str(rec, "ru", &ru);
	oidc_json_str(rec, "cc", &cc);
	oidc_json_str(rec, "g", &gid);
	oidc_json_str(rec, "sc", &scope);
	if (rc == NULL || strcmp(rc, c->client_id) != 0) {
		oidc_error_json(resp, 400, "invalid_grant", "code was issued to another client");
		goto out;
	}
	if (ru == NULL || strcmp(ru, redirect_uri) != 0) {
		oidc_error_json(resp, 400, "invalid_grant", "redirect_uri mismatch");
		goto out;
	}
	if (json_integer_value(json_object_get(rec, "iat")) + cfg->oidc_code_lifetime < kh_time()) {
		oidc_error_json(resp, 400, "invalid_grant", "code expired");
		goto out;
	}
	if (cc != NULL ? !verifier_ok(verifier, cc) : verifier != NULL) {
		oidc_error_json(resp, 400, "invalid_grant", "PKCE verification failed");
		goto out;
	}
	used = json_pack("{ss}", "g", gid != NULL ? gid : "");
	if (used == NULL ||
	    oidc_rec_put(app, "ocu:", "oidc-code-used", code, used,
		cfg->oidc_refresh_token_lifetime + cfg->oidc_access_token_lifetime, 0) != KH_OK) {
		oidc_error_json(resp, 503, "temporarily_unavailable", NULL);
		goto out;
	}
	json_object_del(rec, "cc");
	json_object_del(rec, "ru");
	json_object_del(rec, "iat");
	oidc_issue_tokens(req, resp, c, rec, 1,
	    oidc_scope_has(scope, "offline_access") && oidc_client_has_scope(c, "offline_access"));
	if (resp->status == 200)
		kh_audit("oidc.token", "rid", req->rid, "grant", "authorization_code", "client_id",
		    c->client_id, "user", json_string_value(json_object_get(rec, "u")), NULL);
out:
	json_decref(used);
	json_decref(rec);
}

/* Every word of want appears in have. */
static int
scope_subset(const char *want, const char *have)
{
	char buf[OIDC_SCOPE_MAX + 1], *tok, *save = NULL;

	if (strlen(want) > OIDC_SCOPE_MAX)
		return 0;
	kh_strlcpy(buf, want, sizeof(buf));
	for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save))
		if (!oidc_scope_has(have, tok))
			return 0;
	return 1;
}

static void
grant_refresh(struct kh_req *req, struct kh_resp *resp, const struct oidc_client *c)
{
	struct kh_idp *app = req->app;
	const struct kh_config *cfg = app->cfg;
	const char *rt, *scope, *rc = NULL, *gid = NULL, *have = NULL;
	json_t *rec = NULL, *used = NULL;
	char hid[65];
	int r;

	param_single(&req->form, "refresh_token", &rt);
	param_single(&req->form, "scope", &scope);
	if (rt == NULL) {
		oidc_error_json(resp, 400, "invalid_request", "refresh_token is required");
		return;
	}
	r = oidc_rec_read(app, "ort:", "oidc-rt", rt, 1, &rec, hid);
	if (r == KH_ERR_NOT_FOUND) {
		if (hid[0] != '\0' &&
		    oidc_rec_read(app, "oru:", "oidc-rt-used", rt, 0, &used, NULL) == KH_OK &&
		    oidc_json_str(used, "g", &gid)) {
			/* A rotated-out token came back: the family is compromised. */
			kh_audit("oidc.refresh_reuse", "rid", req->rid, "client_id", c->client_id,
			    "ip", req->client_ip, NULL);
			oidc_grant_revoke(app, gid);
		}
		json_decref(used);
		oidc_error_json(
		    resp, 400, "invalid_grant", "unknown, expired or used refresh token");
		return;
	}
	if (r != KH_OK) {
		oidc_error_json(resp, 503, "temporarily_unavailable", NULL);
		return;
	}
	oidc_json_str(rec, "c", &rc);
	oidc_json_str(rec, "g", &gid);
	oidc_json_str(rec, "sc", &have);
	if (rc == NULL || strcmp(rc, c->client_id) != 0) {
		oidc_grant_revoke(app, gid);
		oidc_error_json(resp, 400, "invalid_grant", "refresh token of another client");
		goto out;
	}
	if ((r = oidc_grant_live(app, gid)) == KH_OK)
		r = oidc_user_live(app, json_string_value(json_object_get(rec, "u")),
		    json_integer_value(json_object_get(rec, "at")));
	if (r != KH_OK) {
		if (r == KH_ERR_DENIED)
			oidc_error_json(resp, 400, "invalid_grant", "grant revoked");
		else
			oidc_error_json(resp, 503, "temporarily_unavailable", NULL);
		goto out;
	}
	if (scope != NULL) {
		if (!scope_subset(scope, have != NULL ? have : "")) {
			oidc_error_json(resp, 400, "invalid_scope", NULL);
			goto out;
		}
		json_object_set_new(rec, "sc", json_string(scope));
	}
	used = json_pack("{ss}", "g", gid != NULL ? gid : "");
	if (used == NULL ||
	    oidc_rec_put(app, "oru:", "oidc-rt-used", rt, used, cfg->oidc_refresh_token_lifetime,
		0) != KH_OK) {
		oidc_error_json(resp, 503, "temporarily_unavailable", NULL);
		goto out;
	}
	oidc_issue_tokens(req, resp, c, rec, 0, 1);
out:
	json_decref(used);
	json_decref(rec);
}

static void
grant_client_credentials(struct kh_req *req, struct kh_resp *resp, const struct oidc_client *c)
{
	char granted[OIDC_SCOPE_MAX + 1], buf[OIDC_SCOPE_MAX + 1], *tok, *save = NULL;
	const char *scope;
	json_t *grant;
	size_t i;

	if (c->auth == OIDC_AUTH_NONE) {
		oidc_error_json(
		    resp, 400, "unauthorized_client", "public clients have no credentials");
		return;
	}
	param_single(&req->form, "scope", &scope);
	granted[0] = '\0';
	if (scope != NULL) {
		if (strlen(scope) > OIDC_SCOPE_MAX) {
			oidc_error_json(resp, 400, "invalid_scope", NULL);
			return;
		}
		kh_strlcpy(buf, scope, sizeof(buf));
		for (tok = strtok_r(buf, " ", &save); tok != NULL;
		     tok = strtok_r(NULL, " ", &save)) {
			if (strcmp(tok, "openid") == 0 || strcmp(tok, "offline_access") == 0 ||
			    !oidc_client_has_scope(c, tok)) {
				oidc_error_json(resp, 400, "invalid_scope", NULL);
				return;
			}
			if (!oidc_scope_has(granted, tok) &&
			    scope_append(granted, sizeof(granted), tok) != KH_OK)
				break;
		}
	} else {
		for (i = 0; i < c->nscopes; i++) {
			if (strcmp(c->scopes[i], "openid") == 0 ||
			    strcmp(c->scopes[i], "offline_access") == 0)
				continue;
			if (scope_append(granted, sizeof(granted), c->scopes[i]) != KH_OK)
				break;
		}
	}
	if ((grant = json_pack("{ss ss ss ss}", "c", c->client_id, "s", c->client_id, "sc", granted,
		 "g", "")) == NULL) {
		oidc_error_json(resp, 500, "server_error", NULL);
		return;
	}
	oidc_issue_tokens(req, resp, c, grant, 0, 0);
	json_decref(grant);
}

void
oidc_handle_token(struct kh_req *req, struct kh_resp *resp)
{
	struct oidc_global *g = oidc_global(req->app);
	struct kh_apps_view *v = NULL;
	const struct oidc_client *c;
	const char *gt;

	if (req->method != KH_POST) {
		oidc_error_json(resp, 405, "invalid_request", "POST only");
		kh_resp_header(resp, "Allow", "POST");
		return;
	}
	if (g == NULL) {
		oidc_error_json(resp, 500, "server_error", NULL);
		return;
	}
	if (req->form_error != KH_OK || req->form.overflow || req->form.duplicates) {
		oidc_error_json(resp, 400, "invalid_request", "malformed or repeated parameters");
		return;
	}
	v = kh_apps_acquire(req->app);
	if ((c = oidc_client_auth_or_respond(req, resp, v, g->token_url)) == NULL)
		goto out;
	param_single(&req->form, "grant_type", &gt);
	if (gt == NULL)
		oidc_error_json(resp, 400, "invalid_request", "grant_type is required");
	else if (strcmp(gt, "authorization_code") == 0)
		grant_code(req, resp, c);
	else if (strcmp(gt, "refresh_token") == 0)
		grant_refresh(req, resp, c);
	else if (strcmp(gt, "client_credentials") == 0)
		grant_client_credentials(req, resp, c);
	else
		oidc_error_json(resp, 400, "unsupported_grant_type", NULL);
out:
	kh_apps_release(req->app, v);
}
