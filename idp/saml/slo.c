/* Single logout, front channel: a LogoutRequest from an SP (HTTP-Redirect or
 * HTTP-POST), or a sign-out started here (kh_saml_logout_begin_or_respond),
 * ends the SSO session at once and then walks the browser through every
 * other SP of the session, one LogoutRequest per hop. Between hops the state
 * (remaining lasso session, the hop's lasso_logout_dump, the initiator's
 * pending LogoutResponse) lives in Redis under a random id carried as
 * RelayState. */
#include <jansson.h>
#include <lasso/lasso.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/apps.h"
#include "idp/idp.h"
#include "idp/saml/saml.h"
#include "idp/saml/saml_int.h"
#include "sessions/kv.h"
#include "sessions/sessions.h"

#define SLO_TAG "saml-slo:"
#define SLO_ID_LEN 32 /* hex of 16 random bytes */

struct slo {
	struct kh_req *req;
	struct kh_resp *resp;
	struct kh_apps_view *view;
	struct kh_saml_view *sv;
	char id[SLO_ID_LEN + 1];
	json_t *st; /* initiator, initial, session, done[], hop, hop_sp, return_to */
};

static const char *
st_str(json_t *st, const char *k)
{
	json_t *v = json_object_get(st, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
st_set(json_t *st, const char *k, const char *v)
{
	return json_object_set_new(st, k, v ? json_string(v) : json_null()) == 0 ? KH_OK
										 : KH_ERR_NOMEM;
}

static int
is_done(json_t *st, const char *sp)
{
	json_t *d = json_object_get(st, "done"), *it;
	size_t i;

	json_array_foreach(
	    d, i, it) if (json_is_string(it) && strcmp(json_string_value(it), sp) == 0) return 1;
	return 0;
}

static int
state_save(struct slo *s)
{
	char *txt = json_dumps(s->st, JSON_COMPACT);
	int r;

	if (txt == NULL)
		return KH_ERR_NOMEM;
	r = kh_kv_put(s->req->app->store, SLO_TAG, s->id, txt, strlen(txt), KH_SAML_SLO_TTL, 0);
	kh_free_str(txt);
	return r;
}

/* Sends what lasso built: a POST form when it made a body, else a redirect
 * (the URL already carries the signed query). */
static void
send_built(struct slo *s, LassoProfile *p, const char *name)
{
	if (p->msg_url == NULL) {
		kh_saml_error_page(s->req, s->resp, KH_SAML_E_INTERNAL, "no SLO endpoint", NULL);
		return;
	}
	if (p->msg_body != NULL)
		kh_saml_send(s->req, s->resp, 1, p->msg_url, name, p->msg_body, p->msg_relayState);
	else
		kh_saml_send(s->req, s->resp, 0, p->msg_url, NULL, NULL, NULL);
}

static void
finish(struct slo *s)
{
	const char *initial = st_str(s->st, "initial"), *sess = st_str(s->st, "session");
	const char *ret = st_str(s->st, "return_to");
	LassoLogout *lo;
	int r;

	kh_kv_del(s->req->app->store, SLO_TAG, s->id);
	if (initial == NULL) {
		kh_resp_redirect(s->resp, 303, ret ? ret : "/login");
		return;
	}
	if ((lo = lasso_logout_new_from_dump(s->sv->server, initial)) == NULL) {
		kh_saml_error_page(s->req, s->resp, KH_SAML_E_INTERNAL, "logout dump", NULL);
		return;
	}
	if (sess != NULL && *sess != '\0')
		lasso_profile_set_session_from_dump(LASSO_PROFILE(lo), sess);
	lasso_profile_set_signature_hint(LASSO_PROFILE(lo), LASSO_PROFILE_SIGNATURE_HINT_FORCE);
	if ((r = lasso_logout_build_response_msg(lo)) != 0)
		kh_saml_error_page(s->req, s->resp, KH_SAML_E_INTERNAL, lasso_strerror(r), NULL);
	else
		send_built(s, LASSO_PROFILE(lo), "SAMLResponse");
	lasso_logout_destroy(lo);
}

/* Sends the browser to the next SP still in the session, or finishes. */
static void
next_hop(struct slo *s)
{
	const char *initiator = st_str(s->st, "initiator"), *sess = st_str(s->st, "session");
	LassoSession *ls = NULL;
	LassoLogout *hop = NULL;
	LassoProfile *p;
	char *sp = NULL, *dump = NULL;
	gint i;
	int r;

	if (sess != NULL && *sess != '\0')
		ls = lasso_session_new_from_dump(sess);
	for (i = 0; ls != NULL && (sp = lasso_session_get_provider_index(ls, i)) != NULL; i++) {
		if ((initiator == NULL || strcmp(sp, initiator) != 0) && !is_done(s->st, sp) &&
		    kh_saml_sp_find(s->sv, sp) != NULL)
			break;
		g_free(sp);
		sp = NULL;
	}
	if (ls != NULL)
		lasso_session_destroy(ls);
	if (sp == NULL) {
		finish(s);
		return;
	}
	json_array_append_new(json_object_get(s->st, "done"), json_string(sp));
	hop = lasso_logout_new(s->sv->server);
	p = LASSO_PROFILE(hop);
	lasso_profile_set_session_from_dump(p, sess);
	lasso_profile_set_signature_hint(p, LASSO_PROFILE_SIGNATURE_HINT_FORCE);
	if ((r = lasso_logout_init_request(hop, sp, LASSO_HTTP_METHOD_ANY)) != 0) {
		kh_warn("saml.slo_skip", "rid", s->req->rid, "sp", sp, "error", lasso_strerror(r),
		    NULL);
		lasso_logout_destroy(hop);
		g_free(sp);
		next_hop(s);
		return;
	}
	if (p->http_request_method != LASSO_HTTP_METHOD_REDIRECT &&
	    p->http_request_method != LASSO_HTTP_METHOD_POST) {
		/* SOAP-only SingleLogoutService: no front channel to it */
		kh_warn("saml.slo_skip", "rid", s->req->rid, "sp", sp, "error",
		    "no front-channel SLO", NULL);
		lasso_logout_destroy(hop);
		g_free(sp);
		next_hop(s);
		return;
	}
	g_free(p->msg_relayState);
	p->msg_relayState = g_strdup(s->id);
	if ((r = lasso_logout_build_request_msg(hop)) != 0 ||
	    (dump = lasso_logout_dump(hop)) == NULL || st_set(s->st, "hop", dump) != KH_OK ||
	    st_set(s->st, "hop_sp", sp) != KH_OK || state_save(s) != KH_OK) {
		kh_warn("saml.slo_skip", "rid", s->req->rid, "sp", sp, "error",
		    r ? lasso_strerror(r) : "state", NULL);
		g_free(dump);
		lasso_logout_destroy(hop);
		g_free(sp);
		next_hop(s);
		return;
	}
	kh_info("saml.slo_hop", "rid", s->req->rid, "sp", sp, NULL);
	send_built(s, p, "SAMLRequest");
	g_free(dump);
	g_free(sp);
	lasso_logout_destroy(hop);
}

static int
state_new(struct slo *s, const char *initiator, const char *initial, const char *sess,
    const char *return_to)
{
	unsigned char rnd[SLO_ID_LEN / 2];

	if (kh_random(rnd, sizeof(rnd)) != KH_OK)
		return KH_ERR_CRYPTO;
	kh_hex_encode(rnd, sizeof(rnd), s->id);
	if ((s->st = json_object()) == NULL)
		return KH_ERR_NOMEM;
	json_object_set_new(s->st, "done", json_array());
	if (st_set(s->st, "initiator", initiator) != KH_OK ||
	    st_set(s->st, "initial", initial) != KH_OK || st_set(s->st, "session", sess) != KH_OK ||
	    st_set(s->st, "return_to", return_to) != KH_OK)
		return KH_ERR_NOMEM;
	return KH_OK;
}

/* A cross-site POST carries no SameSite=Lax cookie: post the same message
 * again from this origin (a same-site request), once. */
static int
repost_or_continue(struct slo *s, const struct kh_saml_msg *m)
{
	const char *cookie = kh_req_cookie(s->req, s->req->app->cfg->session_cookie);
	struct kh_buf b;

	if (cookie != NULL || !m->binding_post || kh_param_get(&s->req->query, "r", NULL) != NULL)
		return 0;
	kh_buf_init(&b, 64);
	kh_buf_append_str(&b, "/saml/slo?r=1");
	kh_saml_send(s->req, s->resp, 1, kh_buf_cstr(&b), "SAMLRequest", m->value, m->relay_state);
	kh_buf_free(&b);
	return 1;
}

static void
slo_request(struct slo *s)
{
	struct kh_req *req = s->req;
	struct kh_idp *app = req->app;
	struct kh_saml_msg m;
	enum kh_saml_error e;
	const struct kh_saml_sp *sp;
	const char *why, *cookie = kh_req_cookie(req, app->cfg->session_cookie);
	LassoLogout *lo = NULL;
	LassoProfile *p;
	LassoSession *ls;
	char *dump = NULL, *initial = NULL, *left = NULL;
	int64_t now = kh_time();
	int rc;

	if (kh_saml_msg_read(req, "SAMLRequest", &m, &e, &why) != KH_OK) {
		kh_saml_error_page(req, s->resp, e, why, NULL);
		goto out;
	}
	if (strcmp(m.root, "LogoutRequest") != 0) {
		kh_saml_error_page(
		    req, s->resp, KH_SAML_E_MALFORMED, "not a LogoutRequest", m.issuer);
		goto out;
	}
	if ((sp = kh_saml_sp_find(s->sv, m.issuer)) == NULL) {
		kh_saml_error_page(
		    req, s->resp, KH_SAML_E_UNKNOWN_SP, "issuer not registered", m.issuer);
		goto out;
	}
	if (m.issue_instant > now + app->cfg->saml_clock_skew ||
	    m.issue_instant < now - app->cfg->saml_clock_skew - KH_SAML_REQUEST_MAX_AGE) {
		kh_saml_error_page(
		    req, s->resp, KH_SAML_E_EXPIRED, "IssueInstant out of range", m.issuer);
		goto out;
	}
	if (repost_or_continue(s, &m))
		goto out;
	if (cookie != NULL && kh_saml_session_load(app, cookie, &dump) == KH_ERR_UNAVAILABLE) {
		kh_saml_error_page(req, s->resp, KH_SAML_E_UNAVAILABLE, "session store", m.issuer);
		goto out;
	}
	lo = lasso_logout_new(s->sv->server);
	p = LASSO_PROFILE(lo);
	if (dump != NULL && *dump != '\0')
		lasso_profile_set_session_from_dump(p, dump);
	lasso_profile_set_signature_verify_hint(p,
	    sp->require_signed_requests ? LASSO_PROFILE_SIGNATURE_VERIFY_HINT_FORCE
					: LASSO_PROFILE_SIGNATURE_VERIFY_HINT_MAYBE);
	rc = lasso_logout_process_request_msg(
	    lo, m.binding_post ? (char *)m.value : (char *)m.raw_query);
	if (rc != 0 || (m.has_signature && p->signature_status != 0)) {
		kh_saml_error_page(req, s->resp,
		    rc == 0 || rc == LASSO_DS_ERROR_INVALID_SIGNATURE ||
			    rc == LASSO_DS_ERROR_SIGNATURE_VERIFICATION_FAILED
			? KH_SAML_E_SIGNATURE
			: rc == LASSO_DS_ERROR_SIGNATURE_NOT_FOUND ? KH_SAML_E_UNSIGNED
								   : KH_SAML_E_MALFORMED,
		    rc ? lasso_strerror(rc) : lasso_strerror(p->signature_status), m.issuer);
		goto out;
	}
	g_free(p->msg_relayState);
	p->msg_relayState = m.relay_state ? g_strdup(m.relay_state) : NULL;
	rc = lasso_logout_validate_request(lo);
	if (rc != 0)
		kh_info("saml.slo_unmatched", "rid", req->rid, "sp", m.issuer, "error",
		    lasso_strerror(rc), NULL);
	/* The user asked to sign out: the SSO session ends now. */
	if (cookie != NULL) {
		struct kh_session *sess = NULL;
		if (kh_session_get(app->store, cookie, &sess) == KH_OK) {
			kh_audit("saml.slo", "rid", req->rid, "uid", sess->uid, "sp", m.issuer,
			    "ip", req->client_ip, NULL);
			kh_session_free(sess);
		}
		kh_session_destroy(app->store, cookie);
		kh_resp_cookie(s->resp, req, app->cfg->session_cookie, "", 0);
	}
	if ((ls = lasso_profile_get_session(p)) != NULL && rc == 0)
		left = lasso_session_dump(ls);
	if ((initial = lasso_logout_dump(lo)) == NULL ||
	    state_new(s, m.issuer, initial, left, NULL) != KH_OK) {
		kh_saml_error_page(req, s->resp, KH_SAML_E_INTERNAL, "slo state", m.issuer);
		goto out;
	}
	next_hop(s);
out:
	g_free(left);
	g_free(initial);
	if (dump != NULL)
		kh_free_str(dump);
	if (lo != NULL)
		lasso_logout_destroy(lo);
	kh_saml_msg_free(&m);
}

static void
slo_response(struct slo *s)
{
	struct kh_req *req = s->req;
	struct kh_saml_msg m;
	enum kh_saml_error e;
	json_error_t jerr;
	const char *why, *hop_sp, *hopdump, *sess;
	LassoLogout *hop = NULL;
	LassoSession *ls = NULL;
	char *txt = NULL, *left = NULL;
	size_t len = 0;
	int rc;

	if (kh_saml_msg_read(req, "SAMLResponse", &m, &e, &why) != KH_OK) {
		kh_saml_error_page(req, s->resp, e, why, NULL);
		goto out;
	}
	if (strcmp(m.root, "LogoutResponse") != 0 || m.relay_state == NULL ||
	    strlen(m.relay_state) != SLO_ID_LEN ||
	    strspn(m.relay_state, "0123456789abcdef") != SLO_ID_LEN) {
		kh_saml_error_page(
		    req, s->resp, KH_SAML_E_MALFORMED, "not our LogoutResponse", m.issuer);
		goto out;
	}
	memcpy(s->id, m.relay_state, SLO_ID_LEN + 1);
	rc = kh_kv_get(req->app->store, SLO_TAG, s->id, &txt, &len);
	if (rc != KH_OK || (s->st = json_loadb(txt, len, 0, &jerr)) == NULL) {
		kh_saml_error_page(req, s->resp,
		    rc == KH_ERR_UNAVAILABLE ? KH_SAML_E_UNAVAILABLE : KH_SAML_E_EXPIRED,
		    "unknown or expired logout state", m.issuer);
		goto out;
	}
	hop_sp = st_str(s->st, "hop_sp");
	hopdump = st_str(s->st, "hop");
	sess = st_str(s->st, "session");
	if (hop_sp == NULL || hopdump == NULL || strcmp(hop_sp, m.issuer) != 0) {
		kh_saml_error_page(
		    req, s->resp, KH_SAML_E_MALFORMED, "response from the wrong SP", m.issuer);
		goto out;
	}
	hop = lasso_logout_new_from_dump(s->sv->server, hopdump);
	if (hop != NULL && sess != NULL && *sess != '\0')
		lasso_profile_set_session_from_dump(LASSO_PROFILE(hop), sess);
	rc = hop ? lasso_logout_process_response_msg(
		       hop, m.binding_post ? (char *)m.value : (char *)m.raw_query)
		 : LASSO_PROFILE_ERROR_INVALID_MSG;
	if (rc == 0 && sess != NULL && (ls = lasso_session_new_from_dump(sess)) != NULL) {
		lasso_session_remove_assertion(ls, hop_sp);
		left = lasso_session_dump(ls);
		lasso_session_destroy(ls);
		st_set(s->st, "session", left);
	}
	kh_info("saml.slo_response", "rid", req->rid, "sp", m.issuer, "result",
	    rc == 0 ? "ok" : lasso_strerror(rc), NULL);
	st_set(s->st, "hop", NULL);
	st_set(s->st, "hop_sp", NULL);
	next_hop(s);
out:
	g_free(left);
	if (hop != NULL)
		lasso_logout_destroy(hop);
	if (txt != NULL)
		kh_freezero(txt, len + 1);
	kh_saml_msg_free(&m);
}

static int
slo_begin(struct slo *s, struct kh_req *req, struct kh_resp *resp)
{
	memset(s, 0, sizeof(*s));
	s->req = req;
	s->resp = resp;
	if (kh_saml_global(req->app) == NULL)
		return KH_ERR_NOT_FOUND;
	s->view = kh_apps_acquire(req->app);
	if ((s->sv = kh_saml_view_of(s->view)) == NULL)
		return KH_ERR_NOT_FOUND;
	return KH_OK;
}

static void
slo_end(struct slo *s)
{
	json_decref(s->st);
	if (s->view != NULL)
		kh_apps_release(s->req->app, s->view);
}

void
kh_saml_handle_slo(struct kh_req *req, struct kh_resp *resp)
{
	const struct kh_params *ps = req->method == KH_POST ? &req->form : &req->query;
	struct slo s;

	if (slo_begin(&s, req, resp) != KH_OK)
		kh_saml_error_page(req, resp, KH_SAML_E_DISABLED, "saml disabled or no SP", NULL);
	else if (kh_param_get(ps, "SAMLRequest", NULL) != NULL)
		slo_request(&s);
	else if (kh_param_get(ps, "SAMLResponse", NULL) != NULL)
		slo_response(&s);
	else
		kh_saml_error_page(req, resp, KH_SAML_E_MALFORMED, "no SAML message", NULL);
	slo_end(&s);
}

int
kh_saml_logout_begin_or_respond(
    struct kh_req *req, struct kh_resp *resp, const char *cookie, const char *return_to)
{
	struct slo s;
	char *dump = NULL;
	int r;

	if (cookie == NULL || slo_begin(&s, req, resp) != KH_OK) {
		if (cookie != NULL)
			slo_end(&s);
		return 0;
	}
	if ((r = kh_saml_session_load(req->app, cookie, &dump)) != KH_OK || dump == NULL ||
	    *dump == '\0') {
		if (dump != NULL)
			kh_free_str(dump);
		slo_end(&s);
		return r == KH_OK ? 0 : r;
	}
	if (return_to == NULL || return_to[0] != '/' || return_to[1] == '/' ||
	    strpbrk(return_to, "\\\r\n") != NULL)
		return_to = "/login";
	if ((r = state_new(&s, NULL, NULL, dump, return_to)) != KH_OK) {
		kh_free_str(dump);
		slo_end(&s);
		return r;
	}
	kh_free_str(dump);
	next_hop(&s);
	slo_end(&s);
	return 1;
}
