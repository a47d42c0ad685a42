/* GET/POST /login and GET/POST /logout: the staff sign-in pages. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "connectors/connector.h"
#include "idp/access.h"
#include "idp/csrf.h"
#include "idp/idp.h"
#include "idp/metrics.h"
#include "idp/page.h"
#include "idp/oidc/oidc.h"
#include "idp/pending.h"
#include "idp/saml/saml.h"
#include "sessions/mfa.h"
#include "sessions/sessions.h"

/* What the login form shows besides the fields. */
struct form_state {
	const char *username; /* echoed back (escaped), may be NULL */
	enum kh_msg error; /* M__COUNT for none */
	const char *error_extra;
	int show_password_change;
	int show_helpdesk;
	const char *pending; /* a protocol request waiting for this sign-in */
};

static void
render_login_form(struct kh_req *req, struct kh_resp *resp, const struct form_state *fs)
{
	const struct kh_config *cfg = req->app->cfg;
	char token[KH_CSRF_TOKEN_LEN + 1];
	enum kh_lang l = req->lang;

	if (kh_csrf_token(req, resp, token) != KH_OK) {
		kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
		return;
	}
	kh_page_begin(req, resp, M_LOGIN_TITLE);
	if (fs->error != M__COUNT) {
		kh_page_raw(resp, "<p class=\"error\" id=\"error\" role=\"alert\">");
		kh_page_text(resp, kh_msg(l, fs->error));
		if (fs->error_extra != NULL) {
			kh_page_raw(resp, " ");
			kh_page_text(resp, fs->error_extra);
		}
		kh_page_raw(resp, "</p>\n");
		if (fs->show_password_change && *cfg->login_password_change_url != '\0') {
			kh_page_raw(resp, "<p><a id=\"password-change\" href=\"");
			kh_page_text(resp, cfg->login_password_change_url);
			kh_page_raw(resp, "\">");
			kh_page_text(resp, kh_msg(l, M_CHANGE_PASSWORD_AT));
			kh_page_raw(resp, "</a></p>\n");
		}
		if (fs->show_helpdesk)
			kh_page_helpdesk(req, resp);
	}
	kh_page_raw(resp, "<p>");
	kh_page_text(resp, kh_msg(l, M_LOGIN_LEAD));
	kh_page_raw(resp,
	    "</p>\n<form method=\"post\" action=\"/login\" autocomplete=\"on\">\n"
	    "<input type=\"hidden\" name=\"csrf\" value=\"");
	kh_page_text(resp, token);
	if (fs->pending != NULL) {
		kh_page_raw(resp, "\">\n<input type=\"hidden\" name=\"p\" value=\"");
		kh_page_text(resp, fs->pending);
	}
	kh_page_raw(resp, "\">\n<label for=\"username\">");
	kh_page_text(resp, kh_msg(l, M_USERNAME));
	kh_page_raw(resp,
	    "</label>\n<input type=\"text\" id=\"username\" name=\"username\" "
	    "autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" "
	    "maxlength=\"256\" required");
	if (fs->username != NULL) {
		kh_page_raw(resp, " value=\"");
		kh_page_text(resp, fs->username);
		kh_page_raw(resp, "\"");
	} else
		kh_page_raw(resp, " autofocus");
	kh_page_raw(resp, ">\n<label for=\"password\">");
	kh_page_text(resp, kh_msg(l, M_PASSWORD));
	kh_page_raw(resp,
	    "</label>\n<input type=\"password\" id=\"password\" name=\"password\" "
	    "autocomplete=\"current-password\" maxlength=\"1024\" required");
	if (fs->username != NULL)
		kh_page_raw(resp, " autofocus");
	kh_page_raw(resp, ">\n<button type=\"submit\" id=\"submit\">");
	kh_page_text(resp, kh_msg(l, M_SIGN_IN));
	kh_page_raw(resp, "</button>\n</form>\n");
	kh_page_end(req, resp);
	explicit_bzero(token, sizeof(token));
}

static void
render_signed_in(struct kh_req *req, struct kh_resp *resp, const struct kh_session *s,
    const char *notice, const char *continue_url)
{
	char token[KH_CSRF_TOKEN_LEN + 1];
	enum kh_lang l = req->lang;

	if (kh_csrf_token(req, resp, token) != KH_OK) {
		kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
		return;
	}
	kh_page_begin(req, resp, M_SIGNED_IN_TITLE);
	if (notice != NULL) {
		kh_page_raw(resp, "<p class=\"notice\" id=\"notice\" role=\"status\">");
		kh_page_text(resp, notice);
		kh_page_raw(resp, "</p>\n");
	}
	if (continue_url != NULL) {
		kh_page_raw(resp, "<p><a id=\"continue\" href=\"");
		kh_page_text(resp, continue_url);
		kh_page_raw(resp, "\">");
		kh_page_text(resp, kh_msg(l, M_CONTINUE));
		kh_page_raw(resp, "</a></p>\n");
	}
	kh_page_raw(resp, "<p>");
	kh_page_text(resp, kh_msg(l, M_SIGNED_IN_AS));
	kh_page_raw(resp, "</p>\n<p class=\"who\"><span id=\"display-name\">");
	kh_page_text(resp, s->display_name != NULL && *s->display_name ? s->display_name : s->uid);
	kh_page_raw(resp, "</span> (<span id=\"uid\">");
	kh_page_text(resp, s->uid);
	kh_page_raw(resp, "</span>)</p>\n<p>");
	kh_page_text(resp, kh_msg(l, M_SIGNED_IN_NOTE));
	kh_page_raw(resp, "</p>\n<p><a id=\"mfa-settings\" href=\"/mfa/setup\">");
	kh_page_text(resp, kh_msg(l, M_MFA_SETUP_TITLE));
	kh_page_raw(resp,
	    "</a></p>\n<form method=\"post\" action=\"/logout\">\n"
	    "<input type=\"hidden\" name=\"csrf\" value=\"");
	kh_page_text(resp, token);
	kh_page_raw(resp, "\">\n<button type=\"submit\" id=\"logout\">");
	kh_page_text(resp, kh_msg(l, M_SIGN_OUT));
	kh_page_raw(resp, "</button>\n</form>\n");
	kh_page_end(req, resp);
	explicit_bzero(token, sizeof(token));
}

static void
unavailable(struct kh_req *req, struct kh_resp *resp, const char *what)
{
	kh_error("login.unavailable", "rid", req->rid, "backend", what, "ip", req->client_ip, NULL);
	kh_page_error(req, resp, 503, M_UNAVAILABLE_TITLE, M_UNAVAILABLE_BODY);
	kh_resp_header(resp, "Retry-After", "30");
}

/* Loads the session named by the cookie. 1: found; 0: none; -1: Redis down
 * (the error page is already in resp). */
static int
load_session_or_respond(struct kh_req *req, struct kh_resp *resp, struct kh_session **s)
{
	const char *cookie = kh_req_cookie(req, req->app->cfg->session_cookie);
	int r;

	*s = NULL;
	if (cookie == NULL)
		return 0;
	r = kh_session_get(req->app->store, cookie, s);
	if (r == KH_OK)
		return 1;
	if (r == KH_ERR_NOT_FOUND)
		return 0;
	unavailable(req, resp, "redis");
	return -1;
}

/* The pending protocol request named by the "p" field, if any.
 * 1: valid (kind and flags set); 0: none given; -1: answered (expired,
 * foreign or repeated id: error page; Redis down: 503). */
static int
pending_or_respond(struct kh_req *req, struct kh_resp *resp, const struct kh_params *ps,
    const char **id, enum kh_pending_kind *kind, int *flags)
{
	int64_t created;
	int r;

	*id = kh_param_get(ps, "p", NULL);
	if (*id == NULL)
		return 0;
	if (kh_param_count(ps, "p") > 1) {
		kh_page_error(req, resp, 400, M_BAD_REQUEST_TITLE, M_BAD_REQUEST_BODY);
		return -1;
	}
	r = kh_pending_peek(req, *id, kind, flags, &created, NULL, NULL);
	if (r == KH_OK)
		return 1;
	if (r == KH_ERR_NOT_FOUND) {
		kh_info("login.pending_unknown", "rid", req->rid, "ip", req->client_ip, NULL);
		kh_page_error(req, resp, 400, M_PENDING_EXPIRED_TITLE, M_PENDING_EXPIRED_BODY);
		return -1;
	}
	unavailable(req, resp, "redis");
	return -1;
}

static void
redirect_resume(struct kh_resp *resp, enum kh_pending_kind kind, const char *id)
{
	struct kh_buf b;

	kh_buf_init(&b, 128);
	if (kh_pending_resume_url(kind, id, &b) == KH_OK)
		kh_resp_redirect(resp, 303, kh_buf_cstr(&b));
	kh_buf_free(&b);
}

void
kh_handle_login_get(struct kh_req *req, struct kh_resp *resp)
{
	struct form_state fs = { NULL, M__COUNT, NULL, 0, 0, NULL };
	struct kh_session *s = NULL;
	enum kh_pending_kind kind = KH_PENDING_SAML;
	const char *hint;
	size_t hlen;
	int r, p, flags = 0;

	if ((p = pending_or_respond(req, resp, &req->query, &fs.pending, &kind, &flags)) < 0)
		return;
	if ((r = load_session_or_respond(req, resp, &s)) < 0)
		return;
	if (r == 1 && p == 1 && !(flags & KH_PENDING_FORCE_LOGIN)) {
		/* The SSO session suffices: straight back to the application. */
		kh_session_free(s);
		redirect_resume(resp, kind, fs.pending);
		return;
	}
	if (r == 1 && p == 0) {
		render_signed_in(req, resp, s, NULL, NULL);
		kh_session_free(s);
		return;
	}
	kh_session_free(s);
	/* A login_hint from the application pre-fills the staff ID. */
	hint = kh_param_get(&req->query, "u", &hlen);
	if (p == 1 && hint != NULL && hlen > 0 && hlen <= KH_USERNAME_MAX &&
	    kh_utf8_valid_text(hint, hlen))
		fs.username = hint;
	render_login_form(req, resp, &fs);
}

/* Failure delay: min_delay for the first failure, doubling per further
 * failure of this user, capped at max_delay. Measured from the request's
 * start so directory timing (unknown user vs wrong password) is hidden. */
static void
apply_failure_delay(struct kh_req *req, struct kh_resp *resp, long failures)
{
	const struct kh_config *cfg = req->app->cfg;
	int64_t d = cfg->login_min_delay_ms;
	long i;

	for (i = 1; i < failures && d < cfg->login_max_delay_ms; i++)
		d *= 2;
	if (d > cfg->login_max_delay_ms)
		d = cfg->login_max_delay_ms;
	resp->not_before_ms = req->start_ms + d;
}

static void
login_fail(struct kh_req *req, struct kh_resp *resp, int status, enum kh_login_outcome outcome,
    struct form_state *fs, const char *uid_for_log)
{
	resp->status = status;
	kh_metrics_login(req->app->metrics, outcome);
	kh_audit("login.failure", "rid", req->rid, "user", uid_for_log, "ip", req->client_ip,
	    "outcome", kh_login_outcome_name(outcome), NULL);
	render_login_form(req, resp, fs);
}

static enum kh_login_outcome
outcome_of(enum kh_auth_result r)
{
	switch (r) {
	case KH_AUTH_OK: return KH_LOGIN_OK;
	case KH_AUTH_INVALID: return KH_LOGIN_INVALID;
	case KH_AUTH_LOCKED: return KH_LOGIN_LOCKED;
	case KH_AUTH_PASSWORD_EXPIRED: return KH_LOGIN_PASSWORD_EXPIRED;
	case KH_AUTH_MUST_CHANGE: return KH_LOGIN_MUST_CHANGE;
	case KH_AUTH_DISABLED: return KH_LOGIN_DISABLED;
	case KH_AUTH_ACCOUNT_EXPIRED: return KH_LOGIN_ACCOUNT_EXPIRED;
	case KH_AUTH_RESTRICTED: return KH_LOGIN_RESTRICTED;
	case KH_AUTH_UNAVAILABLE: return KH_LOGIN_UNAVAILABLE;
	case KH_AUTH_ERROR: return KH_LOGIN_ERROR;
	}
	return KH_LOGIN_ERROR;
}

void
kh_handle_login_post(struct kh_req *req, struct kh_resp *resp)
{
	const struct kh_config *cfg = req->app->cfg;
	struct kh_store *st = req->app->store;
	struct form_state fs = { NULL, M__COUNT, NULL, 0, 0, NULL };
	enum kh_pending_kind pkind = KH_PENDING_SAML;
	int pflags = 0, has_pending;
	struct kh_identity *id = NULL;
	struct kh_auth_info info;
	struct kh_session *sess = NULL;
	const char *user, *pass, *old_cookie;
	char folded[KH_USERNAME_MAX + 1], cookie[KH_SESSION_COOKIE_LEN + 1], extra[128];
	char notice[256];
	size_t ulen = 0, plen = 0;
	long ufail = 0, ifail = 0, ulock = 0, ilock = 0;
	enum kh_auth_result ar;
	int r;

	memset(&info, 0, sizeof(info));
	info.grace_logins_left = -1;
	info.expires_in = -1;
	if (!kh_csrf_check(req)) {
		kh_metrics_login(req->app->metrics, KH_LOGIN_CSRF);
		kh_warn("login.csrf", "rid", req->rid, "ip", req->client_ip, NULL);
		fs.error = M_ERR_CSRF;
		resp->status = 403;
		render_login_form(req, resp, &fs);
		return;
	}
	if ((has_pending =
		    pending_or_respond(req, resp, &req->form, &fs.pending, &pkind, &pflags)) < 0)
		return;
	user = kh_param_get(&req->form, "username", &ulen);
	pass = kh_param_get(&req->form, "password", &plen);
	if (kh_param_count(&req->form, "username") > 1 ||
	    kh_param_count(&req->form, "password") > 1) {
		kh_metrics_login(req->app->metrics, KH_LOGIN_BAD_INPUT);
		kh_page_error(req, resp, 400, M_BAD_REQUEST_TITLE, M_BAD_REQUEST_BODY);
		return;
	}
	if (user == NULL || ulen == 0) {
		fs.error = M_ERR_MISSING_USER;
		kh_metrics_login(req->app->metrics, KH_LOGIN_BAD_INPUT);
		resp->status = 400;
		render_login_form(req, resp, &fs);
		return;
	}
	if (ulen > KH_USERNAME_MAX || plen > KH_PASSWORD_MAX) {
		fs.error = M_ERR_TOO_LONG;
		kh_metrics_login(req->app->metrics, KH_LOGIN_BAD_INPUT);
		resp->status = 400;
		render_login_form(req, resp, &fs);
		return;
	}
	if (!kh_utf8_valid_text(user, ulen)) {
		fs.error = M_ERR_BAD_CHARS;
		kh_metrics_login(req->app->metrics, KH_LOGIN_BAD_INPUT);
		resp->status = 400;
		render_login_form(req, resp, &fs);
		return;
	}
	fs.username = user;
	if (pass != NULL && strlen(pass) != plen) {
		/* A NUL inside the password would cut it short on the way to the
		 * directory: "right\0anything" must not pass as "right". */
		fs.error = M_ERR_INVALID;
		kh_metrics_login(req->app->metrics, KH_LOGIN_BAD_INPUT);
		resp->status = 400;
		render_login_form(req, resp, &fs);
		return;
	}
	if (pass == NULL || plen == 0) {
		fs.error = M_ERR_MISSING_PASSWORD;
		kh_metrics_login(req->app->metrics, KH_LOGIN_BAD_INPUT);
		resp->status = 400;
		render_login_form(req, resp, &fs);
		return;
	}

	/* Throttling: a locked user name or client address is refused before the
	 * directory hears anything. */
	/* one throttle counter for "Yamada.Taro" and "yamada.taro" */
	kh_user_fold(user, folded, sizeof(folded));
	if (kh_throttle_check(st, KH_THROTTLE_USER, folded, &ufail, &ulock) != KH_OK ||
	    kh_throttle_check(st, KH_THROTTLE_IP, req->client_ip, &ifail, &ilock) != KH_OK) {
		kh_metrics_login(req->app->metrics, KH_LOGIN_UNAVAILABLE);
		unavailable(req, resp, "redis");
		return;
	}
	if (ulock > 0 || ilock > 0) {
		long secs = ulock > ilock ? ulock : ilock;
		snprintf(extra, sizeof(extra), "%s %ld %s", kh_msg(req->lang, M_RETRY_IN),
		    (secs + 59) / 60, kh_msg(req->lang, M_MINUTES));
		fs.error = M_ERR_THROTTLED;
		fs.error_extra = extra;
		apply_failure_delay(req, resp, 1);
		login_fail(req, resp, 429, KH_LOGIN_THROTTLED, &fs, user);
		snprintf(extra, sizeof(extra), "%ld", secs);
		kh_resp_header(resp, "Retry-After", extra);
		return;
	}

	ar = kh_connector_authenticate(req->app->connector, user, pass, &id, &info);
	if (ar == KH_AUTH_UNAVAILABLE || ar == KH_AUTH_ERROR) {
		kh_metrics_login(req->app->metrics, outcome_of(ar));
		unavailable(req, resp, "ldap");
		return;
	}
	if (ar != KH_AUTH_OK) {
		/* Every refusal counts against the user name and the address. */
		if (kh_throttle_fail(st, KH_THROTTLE_USER, folded, &ufail, &ulock) != KH_OK ||
		    kh_throttle_fail(st, KH_THROTTLE_IP, req->client_ip, &ifail, &ilock) != KH_OK) {
			kh_metrics_login(req->app->metrics, KH_LOGIN_UNAVAILABLE);
			unavailable(req, resp, "redis");
			return;
		}
		apply_failure_delay(req, resp, ufail);
		switch (ar) {
		case KH_AUTH_LOCKED:
			fs.error = M_ERR_LOCKED;
			fs.show_helpdesk = 1;
			login_fail(req, resp, 403, KH_LOGIN_LOCKED, &fs, user);
			break;
		case KH_AUTH_PASSWORD_EXPIRED:
			fs.error = M_ERR_EXPIRED;
			fs.show_password_change = fs.show_helpdesk = 1;
			login_fail(req, resp, 403, KH_LOGIN_PASSWORD_EXPIRED, &fs, user);
			break;
		case KH_AUTH_MUST_CHANGE:
			fs.error = M_ERR_MUST_CHANGE;
			fs.show_password_change = fs.show_helpdesk = 1;
			login_fail(req, resp, 403, KH_LOGIN_MUST_CHANGE, &fs, user);
			break;
		case KH_AUTH_DISABLED:
			fs.error = M_ERR_DISABLED;
			fs.show_helpdesk = 1;
			login_fail(req, resp, 403, KH_LOGIN_DISABLED, &fs, user);
			break;
		case KH_AUTH_ACCOUNT_EXPIRED:
			fs.error = M_ERR_ACCOUNT_EXPIRED;
			fs.show_helpdesk = 1;
			login_fail(req, resp, 403, KH_LOGIN_ACCOUNT_EXPIRED, &fs, user);
			break;
		case KH_AUTH_RESTRICTED:
			fs.error = M_ERR_RESTRICTED;
			fs.show_helpdesk = 1;
			login_fail(req, resp, 403, KH_LOGIN_RESTRICTED, &fs, user);
			break;
		default:
			fs.error = M_ERR_INVALID;
			login_fail(req, resp, 401, KH_LOGIN_INVALID, &fs, user);
			break;
		}
		return;
	}

	/* Success: a new session id every time (no fixation). */
	old_cookie = kh_req_cookie(req, cfg->session_cookie);
	r = kh_session_create(st, id, "pwd", KH_ACR_PWD, req->client_ip, old_cookie, cookie);
	if (r != KH_OK) {
		kh_metrics_login(req->app->metrics, KH_LOGIN_UNAVAILABLE);
		unavailable(req, resp, "redis");
		goto out;
	}
	kh_throttle_reset(st, KH_THROTTLE_USER, folded);
	kh_metrics_login(req->app->metrics, KH_LOGIN_OK);
	kh_audit("login.success", "rid", req->rid, "user", id->uid, "ip", req->client_ip, "amr",
	    "pwd", NULL);
	kh_resp_cookie(resp, req, cfg->session_cookie, cookie, -1);
	explicit_bzero(cookie, sizeof(cookie));

	/* After a helpdesk reset with a bypass code: enrol first, wherever the
	 * user was going (the pending request waits for it). */
	if ((r = kh_mfa_bypass_active(st, id->uid)) == 1) {
		kh_audit("login.enrol_required", "rid", req->rid, "user", id->uid, "ip",
		    req->client_ip, NULL);
		if (has_pending == 1)
			kh_access_redirect_mfa(resp, fs.pending);
		else
			kh_resp_redirect(resp, 303, "/mfa");
		goto out;
	}
	if (r < 0)
		kh_warn("login.bypass_check", "rid", req->rid, "error", kh_strerror(r), NULL);
	notice[0] = '\0';
	if (info.grace_logins_left >= 0)
		snprintf(notice, sizeof(notice), "%s %d", kh_msg(req->lang, M_WARN_GRACE),
		    info.grace_logins_left);
	else if (info.expires_in >= 0)
		snprintf(notice, sizeof(notice), "%s %ld", kh_msg(req->lang, M_WARN_EXPIRING),
		    (info.expires_in + 86399) / 86400);
	if (notice[0] == '\0') {
		if (has_pending == 1)
			redirect_resume(resp, pkind, fs.pending);
		else
			kh_resp_redirect(resp, 303, "/login");
		goto out;
	}
	/* Show the warning once, with the session already in place, and a link
	 * on to the application that asked. */
	if ((sess = calloc(1, sizeof(*sess))) != NULL) {
		struct kh_buf cont;
		kh_buf_init(&cont, 128);
		if (has_pending == 1)
			kh_pending_resume_url(pkind, fs.pending, &cont);
		sess->uid = id->uid;
		sess->display_name = id->display_name;
		render_signed_in(
		    req, resp, sess, notice, has_pending == 1 ? kh_buf_cstr(&cont) : NULL);
		kh_buf_free(&cont);
		free(sess);
	}
out:
	kh_identity_free(id);
}

void
kh_handle_login(struct kh_req *req, struct kh_resp *resp)
{
	if (req->method == KH_POST)
		kh_handle_login_post(req, resp);
	else
		kh_handle_login_get(req, resp);
}

static void
render_signed_out(struct kh_req *req, struct kh_resp *resp)
{
	kh_page_begin(req, resp, M_LOGOUT_TITLE);
	kh_page_raw(resp, "<p id=\"signed-out\" role=\"status\">");
	kh_page_text(resp, kh_msg(req->lang, M_LOGGED_OUT));
	kh_page_raw(resp, "</p>\n<p><a href=\"/login\">");
	kh_page_text(resp, kh_msg(req->lang, M_SIGN_IN_AGAIN));
	kh_page_raw(resp, "</a></p>\n");
	kh_page_end(req, resp);
}

/* Ends the SSO session named by cookie everywhere: OIDC clients hear of it
 * over the back channel, SAML SPs through front-channel hops that end at
 * /logout?done=1. Returns 1 when resp already sends the browser on its SAML
 * round, 0 when the caller shows its own page, -1 when resp holds the 503. */
int
kh_logout_session_or_respond(struct kh_req *req, struct kh_resp *resp, const char *cookie)
{
	const struct kh_config *cfg = req->app->cfg;
	struct kh_session *s = NULL;
	int r, hops = 0;

	if (cookie == NULL)
		return 0;
	r = kh_session_get(req->app->store, cookie, &s);
	if (r != KH_OK && r != KH_ERR_NOT_FOUND) {
		unavailable(req, resp, "redis");
		return -1;
	}
	if (r == KH_OK) {
		kh_audit("logout", "rid", req->rid, "user", s->uid, "ip", req->client_ip, NULL);
		kh_oidc_session_ended(req->app, cookie, s->uid);
		hops = kh_saml_logout_begin_or_respond(req, resp, cookie, "/logout?done=1");
		if (hops < 0) {
			kh_warn("logout.saml", "rid", req->rid, "error", kh_strerror(hops), NULL);
			hops = 0;
		}
	}
	kh_session_free(s);
	r = kh_session_destroy(req->app->store, cookie);
	if (r != KH_OK && r != KH_ERR_NOT_FOUND) {
		unavailable(req, resp, "redis");
		return -1;
	}
	kh_resp_cookie(resp, req, cfg->session_cookie, "", 0);
	return hops > 0 ? 1 : 0;
}

void
kh_handle_logout(struct kh_req *req, struct kh_resp *resp)
{
	const struct kh_config *cfg = req->app->cfg;
	const char *done = kh_param_get(&req->query, "done", NULL);
	char token[KH_CSRF_TOKEN_LEN + 1];
	int r;

	if (req->method != KH_POST) {
		if (done != NULL && strcmp(done, "1") == 0) {
			/* The end of a logout round through the SAML SPs. */
			render_signed_out(req, resp);
			return;
		}
		/* A GET never signs anyone out (it could come from any page): confirm. */
		if (kh_csrf_token(req, resp, token) != KH_OK) {
			kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
			return;
		}
		kh_page_begin(req, resp, M_LOGOUT_TITLE);
		kh_page_raw(resp, "<p>");
		kh_page_text(resp, kh_msg(req->lang, M_LOGOUT_CONFIRM));
		kh_page_raw(resp,
		    "</p>\n<form method=\"post\" action=\"/logout\">\n"
		    "<input type=\"hidden\" name=\"csrf\" value=\"");
		kh_page_text(resp, token);
		kh_page_raw(resp, "\">\n<button type=\"submit\" id=\"logout\">");
		kh_page_text(resp, kh_msg(req->lang, M_SIGN_OUT));
		kh_page_raw(resp, "</button>\n</form>\n");
		kh_page_end(req, resp);
		return;
	}
	if (!kh_csrf_check(req)) {
		kh_warn("logout.csrf", "rid", req->rid, "ip", req->client_ip, NULL);
		kh_page_error(req, resp, 403, M_BAD_REQUEST_TITLE, M_ERR_CSRF);
		return;
	}
	r = kh_logout_session_or_respond(req, resp, kh_req_cookie(req, cfg->session_cookie));
	if (r != 0)
		return;
	render_signed_out(req, resp);
}
