/* GET|POST /oidc/authorize: the authorization code flow.
 *
 * Order of checks (RFC 6749 4.1.2.1): until client_id and redirect_uri are
 * known to belong together, every problem is shown on our own error page and
 * nothing is sent anywhere; after that, errors go back to the redirect_uri
 * with the client's state. redirect_uri is compared as an exact string. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/access.h"
#include "idp/apps.h"
#include "idp/idp.h"
#include "idp/oidc/oidc.h"
#include "idp/oidc/tokens.h"
#include "idp/page.h"
#include "idp/pending.h"
#include "sessions/sessions.h"

#define HINT_MAX 256

/* The request's parameters, as saved across the login form. */
static const char *const fields[][2] = {
	{ "client_id", "cid" },
	{ "redirect_uri", "ru" },
	{ "response_type", "rt" },
	{ "response_mode", "rm" },
	{ "scope", "sc" },
	{ "state", "st" },
	{ "nonce", "n" },
	{ "code_challenge", "cc" },
	{ "code_challenge_method", "ccm" },
	{ "prompt", "pr" },
	{ "max_age", "ma" },
	{ "login_hint", "lh" },
	{ "acr_values", "acrv" },
	{ "ui_locales", "ul" },
	{ "request", "req" },
	{ "request_uri", "requ" },
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static void
error_page(struct kh_req *req, struct kh_resp *resp, const char *why, const char *client_id)
{
	kh_warn("oidc.authorize_refused", "rid", req->rid, "client_id", client_id, "why", why, "ip",
	    req->client_ip, NULL);
	kh_page_error(req, resp, 400, M_BAD_REQUEST_TITLE, M_BAD_REQUEST_BODY);
}

/* Back to the client: redirect_uri?k=v&...&state=..&iss=.. */
static void
redirect_back(struct kh_req *req, struct kh_resp *resp, json_t *p, const char *k1, const char *v1,
    const char *k2, const char *v2)
{
	struct oidc_global *g = oidc_global(req->app);
	const char *ru = NULL, *st = NULL;
	struct kh_buf b;

	oidc_json_str(p, "ru", &ru);
	oidc_json_str(p, "st", &st);
	kh_buf_init(&b, OIDC_URI_MAX * 3);
	if (kh_buf_append_str(&b, ru) != KH_OK ||
	    kh_buf_append_str(&b, strchr(ru, '?') != NULL ? "&" : "?") != KH_OK ||
	    kh_buf_appendf(&b, "%s=", k1) != KH_OK || kh_buf_append_urlenc(&b, v1) != KH_OK ||
	    (k2 != NULL && v2 != NULL &&
		(kh_buf_appendf(&b, "&%s=", k2) != KH_OK ||
		    kh_buf_append_urlenc(&b, v2) != KH_OK)) ||
	    (st != NULL &&
		(kh_buf_append_str(&b, "&state=") != KH_OK ||
		    kh_buf_append_urlenc(&b, st) != KH_OK)) ||
	    kh_buf_append_str(&b, "&iss=") != KH_OK ||
	    kh_buf_append_urlenc(&b, g != NULL ? g->issuer : "") != KH_OK) {
		kh_buf_free(&b);
		kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
		return;
	}
	kh_resp_redirect(resp, req->method == KH_POST ? 303 : 302, kh_buf_cstr(&b));
	kh_buf_free(&b);
}

static void
error_back(struct kh_req *req, struct kh_resp *resp, json_t *p, const char *err, const char *desc)
{
	const char *cid = NULL;

	oidc_json_str(p, "cid", &cid);
	kh_info("oidc.authorize_error", "rid", req->rid, "client_id", cid, "error", err, "why",
	    desc, NULL);
	redirect_back(req, resp, p, "error", err, "error_description", desc);
}

/* Reads the query (GET) or form (POST) into p; 0 when the request must be
 * refused on our own page (already answered), 1 to continue, 2 when it must
 * go back with invalid_request (repeated or too many parameters). */
static int
params_read(struct kh_req *req, struct kh_resp *resp, const struct kh_apps_view *v, json_t *p)
{
	const struct kh_params *ps = req->method == KH_POST ? &req->form : &req->query;
	const struct oidc_client *c;
	const char *val, *cid, *ru;
	size_t i, len;

	cid = kh_param_get(ps, "client_id", &len);
	if (cid == NULL || kh_param_count(ps, "client_id") != 1 || strlen(cid) != len) {
		error_page(req, resp, "client_id missing or repeated", NULL);
		return 0;
	}
	if ((c = oidc_client_find(v, cid)) == NULL) {
		error_page(req, resp, "unknown client_id", cid);
		return 0;
	}
	ru = kh_param_get(ps, "redirect_uri", &len);
	if (ru == NULL || kh_param_count(ps, "redirect_uri") != 1 || strlen(ru) != len) {
		error_page(req, resp, "redirect_uri missing or repeated", cid);
		return 0;
	}
	if (!oidc_client_redirect_ok(c, ru)) {
		error_page(req, resp, "redirect_uri not registered (exact match)", cid);
		return 0;
	}
	/* From here on the client's redirect_uri is trusted for errors. */
	for (i = 0; i < NFIELDS; i++) {
		val = kh_param_get(ps, fields[i][0], &len);
		if (val == NULL || kh_param_count(ps, fields[i][0]) != 1)
			continue;
		if (strlen(val) != len || len > OIDC_URI_MAX || !kh_utf8_valid_text(val, len))
			return 2;
		json_object_set_new(p, fields[i][1], json_string(val));
	}
	if (ps->overflow || ps->duplicates)
		return 2;
	return 1;
}

static int
b64url_43(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 43)
		return 0;
	for (i = 0; i < 43; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* Requested scopes the client may have, in request order, deduplicated. */
static void
scope_grant(const struct oidc_client *c, const char *req, char *out, size_t outlen)
{
	char buf[OIDC_SCOPE_MAX + 1], *tok, *save = NULL;

	out[0] = '\0';
	if (req == NULL)
		return;
	kh_strlcpy(buf, req, sizeof(buf));
	for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		if (!oidc_client_has_scope(c, tok) || oidc_scope_has(out, tok))
			continue;
		if (strlen(out) + strlen(tok) + 2 > outlen)
			break;
		{
			size_t used = strlen(out), tl = strlen(tok);
			if (used > 0)
				out[used++] = ' ';
			memcpy(out + used, tok, tl + 1);
		}
	}
}

static int
in_groups(const struct oidc_client *c, const char *groups)
{
	const char *p, *e;
	size_t i, n;

	if (c->ngroups == 0)
		return 1;
	if (groups == NULL)
		return 0;
	for (p = groups; *p != '\0'; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		n = (size_t)(e - p);
		for (i = 0; i < c->ngroups; i++)
			if (strlen(c->groups[i]) == n && memcmp(c->groups[i], p, n) == 0)
				return 1;
	}
	return 0;
}

static json_t *
groups_array(const char *groups)
{
	json_t *a = json_array();
	const char *p, *e;

	if (groups == NULL)
		return a;
	for (p = groups; *p != '\0'; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		if (e > p)
			json_array_append_new(a, json_stringn(p, (size_t)(e - p)));
	}
	return a;
}

static void
set_str(json_t *o, const char *k, const char *v)
{
	if (v != NULL && *v != '\0')
		json_object_set_new(o, k, json_string(v));
}

/* The user's claims the granted scopes allow, taken from the SSO session
 * (the directory's values at sign-in, Japanese names as stored). */
static json_t *
session_claims(const struct kh_session *s, const char *scope)
{
	json_t *cl = json_object();

	if (cl == NULL)
		return NULL;
	if (oidc_scope_has(scope, "profile")) {
		set_str(cl, "name", s->display_name);
		set_str(cl, "family_name", s->family_name);
		set_str(cl, "given_name", s->given_name);
		set_str(cl, "preferred_username", s->uid);
	}
	if (oidc_scope_has(scope, "email"))
		set_str(cl, "email", s->mail);
	if (oidc_scope_has(scope, "groups"))
		json_object_set_new(cl, "groups", groups_array(s->groups));
	if (oidc_scope_has(scope, "org")) {
		set_str(cl, "employee_number", s->employee_number);
		set_str(cl, "department", s->department);
		set_str(cl, "title", s->title);
	}
	return cl;
}

/* Saves the request for ?resume=; KH_OK with id set, or an error page. */
static int
save(struct kh_req *req, struct kh_resp *resp, json_t *p, int flags, char id[KH_PENDING_ID_LEN + 1])
{
	char *data;
	int r;

	json_object_del(p, "_resumed");
	if ((data = json_dumps(p, JSON_COMPACT)) == NULL) {
		kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
		return KH_ERR_NOMEM;
	}
	r = kh_pending_save(req, resp, KH_PENDING_OIDC, flags, data, strlen(data), id);
	kh_free_str(data);
	if (r != KH_OK)
		kh_page_error(req, resp, 503, M_UNAVAILABLE_TITLE, M_UNAVAILABLE_BODY);
	return r;
}

/* Saves the request and sends the browser to the MFA page. */
static void
to_mfa(struct kh_req *req, struct kh_resp *resp, json_t *p, int flags)
{
	char id[KH_PENDING_ID_LEN + 1];

	if (save(req, resp, p, flags, id) == KH_OK)
		kh_access_redirect_mfa(resp, id);
}

/* Sends the browser to sign in, keeping the request for ?resume=. */
static void
to_login(struct kh_req *req, struct kh_resp *resp, json_t *p, int flags)
{
	char id[KH_PENDING_ID_LEN + 1];
	const char *hint = NULL, *ul = NULL;
	struct kh_buf b;

	if (save(req, resp, p, flags, id) != KH_OK)
		return;
	oidc_json_str(p, "lh", &hint);
	oidc_json_str(p, "ul", &ul);
	if ((hint == NULL || strlen(hint) > HINT_MAX) && ul == NULL) {
		kh_pending_redirect_to_login(req, resp, id);
		return;
	}
	/* login_hint pre-fills the staff ID (/login?u=), ui_locales picks the
	 * page language (/login?lang=) when it names one we have. */
	kh_buf_init(&b, 1024);
	kh_buf_appendf(&b, "/login?p=%s", id);
	if (hint != NULL && strlen(hint) <= HINT_MAX) {
		kh_buf_append_str(&b, "&u=");
		kh_buf_append_urlenc(&b, hint);
	}
	if (ul != NULL) {
		size_t n = strcspn(ul, " ");
		if ((n == 2 && strncmp(ul, "ja", 2) == 0) || kh_startswith(ul, "ja-"))
			kh_buf_append_str(&b, "&lang=ja");
		else if ((n == 2 && strncmp(ul, "en", 2) == 0) || kh_startswith(ul, "en-"))
			kh_buf_append_str(&b, "&lang=en");
	}
	kh_resp_redirect(resp, 302, kh_buf_cstr(&b));
	kh_buf_free(&b);
}

static void
authorize(struct kh_req *req, struct kh_resp *resp, const struct kh_apps_view *v, json_t *p,
    int resumed, int pflags, int64_t created)
{
	struct kh_idp *app = req->app;
	struct oidc_global *g = oidc_global(app);
	const struct oidc_client *c;
	const char *cid = NULL, *ru = NULL, *rt = NULL, *rm = NULL, *sc = NULL, *cc = NULL;
	const char *ccm = NULL, *pr = NULL, *ma = NULL, *n = NULL, *st = NULL, *cookie;
	const char *acrv = NULL;
	int want_mfa;
	char granted[OIDC_SCOPE_MAX + 1], sub[128], sid[65], *code = NULL, *gid = NULL;
	int prompt_none, prompt_login, need_login, fresh, flags = 0, r;
	struct kh_session *s = NULL;
	json_t *rec = NULL;
	long max_age = -1;
	int64_t now = kh_time();

	oidc_json_str(p, "cid", &cid);
	oidc_json_str(p, "ru", &ru);
	if ((c = oidc_client_find(v, cid)) == NULL || !oidc_client_redirect_ok(c, ru)) {
		error_page(req, resp, "client or redirect_uri no longer registered", cid);
		return;
	}
	oidc_json_str(p, "rt", &rt);
	oidc_json_str(p, "rm", &rm);
	oidc_json_str(p, "sc", &sc);
	oidc_json_str(p, "cc", &cc);
	oidc_json_str(p, "ccm", &ccm);
	oidc_json_str(p, "pr", &pr);
	oidc_json_str(p, "ma", &ma);
	oidc_json_str(p, "n", &n);
	oidc_json_str(p, "st", &st);

	if (json_object_get(p, "req") != NULL) {
		error_back(req, resp, p, "request_not_supported", NULL);
		return;
	}
	if (json_object_get(p, "requ") != NULL) {
		error_back(req, resp, p, "request_uri_not_supported", NULL);
		return;
	}
	if (rt == NULL) {
		error_back(req, resp, p, "invalid_request", "response_type is required");
		return;
	}
	if (strcmp(rt, "code") != 0) {
		error_back(req, resp, p, "unsupported_response_type", "only code");
		return;
	}
	if (rm != NULL && strcmp(rm, "query") != 0) {
		error_back(req, resp, p, "invalid_request", "only response_mode=query");
		return;
	}
	if ((st != NULL && strlen(st) > OIDC_STATE_MAX) ||
	    (n != NULL && strlen(n) > OIDC_NONCE_MAX) ||
	    (sc != NULL && strlen(sc) > OIDC_SCOPE_MAX)) {
		error_back(req, resp, p, "invalid_request", "parameter too long");
		return;
	}
	if (ccm != NULL && cc == NULL) {
		error_back(
		    req, resp, p, "invalid_request", "code_challenge_method without challenge");
		return;
	}
	if (cc != NULL && (ccm == NULL || strcmp(ccm, "S256") != 0)) {
		error_back(req, resp, p, "invalid_request", "code_challenge_method must be S256");
		return;
	}
	if (cc != NULL && !b64url_43(cc)) {
		error_back(req, resp, p, "invalid_request", "malformed code_challenge");
		return;
	}
	if (cc == NULL && c->public_client) {
		error_back(req, resp, p, "invalid_request", "PKCE (S256) is required");
		return;
	}
	prompt_none = oidc_scope_has(pr, "none");
	prompt_login = oidc_scope_has(pr, "login");
	if (prompt_none && pr != NULL && strcmp(pr, "none") != 0) {
		error_back(req, resp, p, "invalid_request", "prompt=none with other values");
		return;
	}
	if (ma != NULL && kh_parse_long(ma, 0, 100L * 365 * 86400, &max_age) != KH_OK) {
		error_back(req, resp, p, "invalid_request", "malformed max_age");
		return;
	}
	scope_grant(c, sc, granted, sizeof(granted));

	/* The SSO session. */
	cookie = kh_req_cookie(req, app->cfg->session_cookie);
	if (cookie != NULL) {
		r = kh_session_get(app->store, cookie, &s);
		if (r != KH_OK && r != KH_ERR_NOT_FOUND) {
			kh_error("oidc.authorize", "rid", req->rid, "backend", "redis", NULL);
			kh_page_error(req, resp, 503, M_UNAVAILABLE_TITLE, M_UNAVAILABLE_BODY);
			return;
		}
	}
	/* A sign-in made for this very request (after it was saved). */
	fresh =
	    resumed && s != NULL && (s->auth_time >= created || (pflags & KH_PENDING_LOGIN_DONE));
	need_login = s == NULL;
	if (s != NULL && prompt_login && !fresh) {
		need_login = 1;
		flags |= KH_PENDING_FORCE_LOGIN;
	}
	if (s != NULL && max_age >= 0 && (max_age == 0 || now - s->auth_time > max_age) && !fresh) {
		need_login = 1;
		flags |= KH_PENDING_FORCE_LOGIN;
	}
	if (need_login) {
		kh_session_free(s);
		if (prompt_none) {
			error_back(req, resp, p, "login_required", NULL);
			return;
		}
		if (resumed && (pflags & KH_PENDING_FORCE_LOGIN))
			flags |= KH_PENDING_FORCE_LOGIN;
		to_login(req, resp, p, flags);
		return;
	}
	if (!in_groups(c, s->groups)) {
		kh_audit("oidc.access_denied", "rid", req->rid, "client_id", c->client_id, "user",
		    s->uid, "why", "not in the client's groups", NULL);
		error_back(req, resp, p, "access_denied", "not permitted for this application");
		goto out;
	}
	/* Zero trust: the app's policy, and step-up when acr_values asks only
	 * for a second factor. */
	oidc_json_str(p, "acrv", &acrv);
	want_mfa =
	    acrv != NULL && oidc_scope_has(acrv, KH_ACR_MFA) && !oidc_scope_has(acrv, KH_ACR_PWD);
	switch (kh_access_decide(req, resp, v, c->app_id, s, want_mfa)) {
	case KH_ACCESS_ALLOW: break;
	case KH_ACCESS_MFA:
		if (prompt_none) {
			error_back(
			    req, resp, p, "interaction_required", "a second factor is needed");
			goto out;
		}
		to_mfa(req, resp, p, fresh ? KH_PENDING_LOGIN_DONE : 0);
		goto out;
	default: goto out; /* the page saying why (or 503) is in resp */
	}

	oidc_subject(g, c, s->uid, sub, sizeof(sub));
	oidc_sid(app, cookie, sid);
	if ((r = kh_random_token(16, &gid)) != KH_OK)
		goto fail;
	rec = json_pack("{ss ss ss ss ss sI ss ss ss ss}", "c", c->client_id, "ru", ru, "u", s->uid,
	    "s", sub, "sc", granted, "at", (json_int_t)s->auth_time, "acr",
	    s->acr != NULL ? s->acr : "", "amr", s->amr != NULL ? s->amr : "pwd", "sid", sid, "g",
	    gid);
	if (rec == NULL)
		goto fail;
	if (n != NULL)
		json_object_set_new(rec, "n", json_string(n));
	if (cc != NULL)
		json_object_set_new(rec, "cc", json_string(cc));
	json_object_set_new(rec, "cl", session_claims(s, granted));
	if ((r = oidc_issue_code(req, c, rec, &code)) != KH_OK)
		goto fail;
	oidc_session_add_rp(app, cookie, c->client_id);
	kh_audit("oidc.authorize", "rid", req->rid, "client_id", c->client_id, "user", s->uid,
	    "scope", granted, NULL);
	redirect_back(req, resp, p, "code", code, NULL, NULL);
	goto out;
fail:
	kh_error("oidc.authorize", "rid", req->rid, "client_id", c->client_id, "error",
	    "cannot issue a code", NULL);
	error_back(req, resp, p, "temporarily_unavailable", NULL);
out:
	kh_free_str(code);
	kh_free_str(gid);
	json_decref(rec);
	kh_session_free(s);
}

void
oidc_handle_authorize(struct kh_req *req, struct kh_resp *resp)
{
	struct kh_apps_view *v = NULL;
	enum kh_pending_kind kind = 0;
	const char *resume;
	char *data = NULL;
	size_t len = 0;
	int64_t created = 0;
	int flags = 0, r;
	json_t *p = NULL;

	if (oidc_global(req->app) == NULL) {
		kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
		return;
	}
	v = kh_apps_acquire(req->app);
	resume = kh_param_get(&req->query, "resume", NULL);
	if (resume != NULL) {
		if (kh_param_count(&req->query, "resume") != 1 || !kh_pending_id_valid(resume)) {
			error_page(req, resp, "bad resume id", NULL);
			goto out;
		}
		r = kh_pending_take(req, resume, &kind, &flags, &created, &data, &len);
		if (r == KH_ERR_NOT_FOUND || (r == KH_OK && kind != KH_PENDING_OIDC)) {
			kh_info("oidc.resume_unknown", "rid", req->rid, NULL);
			kh_page_error(
			    req, resp, 400, M_PENDING_EXPIRED_TITLE, M_PENDING_EXPIRED_BODY);
			goto out;
		}
		if (r != KH_OK) {
			kh_page_error(req, resp, 503, M_UNAVAILABLE_TITLE, M_UNAVAILABLE_BODY);
			goto out;
		}
		if ((p = json_loadb(data, len, 0, NULL)) == NULL || !json_is_object(p)) {
			kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
			goto out;
		}
		json_object_set_new(p, "_resumed", json_true());
		authorize(req, resp, v, p, 1, flags, created);
		goto out;
	}
	if ((p = json_object()) == NULL) {
		kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
		goto out;
	}
	r = params_read(req, resp, v, p);
	if (r == 0)
		goto out;
	if (r == 2) {
		error_back(req, resp, p, "invalid_request", "repeated or malformed parameter");
		goto out;
	}
	authorize(req, resp, v, p, 0, 0, 0);
out:
	if (data != NULL)
		kh_freezero(data, len + 1);
	json_decref(p);
	kh_apps_release(req->app, v);
}
