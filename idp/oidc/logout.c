/* GET /oidc/logout (OpenID Connect RP-Initiated Logout 1.0) and back-channel
 * logout (OpenID Connect Back-Channel Logout 1.0) to every client that took
 * part in the ending SSO session. */
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/apps.h"
#include "idp/idp.h"
#include "idp/oidc/net.h"
#include "idp/oidc/oidc.h"
#include "idp/oidc/tokens.h"
#include "idp/page.h"
#include "sessions/kv.h"
#include "sessions/sessions.h"

#define RPS_MAX 64

void
kh_oidc_session_ended(struct kh_idp *app, const char *session_cookie, const char *uid)
{
	struct oidc_global *g = oidc_global(app);
	struct kh_apps_view *v = NULL;
	const struct oidc_client *c;
	struct oidc_bcl *items = NULL;
	char sid[65], sub[128], *val = NULL, *tok, *save = NULL, *jwt;
	size_t len = 0, n = 0;

	if (g == NULL || session_cookie == NULL || uid == NULL)
		return;
	oidc_sid(app, session_cookie, sid);
	if (kh_session_field_get(app->store, session_cookie, "x_rps", &val, &len) != KH_OK)
		return;
	if ((items = calloc(RPS_MAX, sizeof(*items))) == NULL)
		goto out;
	v = kh_apps_acquire(app);
	for (tok = strtok_r(val, " ", &save); tok != NULL && n < RPS_MAX;
	     tok = strtok_r(NULL, " ", &save)) {
		if ((c = oidc_client_find(v, tok)) == NULL || c->backchannel_logout_uri == NULL)
			continue;
		oidc_subject(g, c, uid, sub, sizeof(sub));
		if (oidc_logout_token(app, c, sub, sid, &jwt) != KH_OK) {
			kh_warn("oidc.backchannel_logout", "client_id", c->client_id, "error",
			    "cannot sign the logout token", NULL);
			continue;
		}
		items[n].token = jwt;
		if ((items[n].client_id = strdup(c->client_id)) == NULL ||
		    (items[n].uri = strdup(c->backchannel_logout_uri)) == NULL) {
			free(items[n].client_id);
			free(items[n].token);
			continue;
		}
		n++;
	}
	kh_apps_release(app, v);
	if (n > 0) {
		oidc_net_backchannel(items, n); /* takes items */
		items = NULL;
	}
out:
	free(items);
	kh_freezero(val, len + 1);
}

static void
logged_out_page(struct kh_req *req, struct kh_resp *resp)
{
	kh_page_begin(req, resp, M_LOGOUT_TITLE);
	kh_page_raw(resp, "<p id=\"signed-out\" role=\"status\">");
	kh_page_text(resp, kh_msg(req->lang, M_LOGGED_OUT));
	kh_page_raw(resp, "</p>\n<p><a href=\"/login\">");
	kh_page_text(resp, kh_msg(req->lang, M_SIGN_IN_AGAIN));
	kh_page_raw(resp, "</a></p>\n");
	kh_page_end(req, resp);
}

static void
refuse(struct kh_req *req, struct kh_resp *resp, const char *why)
{
	kh_warn("oidc.logout_refused", "rid", req->rid, "why", why, "ip", req->client_ip, NULL);
	kh_page_error(req, resp, 400, M_BAD_REQUEST_TITLE, M_BAD_REQUEST_BODY);
}

static const char *
single(const struct kh_params *ps, const char *name, int *bad)
{
	size_t len = 0;
	const char *v = kh_param_get(ps, name, &len);

	if (kh_param_count(ps, name) > 1 || (v != NULL && strlen(v) != len))
		*bad = 1;
	return v;
}

void
oidc_handle_logout(struct kh_req *req, struct kh_resp *resp)
{
	struct kh_idp *app = req->app;
	struct oidc_global *g = oidc_global(app);
	const struct kh_params *ps = req->method == KH_POST ? &req->form : &req->query;
	const char *hint, *plru, *state, *cid, *iss, *aud = NULL, *hsid, *hsub, *cookie;
	const struct oidc_client *c = NULL;
	struct kh_apps_view *v = NULL;
	struct kh_session *s = NULL;
	json_t *claims = NULL, *a;
	char sid[65], sub[128];
	struct kh_buf b;
	int bad = 0, r, match = 0;

	if (g == NULL) {
		kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
		return;
	}
	hint = single(ps, "id_token_hint", &bad);
	plru = single(ps, "post_logout_redirect_uri", &bad);
	state = single(ps, "state", &bad);
	cid = single(ps, "client_id", &bad);
	if (bad || ps->overflow) {
		refuse(req, resp, "repeated parameter");
		return;
	}
	v = kh_apps_acquire(app);
	if (hint != NULL) {
		/* Our own ID token; an expired one is still a fine hint. */
		if (oidc_jws_verify(hint, g->own, g->nown, &claims, NULL) != KH_OK ||
		    (iss = json_string_value(json_object_get(claims, "iss"))) == NULL ||
		    strcmp(iss, g->issuer) != 0) {
			refuse(req, resp, "id_token_hint not ours");
			goto out;
		}
		a = json_object_get(claims, "aud");
		aud = json_is_string(a) ? json_string_value(a)
					: json_string_value(json_array_get(a, 0));
		if (aud == NULL || (cid != NULL && strcmp(cid, aud) != 0)) {
			refuse(req, resp, "id_token_hint audience");
			goto out;
		}
		cid = aud;
	}
	if (cid != NULL && (c = oidc_client_find(v, cid)) == NULL) {
		refuse(req, resp, "unknown client");
		goto out;
	}
	if (plru != NULL && (c == NULL || !oidc_client_post_logout_ok(c, plru))) {
		refuse(req, resp, "post_logout_redirect_uri not registered (exact match)");
		goto out;
	}

	cookie = kh_req_cookie(req, app->cfg->session_cookie);
	if (cookie != NULL) {
		r = kh_session_get(app->store, cookie, &s);
		if (r != KH_OK && r != KH_ERR_NOT_FOUND) {
			kh_page_error(req, resp, 503, M_UNAVAILABLE_TITLE, M_UNAVAILABLE_BODY);
			goto out;
		}
	}
	if (s != NULL) {
		/* The hint must name this browser's session (sid), or at least
		 * its user, before we end it without asking. */
		if (claims != NULL && c != NULL) {
			oidc_sid(app, cookie, sid);
			oidc_subject(g, c, s->uid, sub, sizeof(sub));
			hsid = json_string_value(json_object_get(claims, "sid"));
			hsub = json_string_value(json_object_get(claims, "sub"));
			match = hsid != NULL ? strcmp(hsid, sid) == 0
					     : hsub != NULL && strcmp(hsub, sub) == 0;
		}
		if (!match) {
			/* No proof that the application's user asked: let the
			 * user confirm on the CSRF-protected sign-out page. */
			kh_resp_redirect(resp, 302, "/logout");
			goto out;
		}
		kh_audit("oidc.logout", "rid", req->rid, "user", s->uid, "client_id", c->client_id,
		    "ip", req->client_ip, NULL);
		/* The one shared SSO session ends everywhere: back-channel to the
		 * OIDC clients, front-channel through the SAML SPs (that round
		 * ends on the signed-out page), then in Redis. */
		r = kh_logout_session_or_respond(req, resp, cookie);
		if (r != 0)
			goto out;
	}
	if (plru != NULL) {
		kh_buf_init(&b, OIDC_URI_MAX * 2);
		kh_buf_append_str(&b, plru);
		if (state != NULL) {
			kh_buf_append_str(&b, strchr(plru, '?') != NULL ? "&state=" : "?state=");
			kh_buf_append_urlenc(&b, state);
		}
		kh_resp_redirect(resp, 302, kh_buf_cstr(&b));
		kh_buf_free(&b);
		goto out;
	}
	logged_out_page(req, resp);
out:
	kh_session_free(s);
	json_decref(claims);
	kh_apps_release(app, v);
}
