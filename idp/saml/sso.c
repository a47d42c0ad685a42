/* Web SSO: /saml/sso (SP-initiated, HTTP-Redirect and HTTP-POST, and the
 * resume after the login form) and /saml/init (IdP-initiated). */
#include <lasso/lasso.h>
#include <lasso/xml/saml-2.0/samlp2_authn_request.h>
#include <lasso/xml/saml-2.0/samlp2_requested_authn_context.h>
#include <lasso/xml/saml-2.0/samlp2_response.h>
#include <lasso/xml/saml-2.0/samlp2_status.h>
#include <lasso/xml/saml-2.0/samlp2_status_code.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/access.h"
#include "idp/apps.h"
#include "idp/idp.h"
#include "idp/pending.h"
#include "idp/saml/saml_int.h"
#include "sessions/kv.h"
#include "sessions/sessions.h"

#define REPLAY_TAG "saml-rq:"

struct sso_ctx {
	struct kh_req *req;
	struct kh_resp *resp;
	struct kh_apps_view *view;
	struct kh_saml_view *sv;
	const struct kh_saml_sp *sp;
	LassoLogin *login;
	int resumed;
	int pending_flags;
	int64_t pending_created;
	/* The SAML SPs of the session the user had before a forced re-login
	 * (the login rotates the session): carried through the pending record
	 * so single logout still reaches them. */
	char *carry_uid;
	char *carry_dump;
};

#define CARRY_MAGIC "kh-saml-pending-1 "

static void
iso_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static LassoSamlp2AuthnRequest *
authn_request(LassoLogin *login)
{
	LassoProfile *p = LASSO_PROFILE(login);

	return LASSO_IS_SAMLP2_AUTHN_REQUEST(p->request) ? LASSO_SAMLP2_AUTHN_REQUEST(p->request)
							 : NULL;
}

/* ---- AuthnContext ---- */

static int
class_rank(const char *c)
{
	if (c == NULL)
		return -1;
	if (strcmp(c, LASSO_SAML2_AUTHN_CONTEXT_UNSPECIFIED) == 0)
		return 0;
	if (strcmp(c, LASSO_SAML2_AUTHN_CONTEXT_PASSWORD) == 0)
		return 1;
	if (strcmp(c, LASSO_SAML2_AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT) == 0)
		return 2;
	if (strcmp(c, LASSO_SAML2_AUTHN_CONTEXT_MOBILE_TWO_FACTOR_CONTRACT) == 0)
		return 3;
	return -1; /* a method this IdP does not offer */
}

/* The class to state in the assertion, or NULL when the request's
 * RequestedAuthnContext cannot be met by how the user signed in. */
static const char *
class_match(LassoSamlp2AuthnRequest *rq, const char *ours)
{
	const char *best = NULL;
	LassoSamlp2RequestedAuthnContext *rac = rq ? rq->RequestedAuthnContext : NULL;
	const char *cmp;
	int our = class_rank(ours), lo = 99, hi = -1, br = -1;
	GList *it;

	if (rac == NULL || rac->AuthnContextClassRef == NULL)
		return ours;
	cmp = rac->Comparison ? rac->Comparison : "exact";
	for (it = rac->AuthnContextClassRef; it != NULL; it = it->next) {
		int rk = class_rank(it->data);
		if (rk < 0)
			continue;
		if (rk < lo)
			lo = rk;
		if (rk > hi)
			hi = rk;
		if (rk <= our && rk > br) {
			br = rk;
			best = it->data;
		}
	}
	if (strcmp(cmp, "minimum") == 0)
		return hi >= 0 && our >= lo ? ours : NULL;
	if (strcmp(cmp, "better") == 0)
		return hi >= 0 && our > lo ? ours : NULL;
	if (strcmp(cmp, "maximum") == 0)
		return hi < 0 ? NULL : our <= hi ? ours : best;
	/* exact: one of the listed classes that this sign-in satisfies */
	return best;
}

static const char *
authn_class_for(struct kh_idp *app, LassoSamlp2AuthnRequest *rq, const struct kh_session *s)
{
	return class_match(rq, kh_saml_authn_class(app, s));
}

/* 1 when the request cannot be met by this sign-in but would be with a
 * second factor: step-up in the same session. */
static int
wants_second_factor(struct kh_idp *app, LassoSamlp2AuthnRequest *rq, const struct kh_session *s)
{
	return authn_class_for(app, rq, s) == NULL &&
	    class_match(rq, LASSO_SAML2_AUTHN_CONTEXT_MOBILE_TWO_FACTOR_CONTRACT) != NULL;
}

/* ---- responses ---- */

static void
set_status(LassoLogin *login, const char *top, const char *second)
{
	LassoSamlp2StatusResponse *r = LASSO_SAMLP2_STATUS_RESPONSE(LASSO_PROFILE(login)->response);
	LassoSamlp2Status *st = LASSO_SAMLP2_STATUS(lasso_samlp2_status_new());
	LassoSamlp2StatusCode *c = LASSO_SAMLP2_STATUS_CODE(lasso_samlp2_status_code_new());

	c->Value = g_strdup(top);
	if (second != NULL) {
		LassoSamlp2StatusCode *c2 =
		    LASSO_SAMLP2_STATUS_CODE(lasso_samlp2_status_code_new());
		c2->Value = g_strdup(second);
		c->StatusCode = c2;
	}
	st->StatusCode = c;
	if (r->Status != NULL)
		g_object_unref(r->Status);
	r->Status = st;
}

/* A SAML error status (NoPassive, NoAuthnContext, ...) to the SP's ACS URL
 * from its metadata, signed. */
static void
send_status(struct sso_ctx *c, const char *second, const char *why)
{
	LassoProfile *p = LASSO_PROFILE(c->login);
	char id[64];

	set_status(c->login, LASSO_SAML2_STATUS_CODE_RESPONDER, second);
	if (kh_saml_random_id(id, sizeof(id)) == KH_OK) {
		g_free(LASSO_SAMLP2_STATUS_RESPONSE(p->response)->ID);
		LASSO_SAMLP2_STATUS_RESPONSE(p->response)->ID = g_strdup(id);
	}
	lasso_profile_set_signature_hint(p, LASSO_PROFILE_SIGNATURE_HINT_FORCE);
	if (lasso_login_build_authn_response_msg(c->login) != 0 || p->msg_url == NULL ||
	    p->msg_body == NULL) {
		kh_saml_error_page(c->req, c->resp, KH_SAML_E_INTERNAL,
		    "cannot build status response", c->sp->entity_id);
		return;
	}
	kh_info("saml.status", "rid", c->req->rid, "sp", c->sp->entity_id, "status", second,
	    "reason", why, NULL);
	kh_saml_send(
	    c->req, c->resp, 1, p->msg_url, "SAMLResponse", p->msg_body, p->msg_relayState);
}

static int
in_groups(const struct kh_saml_sp *sp, const struct kh_session *s)
{
	const char *p, *nl;
	size_t i, n;

	if (sp->ngroups == 0)
		return 1;
	for (p = s->groups ? s->groups : ""; *p != '\0'; p = nl ? nl + 1 : p + n) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		for (i = 0; i < sp->ngroups; i++)
			if (strlen(sp->groups[i]) == n && memcmp(sp->groups[i], p, n) == 0)
				return 1;
		if (nl == NULL)
			break;
	}
	return 0;
}

/* The user is signed in well enough: build, sign and post the assertion. */
static void
issue(struct sso_ctx *c, const char *cookie, const struct kh_session *s, const char *cls)
{
	struct kh_idp *app = c->req->app;
	const struct kh_config *cfg = app->cfg;
	LassoProfile *p = LASSO_PROFILE(c->login);
	LassoSamlp2AuthnRequest *rq = authn_request(c->login);
	LassoSession *ls;
	char inst[32], nb[32], noa[32], ref[64], *dump = NULL, *newdump = NULL;
	int64_t now = kh_time();
	int r;

	if (!in_groups(c->sp, s)) {
		kh_audit(
		    "saml.denied", "rid", c->req->rid, "uid", s->uid, "sp", c->sp->entity_id, NULL);
		kh_saml_error_page(c->req, c->resp, KH_SAML_E_DENIED,
		    "user not in the app's groups", c->sp->entity_id);
		return;
	}
	/* NameIDs are made here, not by lasso's federation logic. */
	if (rq->NameIDPolicy == NULL)
		rq->NameIDPolicy = LASSO_SAMLP2_NAME_ID_POLICY(lasso_samlp2_name_id_policy_new());
	g_free(rq->NameIDPolicy->Format);
	rq->NameIDPolicy->Format = g_strdup(LASSO_SAML2_NAME_IDENTIFIER_FORMAT_TRANSIENT);
	if ((r = lasso_login_validate_request_msg(c->login, TRUE, TRUE)) != 0) {
		kh_saml_error_page(
		    c->req, c->resp, KH_SAML_E_INTERNAL, lasso_strerror(r), c->sp->entity_id);
		return;
	}
	iso_time(s->auth_time, inst);
	iso_time(now - cfg->saml_clock_skew, nb);
	iso_time(now + cfg->saml_assertion_lifetime, noa);
	if ((r = lasso_login_build_assertion(c->login, cls, inst, NULL, nb, noa)) != 0) {
		kh_saml_error_page(
		    c->req, c->resp, KH_SAML_E_INTERNAL, lasso_strerror(r), c->sp->entity_id);
		return;
	}
	if (kh_saml_session_ref(app, cookie, ref) != KH_OK ||
	    (r = kh_saml_fill_assertion(app, c->login, c->sp, s, ref)) != KH_OK) {
		kh_saml_error_page(c->req, c->resp,
		    r == KH_ERR_NOT_FOUND ? KH_SAML_E_DENIED : KH_SAML_E_INTERNAL,
		    r == KH_ERR_NOT_FOUND ? "no value for the NameID" : "cannot fill the assertion",
		    c->sp->entity_id);
		return;
	}
	/* The session's SP list (for logout) grows by this SP. */
	if ((r = kh_saml_session_load(app, cookie, &dump)) != KH_OK) {
		kh_saml_error_page(
		    c->req, c->resp, KH_SAML_E_UNAVAILABLE, "session store", c->sp->entity_id);
		return;
	}
	if ((dump == NULL || *dump == '\0') && c->carry_dump != NULL && c->carry_uid != NULL &&
	    strcmp(c->carry_uid, s->uid) == 0)
		lasso_profile_set_session_from_dump(p, c->carry_dump);
	else if (dump != NULL && *dump != '\0')
		lasso_profile_set_session_from_dump(p, dump);
	if ((r = lasso_login_build_authn_response_msg(c->login)) != 0 || p->msg_url == NULL ||
	    p->msg_body == NULL) {
		kh_saml_error_page(c->req, c->resp, KH_SAML_E_INTERNAL,
		    r ? lasso_strerror(r) : "no message", c->sp->entity_id);
		if (dump != NULL)
			kh_free_str(dump);
		return;
	}
	/* Written only when it changed (SSO reuse at the same SP keeps the
	 * NameID and SessionIndex it had). */
	if (c->sp->has_slo && (ls = lasso_profile_get_session(p)) != NULL &&
	    (newdump = lasso_session_dump(ls)) != NULL &&
	    (dump == NULL || strcmp(dump, newdump) != 0)) {
		r = kh_saml_session_save(app, cookie, newdump);
		if (r != KH_OK)
			kh_warn(
			    "saml.session_save", "rid", c->req->rid, "error", kh_strerror(r), NULL);
	}
	g_free(newdump);
	if (dump != NULL)
		kh_free_str(dump);
	kh_audit("saml.sso", "rid", c->req->rid, "uid", s->uid, "sp", c->sp->entity_id, "app",
	    c->sp->app_id, "class", cls, "ip", c->req->client_ip, NULL);
	kh_saml_send(
	    c->req, c->resp, 1, p->msg_url, "SAMLResponse", p->msg_body, p->msg_relayState);
}

/* Saves the parsed request for the login or MFA page to resume: the lasso
 * login dump, and, for a forced re-login, the uid and SAML session dump of
 * the session being replaced (carry_uid, freed here). KH_OK with id set, or
 * an error page in c->resp. */
static int
save_pending(struct sso_ctx *c, const char *cookie, char *carry_uid, int flags,
    char id[KH_PENDING_ID_LEN + 1])
{
	struct kh_idp *app = c->req->app;
	char *dump;
	int r;

	if ((dump = lasso_login_dump(c->login)) == NULL) {
		kh_saml_error_page(
		    c->req, c->resp, KH_SAML_E_INTERNAL, "lasso_login_dump", c->sp->entity_id);
		free(carry_uid);
		return KH_ERR_INTERNAL;
	}
	{
		/* CARRY_MAGIC uid-length uid session-dump-length\n uid sdump login-dump */
		struct kh_buf pb;
		char *sdump = NULL;
		const char *uid = carry_uid ? carry_uid : "";

		if (cookie != NULL && carry_uid != NULL &&
		    kh_saml_session_load(app, cookie, &sdump) != KH_OK)
			sdump = NULL;
		kh_buf_init(&pb, KH_KV_VALUE_MAX - 1024);
		r = kh_buf_appendf(
		    &pb, CARRY_MAGIC "%zu %zu\n", strlen(uid), sdump ? strlen(sdump) : (size_t)0);
		if (r == KH_OK)
			r = kh_buf_append_str(&pb, uid);
		if (r == KH_OK && sdump != NULL)
			r = kh_buf_append_str(&pb, sdump);
		if (r == KH_OK)
			r = kh_buf_append_str(&pb, dump);
		if (r == KH_OK)
			r = kh_pending_save(
			    c->req, c->resp, KH_PENDING_SAML, flags, pb.data, pb.len, id);
		kh_buf_free(&pb);
		if (sdump != NULL)
			kh_free_str(sdump);
		free(carry_uid);
	}
	g_free(dump);
	if (r != KH_OK) {
		kh_saml_error_page(c->req, c->resp,
		    r == KH_ERR_UNAVAILABLE ? KH_SAML_E_UNAVAILABLE : KH_SAML_E_INTERNAL,
		    "cannot save the pending request", c->sp->entity_id);
		return r;
	}
	return KH_OK;
}

/* With a parsed, checked request in c->login: issue now, or go through the
 * login form first. */
static void
proceed(struct sso_ctx *c)
{
	struct kh_idp *app = c->req->app;
	LassoSamlp2AuthnRequest *rq = authn_request(c->login);
	const char *cookie = kh_req_cookie(c->req, app->cfg->session_cookie);
	struct kh_session *s = NULL;
	const char *cls;
	char *carry_uid = NULL;
	char id[KH_PENDING_ID_LEN + 1];
	int r, force, passive, need_login, fresh;

	force = rq->ForceAuthn == TRUE && rq->IsPassive != TRUE;
	passive = rq->IsPassive == TRUE;
	if (cookie != NULL) {
		r = kh_session_get(app->store, cookie, &s);
		if (r == KH_ERR_UNAVAILABLE) {
			kh_saml_error_page(c->req, c->resp, KH_SAML_E_UNAVAILABLE, "session store",
			    c->sp->entity_id);
			return;
		}
	}
	fresh = c->resumed &&
	    (((c->pending_flags & KH_PENDING_FORCE_LOGIN) && s != NULL &&
		 s->auth_time >= c->pending_created) ||
		(c->pending_flags & KH_PENDING_LOGIN_DONE));
	need_login = s == NULL || (force && !fresh);
	if (!need_login) {
		enum kh_access a = kh_access_decide(
		    c->req, c->resp, c->view, c->sp->app_id, s, wants_second_factor(app, rq, s));
		if (a == KH_ACCESS_DENIED || a == KH_ACCESS_ERROR) {
			kh_session_free(s);
			return;
		}
		if (a == KH_ACCESS_MFA) {
			kh_session_free(s);
			if (passive) {
				send_status(c, LASSO_SAML2_STATUS_CODE_NO_PASSIVE,
				    "IsPassive and a second factor is needed");
				return;
			}
			/* A forced sign-in already made for this request stays
			 * made (flag), or the MFA page would loop back to it. */
			if (save_pending(c, cookie, NULL,
				force && fresh ? KH_PENDING_LOGIN_DONE : 0, id) == KH_OK)
				kh_access_redirect_mfa(c->resp, id);
			return;
		}
		if ((cls = authn_class_for(app, rq, s)) == NULL)
			send_status(c, LASSO_SAML2_STATUS_CODE_NO_AUTHN_CONTEXT,
			    "RequestedAuthnContext not met");
		else
			issue(c, cookie, s, cls);
		kh_session_free(s);
		return;
	}
	if (s != NULL && s->uid != NULL)
		carry_uid = strdup(s->uid);
	kh_session_free(s);
	if (passive) {
		free(carry_uid);
		send_status(c, LASSO_SAML2_STATUS_CODE_NO_PASSIVE, "IsPassive without a session");
		return;
	}
	if (save_pending(c, cookie, carry_uid, force ? KH_PENDING_FORCE_LOGIN : 0, id) != KH_OK)
		return;
	kh_pending_redirect_to_login(c->req, c->resp, id);
}

static enum kh_saml_error
lasso_error_kind(int rc, const char **why)
{
	*why = lasso_strerror(rc);
	switch (rc) {
	case LASSO_PROFILE_ERROR_UNKNOWN_PROVIDER:
	case LASSO_SERVER_ERROR_PROVIDER_NOT_FOUND: return KH_SAML_E_UNKNOWN_SP;
	case LASSO_PROFILE_ERROR_INVALID_PROTOCOLPROFILE:
	case LASSO_LOGIN_ERROR_NO_DEFAULT_ENDPOINT: return KH_SAML_E_BAD_ACS;
	case LASSO_DS_ERROR_SIGNATURE_NOT_FOUND:
	case LASSO_LOGIN_ERROR_UNSIGNED_AUTHN_REQUEST: return KH_SAML_E_UNSIGNED;
	case LASSO_DS_ERROR_INVALID_SIGNATURE:
	case LASSO_DS_ERROR_SIGNATURE_VERIFICATION_FAILED:
	case LASSO_LOGIN_ERROR_INVALID_SIGNATURE:
	case LASSO_PROFILE_ERROR_CANNOT_VERIFY_SIGNATURE:
	case LASSO_DS_ERROR_INVALID_SIGALG: return KH_SAML_E_SIGNATURE;
	default: return KH_SAML_E_MALFORMED;
	}
}

static void
sso_request(struct sso_ctx *c)
{
	struct kh_req *req = c->req;
	struct kh_idp *app = req->app;
	const struct kh_config *cfg = app->cfg;
	struct kh_saml_msg m;
	enum kh_saml_error e;
	LassoProfile *p;
	const char *why;
	char rid[65], *idkey = NULL;
	int64_t now = kh_time();
	int rc;

	if (kh_saml_msg_read(req, "SAMLRequest", &m, &e, &why) != KH_OK) {
		kh_saml_error_page(req, c->resp, e, why, NULL);
		goto out;
	}
	if (strcmp(m.root, "AuthnRequest") != 0) {
		kh_saml_error_page(
		    req, c->resp, KH_SAML_E_MALFORMED, "not an AuthnRequest", m.issuer);
		goto out;
	}
	if ((c->sp = kh_saml_sp_find(c->sv, m.issuer)) == NULL) {
		kh_saml_error_page(
		    req, c->resp, KH_SAML_E_UNKNOWN_SP, "issuer not registered", m.issuer);
		goto out;
	}
	if (c->sp->require_signed_requests && !m.has_signature) {
		kh_saml_error_page(req, c->resp, KH_SAML_E_UNSIGNED, "unsigned request", m.issuer);
		goto out;
	}
	c->login = lasso_login_new(c->sv->server);
	p = LASSO_PROFILE(c->login);
	lasso_profile_set_signature_verify_hint(p,
	    c->sp->require_signed_requests ? LASSO_PROFILE_SIGNATURE_VERIFY_HINT_FORCE
					   : LASSO_PROFILE_SIGNATURE_VERIFY_HINT_MAYBE);
	rc = lasso_login_process_authn_request_msg(
	    c->login, m.binding_post ? (char *)m.value : (char *)m.raw_query);
	if (rc != 0 && m.has_signature && p->signature_status != 0) {
		/* the signature is checked before the ACS URL: report it first */
		kh_saml_error_page(req, c->resp, KH_SAML_E_SIGNATURE,
		    lasso_strerror(p->signature_status), m.issuer);
		goto out;
	}
	if (rc != 0) {
		e = lasso_error_kind(rc, &why);
		kh_saml_error_page(req, c->resp, e, why, m.issuer);
		goto out;
	}
	if (p->remote_providerID == NULL || strcmp(p->remote_providerID, c->sp->entity_id) != 0) {
		kh_saml_error_page(req, c->resp, KH_SAML_E_MALFORMED, "issuer mismatch", m.issuer);
		goto out;
	}
	if (m.has_signature && p->signature_status != 0) {
		kh_saml_error_page(req, c->resp, KH_SAML_E_SIGNATURE,
		    lasso_strerror(p->signature_status), m.issuer);
		goto out;
	}
	if (c->sp->require_signed_requests && (!m.has_signature || p->signature_status != 0)) {
		kh_saml_error_page(req, c->resp, KH_SAML_E_UNSIGNED, "unsigned request", m.issuer);
		goto out;
	}
	if (c->login->protocolProfile != LASSO_LOGIN_PROTOCOL_PROFILE_BRWS_POST) {
		kh_saml_error_page(
		    req, c->resp, KH_SAML_E_BINDING, "response binding is not HTTP-POST", m.issuer);
		goto out;
	}
	if (m.issue_instant > now + cfg->saml_clock_skew ||
	    m.issue_instant < now - cfg->saml_clock_skew - KH_SAML_REQUEST_MAX_AGE) {
		kh_saml_error_page(
		    req, c->resp, KH_SAML_E_EXPIRED, "IssueInstant out of range", m.issuer);
		goto out;
	}
	/* Replay cache: (issuer, ID) once within the acceptance window. */
	if ((idkey = g_strconcat(m.issuer, "\n", m.id, NULL)) == NULL ||
	    kh_kv_secret_id(app->store, "saml-authnrequest", idkey, rid) != KH_OK) {
		kh_saml_error_page(req, c->resp, KH_SAML_E_INTERNAL, "replay key", m.issuer);
		goto out;
	}
	rc = kh_kv_put(app->store, REPLAY_TAG, rid, "1", 1,
	    KH_SAML_REQUEST_MAX_AGE + 2 * cfg->saml_clock_skew + 60, 1);
	if (rc == KH_ERR_EXISTS) {
		kh_saml_error_page(
		    req, c->resp, KH_SAML_E_REPLAY, "AuthnRequest ID seen before", m.issuer);
		goto out;
	} else if (rc != KH_OK) {
		kh_saml_error_page(req, c->resp, KH_SAML_E_UNAVAILABLE, "replay cache", m.issuer);
		goto out;
	}
	g_free(p->msg_relayState);
	p->msg_relayState = m.relay_state ? g_strdup(m.relay_state) : NULL;
	proceed(c);
out:
	g_free(idkey);
	kh_saml_msg_free(&m);
}

static void
sso_resume(struct sso_ctx *c, const char *id)
{
	struct kh_req *req = c->req;
	enum kh_pending_kind kind;
	char *data = NULL;
	size_t len = 0;
	int r;

	if (!kh_pending_id_valid(id)) {
		kh_saml_error_page(req, c->resp, KH_SAML_E_MALFORMED, "bad resume id", NULL);
		return;
	}
	r = kh_pending_take(req, id, &kind, &c->pending_flags, &c->pending_created, &data, &len);
	if (r != KH_OK || kind != KH_PENDING_SAML) {
		kh_saml_error_page(req, c->resp,
		    r == KH_ERR_UNAVAILABLE ? KH_SAML_E_UNAVAILABLE : KH_SAML_E_EXPIRED,
		    "unknown or expired pending request", NULL);
		goto out;
	}
	c->resumed = 1;
	{
		size_t ulen = 0, slen = 0, hlen;
		const char *nl;
		char *login_dump;

		if (len < strlen(CARRY_MAGIC) ||
		    memcmp(data, CARRY_MAGIC, strlen(CARRY_MAGIC)) != 0 ||
		    (nl = memchr(data, '\n', len)) == NULL ||
		    sscanf(data + strlen(CARRY_MAGIC), "%zu %zu", &ulen, &slen) != 2 ||
		    (hlen = (size_t)(nl + 1 - data)) + ulen + slen > len) {
			kh_saml_error_page(
			    req, c->resp, KH_SAML_E_INTERNAL, "pending record", NULL);
			goto out;
		}
		if (ulen > 0) {
			c->carry_uid = strndup(data + hlen, ulen);
			c->carry_dump = slen ? strndup(data + hlen + ulen, slen) : NULL;
		}
		login_dump = data + hlen + ulen + slen;
		c->login = lasso_login_new_from_dump(c->sv->server, login_dump);
	}
	if (c->login == NULL || authn_request(c->login) == NULL ||
	    (c->sp = kh_saml_sp_find(c->sv, LASSO_PROFILE(c->login)->remote_providerID)) == NULL) {
		kh_saml_error_page(
		    req, c->resp, KH_SAML_E_UNKNOWN_SP, "SP gone since the request", NULL);
		goto out;
	}
	proceed(c);
out:
	if (data != NULL)
		kh_freezero(data, len + 1);
}

static int
begin_or_respond(struct sso_ctx *c, struct kh_req *req, struct kh_resp *resp)
{
	memset(c, 0, sizeof(*c));
	c->req = req;
	c->resp = resp;
	if (kh_saml_global(req->app) == NULL) {
		kh_saml_error_page(req, resp, KH_SAML_E_DISABLED, "saml disabled", NULL);
		return -1;
	}
	c->view = kh_apps_acquire(req->app);
	if ((c->sv = kh_saml_view_of(c->view)) == NULL) {
		kh_saml_error_page(req, resp, KH_SAML_E_UNKNOWN_SP, "no SAML view", NULL);
		return -1;
	}
	return 0;
}

static void
end(struct sso_ctx *c)
{
	free(c->carry_uid);
	if (c->carry_dump != NULL)
		kh_free_str(c->carry_dump);
	if (c->login != NULL)
		lasso_login_destroy(c->login);
	if (c->view != NULL)
		kh_apps_release(c->req->app, c->view);
}

void
kh_saml_handle_sso(struct kh_req *req, struct kh_resp *resp)
{
	struct sso_ctx c;
	const char *resume;

	if (begin_or_respond(&c, req, resp) == 0) {
		resume = req->method == KH_GET ? kh_param_get(&req->query, "resume", NULL) : NULL;
		if (resume != NULL && kh_param_count(&req->query, "resume") == 1)
			sso_resume(&c, resume);
		else
			sso_request(&c);
	}
	end(&c);
}

void
kh_saml_handle_init(struct kh_req *req, struct kh_resp *resp)
{
	struct sso_ctx c;
	const char *entity, *rs;
	size_t rlen = 0;
	LassoProfile *p;
	LassoSamlp2AuthnRequest *rq;
	int rc;

	if (begin_or_respond(&c, req, resp) != 0)
		goto out;
	if (kh_param_count(&req->query, "sp") != 1 ||
	    kh_param_count(&req->query, "RelayState") > 1) {
		kh_saml_error_page(req, resp, KH_SAML_E_MALFORMED, "sp= missing or repeated", NULL);
		goto out;
	}
	entity = kh_param_get(&req->query, "sp", NULL);
	rs = kh_param_get(&req->query, "RelayState", &rlen);
	if (rs != NULL &&
	    (rlen > KH_SAML_RELAYSTATE_MAX || strlen(rs) != rlen ||
		!kh_utf8_valid_text(rs, rlen))) {
		kh_saml_error_page(req, resp, KH_SAML_E_TOO_LARGE, "RelayState", entity);
		goto out;
	}
	if ((c.sp = kh_saml_sp_find(c.sv, entity)) == NULL) {
		kh_saml_error_page(req, resp, KH_SAML_E_UNKNOWN_SP, "sp= not registered", entity);
		goto out;
	}
	c.login = lasso_login_new(c.sv->server);
	p = LASSO_PROFILE(c.login);
	if ((rc = lasso_login_init_idp_initiated_authn_request(c.login, c.sp->entity_id)) != 0) {
		kh_saml_error_page(req, resp, KH_SAML_E_INTERNAL, lasso_strerror(rc), entity);
		goto out;
	}
	rq = authn_request(c.login);
	g_free(rq->ProtocolBinding);
	rq->ProtocolBinding = g_strdup(LASSO_SAML2_METADATA_BINDING_POST);
	if (rq->NameIDPolicy != NULL)
		rq->NameIDPolicy->AllowCreate = TRUE;
	if ((rc = lasso_login_process_authn_request_msg(c.login, NULL)) != 0) {
		const char *why;
		enum kh_saml_error e = lasso_error_kind(rc, &why);
		kh_saml_error_page(req, resp, e, why, entity);
		goto out;
	}
	if (c.login->protocolProfile != LASSO_LOGIN_PROTOCOL_PROFILE_BRWS_POST) {
		kh_saml_error_page(req, resp, KH_SAML_E_BINDING, "SP has no HTTP-POST ACS", entity);
		goto out;
	}
	g_free(p->msg_relayState);
	p->msg_relayState = rs ? g_strdup(rs) : NULL;
	proceed(&c);
out:
	end(&c);
}
