/* GET/POST /mfa: the second-factor challenge (TOTP, passkey, recovery code,
 * helpdesk bypass code) and what the MFA pages share. */
#include "idp/mfa.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/access.h"
#include "idp/csrf.h"
#include "idp/idp.h"
#include "idp/page.h"
#include "idp/policy.h"
#include "sessions/mfa.h"
#include "sessions/sessions.h"

#define CODE_INPUT_MAX 64 /* longest code field accepted */

void
kh_mfa_unavailable(struct kh_req *req, struct kh_resp *resp, int json)
{
	kh_error(
	    "mfa.unavailable", "rid", req->rid, "backend", "redis", "ip", req->client_ip, NULL);
	if (json)
		kh_mfa_json_error(req, resp, 503, "temporarily_unavailable", M_UNAVAILABLE_BODY);
	else
		kh_page_error(req, resp, 503, M_UNAVAILABLE_TITLE, M_UNAVAILABLE_BODY);
	kh_resp_header(resp, "Retry-After", "30");
}

void
kh_mfa_json_error(
    struct kh_req *req, struct kh_resp *resp, int status, const char *code, enum kh_msg msg)
{
	json_t *o = json_pack("{ss ss}", "error", code, "message", kh_msg(req->lang, msg));
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	resp->status = status;
	resp->content_type = "application/json";
	kh_buf_reset(&resp->body);
	if (s != NULL)
		kh_buf_append_str(&resp->body, s);
	free(s);
	json_decref(o);
}

int
kh_mfa_ctx_load(struct kh_req *req, struct kh_resp *resp, const struct kh_params *ps, int json,
    struct kh_mfa_ctx *c)
{
	struct kh_store *st = req->app->store;
	char *v = NULL;
	size_t vlen = 0;
	int64_t created;
	int flags, r;

	memset(c, 0, sizeof(*c));
	c->p = kh_param_get(ps, "p", NULL);
	if (c->p != NULL && *c->p == '\0')
		c->p = NULL;
	if (kh_param_count(ps, "p") > 1) {
		if (json)
			kh_mfa_json_error(req, resp, 400, "invalid_request", M_BAD_REQUEST_BODY);
		else
			kh_page_error(req, resp, 400, M_BAD_REQUEST_TITLE, M_BAD_REQUEST_BODY);
		return -1;
	}
	if (c->p != NULL) {
		r = kh_pending_peek(req, c->p, &c->kind, &flags, &created, NULL, NULL);
		if (r == KH_ERR_NOT_FOUND) {
			if (json)
				kh_mfa_json_error(
				    req, resp, 400, "expired", M_PENDING_EXPIRED_BODY);
			else
				kh_page_error(req, resp, 400, M_PENDING_EXPIRED_TITLE,
				    M_PENDING_EXPIRED_BODY);
			return -1;
		}
		if (r != KH_OK) {
			kh_mfa_unavailable(req, resp, json);
			return -1;
		}
	}
	c->cookie = kh_req_cookie(req, req->app->cfg->session_cookie);
	r = c->cookie != NULL ? kh_session_get(st, c->cookie, &c->s) : KH_ERR_NOT_FOUND;
	if (r == KH_ERR_NOT_FOUND) {
		if (json)
			kh_mfa_json_error(req, resp, 401, "login_required", M_PENDING_EXPIRED_BODY);
		else if (c->p != NULL)
			kh_pending_redirect_to_login(req, resp, c->p);
		else
			kh_resp_redirect(resp, 303, "/login");
		return -1;
	}
	if (r != KH_OK || kh_mfa_state_get(st, c->s->uid, &c->m) != KH_OK) {
		kh_mfa_ctx_free(c);
		kh_mfa_unavailable(req, resp, json);
		return -1;
	}
	r = kh_session_field_get(st, c->cookie, KH_MFA_ENROL_FIELD, &v, &vlen);
	if (r == KH_OK)
		c->enrol_forced = 1;
	if (v != NULL)
		kh_freezero(v, vlen + 1);
	if (r != KH_OK && r != KH_ERR_NOT_FOUND) {
		kh_mfa_ctx_free(c);
		kh_mfa_unavailable(req, resp, json);
		return -1;
	}
	return 0;
}

void
kh_mfa_ctx_free(struct kh_mfa_ctx *c)
{
	kh_session_free(c->s);
	kh_mfa_state_free(c->m);
	c->s = NULL;
	c->m = NULL;
}

void
kh_mfa_next_url(const struct kh_mfa_ctx *c, struct kh_buf *out)
{
	if (c->p != NULL && kh_pending_resume_url(c->kind, c->p, out) == KH_OK)
		return;
	kh_buf_reset(out);
	kh_buf_append_str(out, "/mfa/setup");
}

void
kh_mfa_p_suffix(const struct kh_mfa_ctx *c, struct kh_buf *out)
{
	if (c->p != NULL)
		kh_buf_appendf(out, "?p=%s", c->p);
}

int
kh_mfa_may_enrol(struct kh_req *req, const struct kh_mfa_ctx *c)
{
	if (kh_session_has_mfa(c->s) || c->enrol_forced)
		return 1;
	return !kh_mfa_has_factor(c->m) &&
	    kh_policy_ip_in_zones(req->app->policy, req->client_ip, req->app->cfg->mfa_enrol_zones);
}

int
kh_mfa_elevate(struct kh_req *req, struct kh_resp *resp, struct kh_mfa_ctx *c,
    const char *amr_method, const char *via, int remember)
{
	const struct kh_config *cfg = req->app->cfg;
	struct kh_store *st = req->app->store;
	char amr[64], token[KH_MFA_DEVICE_TOKEN_LEN + 1];
	int r;

	snprintf(amr, sizeof(amr), "pwd %s mfa", amr_method);
	if ((r = kh_session_set_auth(st, c->cookie, amr, KH_ACR_MFA)) != KH_OK)
		return r;
	kh_mfa_unlock(st, c->s->uid);
	if (c->enrol_forced)
		kh_session_field_set(st, c->cookie, KH_MFA_ENROL_FIELD, NULL, 0);
	kh_audit("mfa.success", "rid", req->rid, "user", c->s->uid, "ip", req->client_ip, "via",
	    via, "amr", amr, NULL);
	if (remember && cfg->mfa_remember_days > 0 &&
	    kh_mfa_device_remember(st, c->s->uid, cfg->mfa_remember_days, token) == KH_OK) {
		kh_resp_cookie(resp, req, KH_DEVICE_COOKIE, token, cfg->mfa_remember_days * 86400L);
		explicit_bzero(token, sizeof(token));
		kh_audit("mfa.device_remembered", "rid", req->rid, "user", c->s->uid, "ip",
		    req->client_ip, NULL);
	}
	free(c->s->amr);
	c->s->amr = strdup(amr);
	return KH_OK;
}

int
kh_mfa_failed(struct kh_req *req, struct kh_mfa_ctx *c, const char *via, long *locked_for)
{
	const struct kh_config *cfg = req->app->cfg;
	long failures = 0;
	char n[24];
	int r;

	*locked_for = 0;
	r = kh_mfa_fail(req->app->store, c->s->uid, cfg->mfa_max_failures, cfg->mfa_failure_window,
	    cfg->mfa_lock_duration, &failures, locked_for);
	snprintf(n, sizeof(n), "%ld", failures);
	kh_audit("mfa.failure", "rid", req->rid, "user", c->s->uid, "ip", req->client_ip, "via",
	    via, "failures", n, NULL);
	if (r == KH_OK && *locked_for > 0)
		kh_audit("mfa.locked", "rid", req->rid, "user", c->s->uid, "ip", req->client_ip,
		    "failures", n, NULL);
	return r;
}

/* ---- the challenge page ---- */

void
kh_mfa_hidden(struct kh_resp *resp, const char *csrf, const struct kh_mfa_ctx *c)
{
	kh_page_hidden(resp, "csrf", csrf);
	if (c->p != NULL)
		kh_page_hidden(resp, "p", c->p);
}

void
kh_mfa_redirect_p(struct kh_resp *resp, const struct kh_mfa_ctx *c, const char *base)
{
	struct kh_buf to;

	kh_buf_init(&to, 128);
	kh_buf_append_str(&to, base);
	kh_mfa_p_suffix(c, &to);
	kh_resp_redirect(resp, 303, kh_buf_cstr(&to));
	kh_buf_free(&to);
}

static void
remember_box(struct kh_req *req, struct kh_resp *resp)
{
	char days[32];

	if (req->app->cfg->mfa_remember_days <= 0)
		return;
	snprintf(days, sizeof(days), " (%ld ", req->app->cfg->mfa_remember_days);
	kh_page_raw(resp,
	    "<label class=\"check\"><input type=\"checkbox\" name=\"remember\" "
	    "value=\"1\" id=\"remember\"> ");
	kh_page_text(resp, kh_msg(req->lang, M_MFA_REMEMBER));
	kh_page_text(resp, days);
	kh_page_text(resp, kh_msg(req->lang, M_DAYS));
	kh_page_raw(resp, ")</label>\n");
}

/* One code field in its own form posting to /mfa: input NAME (also its id
 * and the form's "NAME-form"), its label, the remember box when asked, and
 * the button BUTTON. */
static void
code_form(struct kh_req *req, struct kh_resp *resp, const char *csrf, const struct kh_mfa_ctx *c,
    const char *name, enum kh_msg label, const char *attrs, int remember, const char *button)
{
	kh_page_raw(resp, "<form method=\"post\" action=\"/mfa\" id=\"");
	kh_page_text(resp, name);
	kh_page_raw(resp, "-form\">\n");
	kh_mfa_hidden(resp, csrf, c);
	kh_page_raw(resp, "<label for=\"");
	kh_page_text(resp, name);
	kh_page_raw(resp, "\">");
	kh_page_text(resp, kh_msg(req->lang, label));
	kh_page_raw(resp, "</label>\n<input type=\"text\" id=\"");
	kh_page_text(resp, name);
	kh_page_raw(resp, "\" name=\"");
	kh_page_text(resp, name);
	kh_page_raw(resp, "\" ");
	kh_page_raw(resp, attrs);
	kh_page_raw(resp, " required>\n");
	if (remember)
		remember_box(req, resp);
	kh_page_raw(resp, "<button type=\"submit\" id=\"");
	kh_page_text(resp, button);
	kh_page_raw(resp, "\">");
	kh_page_text(resp, kh_msg(req->lang, M_MFA_VERIFY));
	kh_page_raw(resp, "</button>\n</form>\n");
}

/* <p id=ID class=CLS role=...>text</p> */
static void
para(struct kh_resp *resp, const char *id, const char *cls, const char *text)
{
	kh_page_raw(resp, "<p id=\"");
	kh_page_text(resp, id);
	kh_page_raw(resp, "\"");
	if (cls != NULL) {
		kh_page_raw(resp, " class=\"");
		kh_page_text(resp, cls);
		kh_page_raw(resp, strcmp(cls, "error") == 0 ? "\" role=\"alert\"" : "\"");
	}
	kh_page_raw(resp, ">");
	kh_page_text(resp, text);
	kh_page_raw(resp, "</p>\n");
}

void
kh_mfa_webauthn_div(struct kh_req *req, struct kh_resp *resp, const char *csrf,
    const struct kh_mfa_ctx *c, const char *mode)
{
	static const struct {
		const char *attr;
		enum kh_msg msg;
	} msgs[] = { { "data-msg-cancelled", M_MFA_PASSKEY_CANCELLED },
		{ "data-msg-failed", M_MFA_PASSKEY_FAILED },
		{ "data-msg-exists", M_MFA_PASSKEY_EXISTS } };
	size_t i;

	kh_page_raw(resp, "<div id=\"webauthn\" data-mode=\"");
	kh_page_text(resp, mode);
	kh_page_raw(resp,
	    "\" data-options=\"/mfa/webauthn/options\" "
	    "data-finish=\"/mfa/webauthn/finish\" data-csrf=\"");
	kh_page_text(resp, csrf);
	kh_page_raw(resp, "\" data-p=\"");
	kh_page_text(resp, c->p != NULL ? c->p : "");
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		kh_page_raw(resp, "\" ");
		kh_page_raw(resp, msgs[i].attr);
		kh_page_raw(resp, "=\"");
		kh_page_text(resp, kh_msg(req->lang, msgs[i].msg));
	}
	kh_page_raw(resp,
	    "\">\n<p class=\"error\" id=\"webauthn-error\" role=\"alert\" "
	    "hidden></p>\n<p id=\"webauthn-unsupported\" hidden>");
	kh_page_text(resp, kh_msg(req->lang, M_MFA_UNSUPPORTED));
	kh_page_raw(resp, "</p>\n");
}

static void
render_challenge(struct kh_req *req, struct kh_resp *resp, const struct kh_mfa_ctx *c,
    enum kh_msg error, long locked_for)
{
	enum kh_lang l = req->lang;
	char csrf[KH_CSRF_TOKEN_LEN + 1];
	struct kh_buf link;

	if (kh_csrf_token(req, resp, csrf) != KH_OK) {
		kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
		return;
	}
	kh_page_begin(req, resp, M_MFA_TITLE);
	if (locked_for > 0 || c->m->locked_for > 0) {
		kh_page_raw(resp,
		    "<p class=\"error\" id=\"error\" role=\"alert\" "
		    "data-error=\"locked\">");
		kh_page_text(resp, kh_msg(l, M_MFA_ERR_LOCKED));
		kh_page_raw(resp, "</p>\n");
		kh_page_helpdesk(req, resp);
		goto end;
	}
	if (error != M__COUNT)
		para(resp, "error", "error", kh_msg(l, error));
	if (c->m->totp_active || c->m->nwebauthn > 0)
		para(resp, "lead", NULL, kh_msg(l, M_MFA_LEAD));
	if (c->m->totp_active)
		code_form(req, resp, csrf, c, "otp", M_MFA_OTP_LABEL,
		    "inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9 ]*\" "
		    "maxlength=\"8\" autofocus",
		    1, "verify");
	if (c->m->nwebauthn > 0) {
		kh_mfa_webauthn_div(req, resp, csrf, c, "auth");
		if (!c->m->totp_active)
			remember_box(req, resp);
		kh_page_raw(resp, "<button type=\"button\" id=\"passkey-signin\">");
		kh_page_text(resp, kh_msg(l, M_MFA_PASSKEY_SIGNIN));
		kh_page_raw(resp,
		    "</button>\n</div>\n"
		    "<script src=\"/static/webauthn.js\"></script>\n");
	}
	if (c->m->recovery_left > 0) {
		kh_page_raw(resp, "<details id=\"recovery-section\"><summary>");
		kh_page_text(resp, kh_msg(l, M_MFA_USE_RECOVERY));
		kh_page_raw(resp, "</summary>\n");
		code_form(req, resp, csrf, c, "recovery", M_MFA_RECOVERY_LABEL,
		    "autocomplete=\"off\" maxlength=\"64\"", 0, "verify-recovery");
		kh_page_raw(resp, "</details>\n");
	}
	if (!kh_mfa_has_factor(c->m)) {
		para(resp, "no-factor", "notice", kh_msg(l, M_MFA_NO_FACTOR));
		if (kh_mfa_may_enrol(req, c)) {
			kh_buf_init(&link, 128);
			kh_buf_append_str(&link, "/mfa/setup");
			kh_mfa_p_suffix(c, &link);
			kh_page_raw(resp, "<p><a id=\"setup\" href=\"");
			kh_page_text(resp, kh_buf_cstr(&link));
			kh_page_raw(resp, "\">");
			kh_page_text(resp, kh_msg(l, M_MFA_SETUP_NOW));
			kh_page_raw(resp, "</a></p>\n");
			kh_buf_free(&link);
		} else
			para(resp, "enrol-not-here", NULL, kh_msg(l, M_MFA_ENROL_NOT_HERE));
	}
	/* Lost device: the helpdesk's one-time code. */
	kh_page_raw(resp, "<details id=\"bypass-section\"");
	if (!kh_mfa_has_factor(c->m))
		kh_page_raw(resp, " open");
	kh_page_raw(resp, "><summary>");
	kh_page_text(resp, kh_msg(l, M_MFA_BYPASS_LABEL));
	kh_page_raw(resp, "</summary>\n");
	para(resp, "bypass-help", NULL, kh_msg(l, M_MFA_ASK_HELPDESK));
	code_form(req, resp, csrf, c, "bypass", M_MFA_BYPASS_LABEL,
	    "autocomplete=\"off\" maxlength=\"64\"", 0, "verify-bypass");
	kh_page_raw(resp, "</details>\n");
end:
	kh_page_end(req, resp);
	explicit_bzero(csrf, sizeof(csrf));
}
static void
mfa_get(struct kh_req *req, struct kh_resp *resp)
{
	struct kh_mfa_ctx c;
	struct kh_buf next;

	if (kh_mfa_ctx_load(req, resp, &req->query, 0, &c) < 0)
		return;
	if (kh_session_has_mfa(c.s) && c.p != NULL) {
		/* Already verified in this session: on to the application. */
		kh_buf_init(&next, 128);
		kh_mfa_next_url(&c, &next);
		kh_resp_redirect(resp, 303, kh_buf_cstr(&next));
		kh_buf_free(&next);
		kh_mfa_ctx_free(&c);
		return;
	}
	if (c.m->locked_for > 0)
		resp->status = 429;
	render_challenge(req, resp, &c, M__COUNT, 0);
	kh_mfa_ctx_free(&c);
}

static void
mfa_post(struct kh_req *req, struct kh_resp *resp)
{
	struct kh_store *st = req->app->store;
	const char *otp, *rc, *bp, *rem;
	struct kh_mfa_ctx c;
	struct kh_buf next;
	const char *via = NULL;
	long locked = 0, failures = 0;
	int r = KH_ERR_INVALID, remember;

	if (!kh_csrf_check(req)) {
		kh_warn("mfa.csrf", "rid", req->rid, "ip", req->client_ip, NULL);
		kh_page_error(req, resp, 403, M_BAD_REQUEST_TITLE, M_ERR_CSRF);
		return;
	}
	if (kh_mfa_ctx_load(req, resp, &req->form, 0, &c) < 0)
		return;
	otp = kh_param_get(&req->form, "otp", NULL);
	rc = kh_param_get(&req->form, "recovery", NULL);
	bp = kh_param_get(&req->form, "bypass", NULL);
	rem = kh_param_get(&req->form, "remember", NULL);
	remember = rem != NULL && strcmp(rem, "1") == 0;
	if ((otp != NULL) + (rc != NULL) + (bp != NULL) != 1 || req->form.duplicates) {
		kh_page_error(req, resp, 400, M_BAD_REQUEST_TITLE, M_BAD_REQUEST_BODY);
		goto out;
	}
	if (kh_mfa_lock_check(st, c.s->uid, &failures, &locked) != KH_OK) {
		kh_mfa_unavailable(req, resp, 0);
		goto out;
	}
	if (locked > 0) {
		/* Locked: no code is even looked at. */
		kh_audit("mfa.refused_locked", "rid", req->rid, "user", c.s->uid, "ip",
		    req->client_ip, NULL);
		resp->status = 429;
		render_challenge(req, resp, &c, M__COUNT, locked);
		goto out;
	}
	if (otp != NULL) {
		via = "totp";
		if (*otp == '\0' || strlen(otp) > CODE_INPUT_MAX)
			r = KH_ERR_INVALID;
		else
			r = kh_mfa_totp_check(st, req->app->cfg->mfa_kek_bytes, c.s->uid, otp,
			    kh_time(), (int)req->app->cfg->mfa_totp_window);
	} else if (rc != NULL) {
		via = "recovery_code";
		r = *rc == '\0' || strlen(rc) > CODE_INPUT_MAX
		    ? KH_ERR_INVALID
		    : kh_mfa_recovery_use(st, c.s->uid, rc);
	} else {
		via = "bypass_code";
		r = *bp == '\0' || strlen(bp) > CODE_INPUT_MAX
		    ? KH_ERR_INVALID
		    : kh_mfa_bypass_use(st, c.s->uid, bp);
	}
	if (r == KH_ERR_UNAVAILABLE) {
		kh_mfa_unavailable(req, resp, 0);
		goto out;
	}
	if (r == KH_ERR_CRYPTO)
		kh_error("mfa.totp_unsealable", "rid", req->rid, "user", c.s->uid, "hint",
		    "[mfa] kek changed since enrolment", NULL);
	if (r != KH_OK) {
		if (kh_mfa_failed(req, &c, via, &locked) != KH_OK) {
			kh_mfa_unavailable(req, resp, 0);
			goto out;
		}
		resp->status = locked > 0 ? 429 : 401;
		render_challenge(req, resp, &c, M_MFA_ERR_CODE, locked);
		goto out;
	}
	kh_buf_init(&next, 128);
	if (bp != NULL) {
		/* The helpdesk's code proves only that the helpdesk vouched for
		 * this person: it opens enrolment, not the applications. */
		kh_audit("mfa.bypass_used", "rid", req->rid, "user", c.s->uid, "ip", req->client_ip,
		    NULL);
		kh_mfa_unlock(st, c.s->uid);
		if (kh_session_field_set(st, c.cookie, KH_MFA_ENROL_FIELD, "1", 1) != KH_OK) {
			kh_mfa_unavailable(req, resp, 0);
			kh_buf_free(&next);
			goto out;
		}
		kh_buf_append_str(&next, "/mfa/setup");
		kh_mfa_p_suffix(&c, &next);
	} else {
		if (kh_mfa_elevate(req, resp, &c, "otp", via, remember) != KH_OK) {
			kh_mfa_unavailable(req, resp, 0);
			kh_buf_free(&next);
			goto out;
		}
		kh_mfa_next_url(&c, &next);
	}
	kh_resp_redirect(resp, 303, kh_buf_cstr(&next));
	kh_buf_free(&next);
out:
	kh_mfa_ctx_free(&c);
}

void
kh_handle_mfa(struct kh_req *req, struct kh_resp *resp)
{
	if (req->method == KH_POST)
		mfa_post(req, resp);
	else
		mfa_get(req, resp);
}
