/* The self-service MFA pages: GET /mfa/setup (what is enrolled), POST
 * /mfa/totp (enrol an authenticator app: QR code, then a code to confirm),
 * POST /mfa/recovery (new recovery codes, shown once). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "common/totp.h"
#include "idp/access.h"
#include "idp/csrf.h"
#include "idp/idp.h"
#include "idp/mfa.h"
#include "idp/page.h"
#include "idp/qr.h"
#include "sessions/mfa.h"
#include "sessions/sessions.h"

/* <a id="continue"> to where the user was going (kh_mfa_next_url). */
static void
next_link(struct kh_req *req, struct kh_resp *resp, const struct kh_mfa_ctx *c)
{
	struct kh_buf next;

	kh_buf_init(&next, 128);
	kh_mfa_next_url(c, &next);
	kh_page_raw(resp, "<p><a id=\"continue\" href=\"");
	kh_page_text(resp, kh_buf_cstr(&next));
	kh_page_raw(resp, "\">");
	kh_page_text(resp, kh_msg(req->lang, M_CONTINUE));
	kh_page_raw(resp, "</a></p>\n");
	kh_buf_free(&next);
}

/* The continue link on the settings page: only on the way to an app. */
static void
continue_link(struct kh_req *req, struct kh_resp *resp, const struct kh_mfa_ctx *c)
{
	if (c->p != NULL && kh_session_has_mfa(c->s))
		next_link(req, resp, c);
}

/* A session that may not change factors: verify first, or (no factor, wrong
 * network) the helpdesk. Returns 1 when it answered. */
static int
refuse_unless_may_enrol(struct kh_req *req, struct kh_resp *resp, const struct kh_mfa_ctx *c)
{

	if (kh_mfa_may_enrol(req, c))
		return 0;
	if (kh_mfa_has_factor(c->m)) {
		kh_mfa_redirect_p(resp, c, "/mfa");
		return 1;
	}
	kh_audit("mfa.enrol_refused", "rid", req->rid, "user", c->s->uid, "ip", req->client_ip,
	    "why", "not in an enrolment zone", NULL);
	resp->status = 403;
	kh_page_begin(req, resp, M_MFA_SETUP_TITLE);
	kh_page_raw(resp, "<p class=\"error\" id=\"enrol-not-here\" role=\"alert\">");
	kh_page_text(resp, kh_msg(req->lang, M_MFA_ENROL_NOT_HERE));
	kh_page_raw(resp, "</p>\n<p><a id=\"bypass-link\" href=\"/mfa");
	if (c->p != NULL) {
		kh_page_raw(resp, "?p=");
		kh_page_text(resp, c->p);
	}
	kh_page_raw(resp, "\">");
	kh_page_text(resp, kh_msg(req->lang, M_MFA_BYPASS_LABEL));
	kh_page_raw(resp, "</a></p>\n");
	kh_page_end(req, resp);
	return 1;
}

static void
render_setup(
    struct kh_req *req, struct kh_resp *resp, const struct kh_mfa_ctx *c, const char *notice)
{
	enum kh_lang l = req->lang;
	char csrf[KH_CSRF_TOKEN_LEN + 1], n[32];
	size_t i;

	if (kh_csrf_token(req, resp, csrf) != KH_OK) {
		kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
		return;
	}
	kh_page_begin(req, resp, M_MFA_SETUP_TITLE);
	if (notice != NULL) {
		kh_page_raw(resp, "<p class=\"notice\" id=\"notice\" role=\"status\">");
		kh_page_text(resp, notice);
		kh_page_raw(resp, "</p>\n");
	}
	if (c->enrol_forced && !kh_session_has_mfa(c->s)) {
		kh_page_raw(resp, "<p class=\"notice\" id=\"enrol-required\" role=\"status\">");
		kh_page_text(resp, kh_msg(l, M_MFA_ENROL_REQUIRED));
		kh_page_raw(resp, "</p>\n");
	}
	continue_link(req, resp, c);

	/* TOTP */
	kh_page_raw(resp, "<h2>");
	kh_page_text(resp, kh_msg(l, M_MFA_TOTP));
	kh_page_raw(resp, "</h2>\n<p id=\"totp-status\" data-active=\"");
	kh_page_raw(resp, c->m->totp_active ? "1\">" : "0\">");
	kh_page_text(resp, kh_msg(l, c->m->totp_active ? M_MFA_ENABLED : M_MFA_NOT_SET));
	kh_page_raw(resp, "</p>\n<form method=\"post\" action=\"/mfa/totp\">\n");
	kh_mfa_hidden(resp, csrf, c);
	kh_page_raw(resp,
	    "<input type=\"hidden\" name=\"action\" value=\"begin\">\n"
	    "<button type=\"submit\" id=\"totp-begin\">");
	kh_page_text(resp, kh_msg(l, c->m->totp_active ? M_MFA_TOTP_REPLACE : M_MFA_TOTP_BEGIN));
	kh_page_raw(resp, "</button>\n</form>\n");

	/* Passkeys */
	kh_page_raw(resp, "<h2>");
	kh_page_text(resp, kh_msg(l, M_MFA_PASSKEYS));
	kh_page_raw(resp, "</h2>\n");
	if (c->m->nwebauthn == 0) {
		kh_page_raw(resp, "<p id=\"passkeys-none\">");
		kh_page_text(resp, kh_msg(l, M_MFA_PASSKEY_NONE));
		kh_page_raw(resp, "</p>\n");
	}
	kh_page_raw(resp, "<ul id=\"passkeys\">\n");
	for (i = 0; i < c->m->nwebauthn; i++) {
		json_t *d = json_loads(c->m->webauthn[i].doc, 0, NULL);
		json_t *nm = d != NULL ? json_object_get(d, "name") : NULL;
		kh_page_raw(resp, "<li class=\"passkey\">");
		kh_page_text(resp, json_is_string(nm) ? json_string_value(nm) : "passkey");
		kh_page_raw(resp, "</li>\n");
		json_decref(d);
	}
	kh_page_raw(resp, "</ul>\n");
	kh_mfa_webauthn_div(req, resp, csrf, c, "register");
	kh_page_raw(resp, "<label for=\"passkey-name\">");
	kh_page_text(resp, kh_msg(l, M_MFA_PASSKEY_NAME));
	kh_page_raw(resp,
	    "</label>\n<input type=\"text\" id=\"passkey-name\" maxlength=\"64\">\n"
	    "<button type=\"button\" id=\"passkey-register\">");
	kh_page_text(resp, kh_msg(l, M_MFA_PASSKEY_REGISTER));
	kh_page_raw(resp, "</button>\n</div>\n<script src=\"/static/webauthn.js\"></script>\n");

	/* Recovery codes (only once some factor exists: alone they are not a
	 * second factor anyone enrolled). */
	kh_page_raw(resp, "<h2>");
	kh_page_text(resp, kh_msg(l, M_MFA_RECOVERY));
	kh_page_raw(resp, "</h2>\n<p>");
	kh_page_text(resp, kh_msg(l, M_MFA_RECOVERY_LEFT));
	snprintf(n, sizeof(n), "%zu", c->m->recovery_left);
	kh_page_raw(resp, " <span id=\"recovery-left\">");
	kh_page_text(resp, n);
	kh_page_raw(resp, "</span></p>\n");
	if ((c->m->totp_active || c->m->nwebauthn > 0) && c->m->recovery_left == 0) {
		/* A passkey enrolled alone comes without codes: say so plainly. */
		kh_page_raw(resp, "<p class=\"notice\" id=\"recovery-needed\" role=\"status\">");
		kh_page_text(resp, kh_msg(l, M_MFA_RECOVERY_NEEDED));
		kh_page_raw(resp, "</p>\n");
	}
	if (c->m->totp_active || c->m->nwebauthn > 0) {
		kh_page_raw(resp, "<form method=\"post\" action=\"/mfa/recovery\">\n");
		kh_mfa_hidden(resp, csrf, c);
		kh_page_raw(resp, "<button type=\"submit\" id=\"recovery-generate\">");
		kh_page_text(resp, kh_msg(l, M_MFA_RECOVERY_GENERATE));
		kh_page_raw(resp, "</button>\n</form>\n");
	}
	kh_page_end(req, resp);
	explicit_bzero(csrf, sizeof(csrf));
}

void
kh_handle_mfa_setup(struct kh_req *req, struct kh_resp *resp)
{
	struct kh_mfa_ctx c;

	if (kh_mfa_ctx_load(req, resp, &req->query, 0, &c) < 0)
		return;
	if (!refuse_unless_may_enrol(req, resp, &c))
		render_setup(req, resp, &c, NULL);
	kh_mfa_ctx_free(&c);
}

/* ---- TOTP enrolment ---- */

static void
render_totp(struct kh_req *req, struct kh_resp *resp, const struct kh_mfa_ctx *c,
    const unsigned char secret[20], int error)
{
	enum kh_lang l = req->lang;
	const struct kh_config *cfg = req->app->cfg;
	char csrf[KH_CSRF_TOKEN_LEN + 1], b32[KH_TOTP_B32_MAX], grouped[KH_TOTP_B32_MAX * 2];
	struct kh_buf uri;
	size_t i, j;

	kh_buf_init(&uri, 1024);
	if (kh_csrf_token(req, resp, csrf) != KH_OK ||
	    kh_base32_encode(secret, 20, b32, sizeof(b32)) != KH_OK ||
	    kh_totp_uri(cfg->mfa_issuer, c->s->uid, b32, &uri) != KH_OK) {
		kh_buf_free(&uri);
		kh_page_error(req, resp, 500, M_INTERNAL_TITLE, M_INTERNAL_BODY);
		return;
	}
	/* Groups of four for people typing it in. */
	for (i = j = 0; b32[i] != '\0' && j + 2 < sizeof(grouped); i++) {
		if (i > 0 && i % 4 == 0)
			grouped[j++] = ' ';
		grouped[j++] = b32[i];
	}
	grouped[j] = '\0';
	kh_page_begin(req, resp, M_MFA_SETUP_TITLE);
	if (error) {
		kh_page_raw(resp, "<p class=\"error\" id=\"error\" role=\"alert\">");
		kh_page_text(resp, kh_msg(l, M_MFA_ERR_CODE));
		kh_page_raw(resp, "</p>\n");
	}
	kh_page_raw(resp, "<h2>");
	kh_page_text(resp, kh_msg(l, M_MFA_TOTP));
	kh_page_raw(resp, "</h2>\n<p>");
	kh_page_text(resp, kh_msg(l, M_MFA_TOTP_SCAN));
	kh_page_raw(resp, "</p>\n<div id=\"qr\">");
	if (kh_qr_svg(kh_buf_cstr(&uri), "QR", &resp->body) != KH_OK)
		kh_page_raw(resp, "-");
	kh_page_raw(resp, "</div>\n<p>");
	kh_page_text(resp, kh_msg(l, M_MFA_TOTP_SECRET));
	kh_page_raw(resp, ": <code id=\"totp-secret\">");
	kh_page_text(resp, grouped);
	kh_page_raw(resp, "</code></p>\n<form method=\"post\" action=\"/mfa/totp\">\n");
	kh_mfa_hidden(resp, csrf, c);
	kh_page_raw(resp,
	    "<input type=\"hidden\" name=\"action\" value=\"confirm\">\n<label "
	    "for=\"otp\">");
	kh_page_text(resp, kh_msg(l, M_MFA_TOTP_CONFIRM));
	kh_page_raw(resp,
	    "</label>\n<input type=\"text\" id=\"otp\" name=\"otp\" "
	    "inputmode=\"numeric\" autocomplete=\"one-time-code\" maxlength=\"8\" "
	    "required autofocus>\n<button type=\"submit\" id=\"confirm\">");
	kh_page_text(resp, kh_msg(l, M_MFA_CONFIRM));
	kh_page_raw(resp, "</button>\n</form>\n");
	kh_page_end(req, resp);
	explicit_bzero(b32, sizeof(b32));
	explicit_bzero(grouped, sizeof(grouped));
	explicit_bzero(csrf, sizeof(csrf));
	kh_buf_free(&uri);
}

/* The recovery codes, once. */
static void
render_codes(struct kh_req *req, struct kh_resp *resp, const struct kh_mfa_ctx *c,
    char codes[][KH_MFA_CODE_LEN + 1], const char *notice)
{
	enum kh_lang l = req->lang;
	size_t i;

	kh_page_begin(req, resp, M_MFA_RECOVERY);
	if (notice != NULL) {
		kh_page_raw(resp, "<p class=\"notice\" id=\"notice\" role=\"status\">");
		kh_page_text(resp, notice);
		kh_page_raw(resp, "</p>\n");
	}
	kh_page_raw(resp, "<p>");
	kh_page_text(resp, kh_msg(l, M_MFA_RECOVERY_SHOWN));
	kh_page_raw(resp, "</p>\n<ol id=\"recovery-codes\">\n");
	for (i = 0; i < KH_MFA_RECOVERY_CODES; i++) {
		kh_page_raw(resp, "<li><code class=\"code\">");
		kh_page_text(resp, codes[i]);
		kh_page_raw(resp, "</code></li>\n");
	}
	kh_page_raw(resp, "</ol>\n");
	next_link(req, resp, c);
	kh_page_end(req, resp);
}

void
kh_handle_mfa_totp(struct kh_req *req, struct kh_resp *resp)
{
	const struct kh_config *cfg = req->app->cfg;
	struct kh_store *st = req->app->store;
	char codes[KH_MFA_RECOVERY_CODES][KH_MFA_CODE_LEN + 1];
	unsigned char secret[20];
	struct kh_mfa_ctx c;
	const char *action, *otp;
	int r;

	memset(codes, 0, sizeof(codes));
	if (!kh_csrf_check(req)) {
		kh_warn("mfa.csrf", "rid", req->rid, "ip", req->client_ip, NULL);
		kh_page_error(req, resp, 403, M_BAD_REQUEST_TITLE, M_ERR_CSRF);
		return;
	}
	if (kh_mfa_ctx_load(req, resp, &req->form, 0, &c) < 0)
		return;
	if (refuse_unless_may_enrol(req, resp, &c))
		goto out;
	action = kh_param_get(&req->form, "action", NULL);
	if (action == NULL || req->form.duplicates) {
		kh_page_error(req, resp, 400, M_BAD_REQUEST_TITLE, M_BAD_REQUEST_BODY);
		goto out;
	}
	if (strcmp(action, "begin") == 0) {
		if ((r = kh_mfa_totp_begin(st, cfg->mfa_kek_bytes, c.s->uid, secret)) != KH_OK) {
			kh_mfa_unavailable(req, resp, 0);
			goto out;
		}
		kh_audit("mfa.totp_begin", "rid", req->rid, "user", c.s->uid, "ip", req->client_ip,
		    NULL);
		render_totp(req, resp, &c, secret, 0);
		goto out;
	}
	if (strcmp(action, "confirm") != 0) {
		kh_page_error(req, resp, 400, M_BAD_REQUEST_TITLE, M_BAD_REQUEST_BODY);
		goto out;
	}
	otp = kh_param_get(&req->form, "otp", NULL);
	r = otp == NULL || *otp == '\0' || strlen(otp) > 64
	    ? KH_ERR_INVALID
	    : kh_mfa_totp_activate(
		  st, cfg->mfa_kek_bytes, c.s->uid, otp, kh_time(), (int)cfg->mfa_totp_window);
	if (r == KH_ERR_NOT_FOUND) {
		/* Nothing pending (expired): start again. */
		kh_resp_redirect(resp, 303, "/mfa/setup");
		goto out;
	}
	if (r == KH_ERR_INVALID) {
		long locked = 0;
		if (kh_mfa_failed(req, &c, "totp_enrol", &locked) != KH_OK ||
		    kh_mfa_totp_pending(st, cfg->mfa_kek_bytes, c.s->uid, secret) != KH_OK) {
			kh_mfa_unavailable(req, resp, 0);
			goto out;
		}
		resp->status = 400;
		render_totp(req, resp, &c, secret, 1);
		goto out;
	}
	if (r != KH_OK) {
		kh_mfa_unavailable(req, resp, 0);
		goto out;
	}
	kh_audit("mfa.enrol", "rid", req->rid, "user", c.s->uid, "ip", req->client_ip, "factor",
	    "totp", "via",
	    c.enrol_forced                ? "bypass_code"
		: kh_session_has_mfa(c.s) ? "mfa"
					  : "zone",
	    NULL);
	/* The code just typed proves the new factor: the session counts as
	 * verified from here on. */
	if (kh_mfa_elevate(req, resp, &c, "otp", "totp_enrol", 0) != KH_OK) {
		kh_mfa_unavailable(req, resp, 0);
		goto out;
	}
	if (c.m->recovery_left == 0) {
		if (kh_mfa_recovery_generate(st, c.s->uid, codes) != KH_OK) {
			kh_mfa_unavailable(req, resp, 0);
			goto out;
		}
		kh_audit("mfa.recovery_generated", "rid", req->rid, "user", c.s->uid, "ip",
		    req->client_ip, NULL);
		render_codes(req, resp, &c, codes, kh_msg(req->lang, M_MFA_ENROLLED));
		goto out;
	}
	kh_mfa_redirect_p(resp, &c, "/mfa/setup");
out:
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(codes, sizeof(codes));
	kh_mfa_ctx_free(&c);
}

void
kh_handle_mfa_recovery(struct kh_req *req, struct kh_resp *resp)
{
	char codes[KH_MFA_RECOVERY_CODES][KH_MFA_CODE_LEN + 1];
	struct kh_mfa_ctx c;

	memset(codes, 0, sizeof(codes));
	if (!kh_csrf_check(req)) {
		kh_warn("mfa.csrf", "rid", req->rid, "ip", req->client_ip, NULL);
		kh_page_error(req, resp, 403, M_BAD_REQUEST_TITLE, M_ERR_CSRF);
		return;
	}
	if (kh_mfa_ctx_load(req, resp, &req->form, 0, &c) < 0)
		return;
	if (!kh_session_has_mfa(c.s) || (!c.m->totp_active && c.m->nwebauthn == 0)) {
		/* New codes only after a second factor in this session. */
		kh_mfa_redirect_p(resp, &c, kh_mfa_has_factor(c.m) ? "/mfa" : "/mfa/setup");
		goto out;
	}
	if (kh_mfa_recovery_generate(req->app->store, c.s->uid, codes) != KH_OK) {
		kh_mfa_unavailable(req, resp, 0);
		goto out;
	}
	kh_audit("mfa.recovery_generated", "rid", req->rid, "user", c.s->uid, "ip", req->client_ip,
	    NULL);
	render_codes(req, resp, &c, codes, NULL);
out:
	explicit_bzero(codes, sizeof(codes));
	kh_mfa_ctx_free(&c);
}
