/* SAML pages: the auto-submitting POST form and ja/en error pages. Every
 * dynamic value goes through kh_buf_append_html (via kh_page_text). */
#include <string.h>

#include "common/log.h"
#include "idp/idp.h"
#include "idp/page.h"
#include "idp/saml/saml_int.h"

struct err_text {
	int status;
	const char *code; /* stable, shown on the page and logged */
	const char *ja;
	const char *en;
};

static const struct err_text errs[KH_SAML_E__COUNT] = {
	[KH_SAML_E_MALFORMED] = { 400, "saml_malformed",
	    "サービスからのサインイン要求を読み取れませんでした。サービスの画面からもう一度お試しください。",
	    "The sign-in request from the service could not be read. Please start again from the "
	    "service." },
	[KH_SAML_E_TOO_LARGE] = { 413, "saml_too_large", "サービスからの要求が大きすぎます。",
	    "The request from the service is too large." },
	[KH_SAML_E_UNKNOWN_SP] = { 400, "saml_unknown_sp",
	    "このサービスは Kakehashi に登録されていません。情報システム担当者にお問い合わせください。",
	    "This service is not registered with Kakehashi. Please contact your IT administrator." },
	[KH_SAML_E_BAD_ACS] = { 400, "saml_bad_acs",
	    "サービスが指定した戻り先は登録されていません。",
	    "The return address the service asked for is not registered." },
	[KH_SAML_E_SIGNATURE] = { 400, "saml_bad_signature",
	    "サービスからの要求の署名を確認できませんでした。",
	    "The signature on the service's request could not be verified." },
	[KH_SAML_E_UNSIGNED] = { 400, "saml_unsigned", "このサービスからの要求には署名が必要です。",
	    "Requests from this service must be signed." },
	[KH_SAML_E_WEAK_ALG] = { 400, "saml_weak_algorithm",
	    "サービスからの要求は弱い署名方式 (SHA-1 など) を使っています。",
	    "The service's request uses a weak signature algorithm (such as SHA-1)." },
	[KH_SAML_E_REPLAY] = { 400, "saml_replay",
	    "このサインイン要求はすでに使われています。サービスの画面からもう一度お試しください。",
	    "This sign-in request has already been used. Please start again from the service." },
	[KH_SAML_E_EXPIRED] = { 400, "saml_expired",
	    "サインイン要求の有効期限が切れているか、時刻が正しくありません。",
	    "The sign-in request has expired or carries a wrong time." },
	[KH_SAML_E_BINDING] = { 400, "saml_unsupported_binding",
	    "サービスが要求した応答方式には対応していません。",
	    "The response binding the service asked for is not supported." },
	[KH_SAML_E_DENIED] = { 403, "saml_access_denied",
	    "このサービスを利用する権限がありません。",
	    "You are not allowed to use this service." },
	[KH_SAML_E_NO_SESSION] = { 400, "saml_no_session",
	    "サインインしていないか、セッションの有効期限が切れています。",
	    "You are not signed in, or your session has expired." },
	[KH_SAML_E_DISABLED] = { 404, "saml_disabled", "SAML は設定されていません。",
	    "SAML is not configured." },
	[KH_SAML_E_UNAVAILABLE] = { 503, "saml_unavailable",
	    "現在サインインできません。しばらくしてからもう一度お試しください。",
	    "Sign-in is unavailable at the moment. Please try again later." },
	[KH_SAML_E_INTERNAL] = { 500, "saml_internal", "内部エラーが発生しました。",
	    "An internal error occurred." },
};

void
kh_saml_error_page(
    struct kh_req *req, struct kh_resp *resp, enum kh_saml_error e, const char *why, const char *sp)
{
	const struct err_text *t = &errs[e < KH_SAML_E__COUNT ? e : KH_SAML_E_INTERNAL];
	enum kh_msg title = t->status == 503 ? M_UNAVAILABLE_TITLE
	    : t->status >= 500               ? M_INTERNAL_TITLE
	    : t->status == 404               ? M_NOT_FOUND_TITLE
	    : t->status == 413               ? M_TOO_LARGE_TITLE
					     : M_BAD_REQUEST_TITLE;

	kh_warn("saml.error", "rid", req->rid, "error", t->code, "reason", why, "sp", sp, "ip",
	    req->client_ip, NULL);
	/* a fresh response: drop anything a handler had started */
	resp->status = t->status;
	kh_page_begin(req, resp, title);
	kh_page_raw(resp, "<p class=\"error\" role=\"alert\" id=\"saml-error\" data-code=\"");
	kh_page_text(resp, t->code);
	kh_page_raw(resp, "\">");
	kh_page_text(resp, req->lang == KH_LANG_EN ? t->en : t->ja);
	kh_page_raw(resp, "</p>\n<p class=\"ref\">");
	kh_page_text(resp, kh_msg(req->lang, M_REFERENCE_ID));
	kh_page_raw(resp, ": <code id=\"reference\">");
	kh_page_text(resp, req->rid);
	kh_page_raw(resp, "</code> <code id=\"error-code\">");
	kh_page_text(resp, t->code);
	kh_page_raw(resp, "</code></p>\n");
	kh_page_end(req, resp);
}

int
kh_saml_send(struct kh_req *req, struct kh_resp *resp, int post, const char *url, const char *name,
    const char *msg, const char *relay_state)
{
	struct kh_saml_global *g = kh_saml_global(req->app);
	struct kh_buf csp;
	int r;

	if (!post)
		return kh_resp_redirect(resp, 303, url);
	resp->status = 200;
	kh_page_begin(req, resp, M_CONTINUE);
	kh_page_raw(resp, "<form method=\"post\" action=\"");
	kh_page_text(resp, url);
	kh_page_raw(resp, "\">\n<input type=\"hidden\" name=\"");
	kh_page_text(resp, name);
	kh_page_raw(resp, "\" value=\"");
	kh_page_text(resp, msg);
	kh_page_raw(resp, "\">\n");
	if (relay_state != NULL) {
		kh_page_raw(resp, "<input type=\"hidden\" name=\"RelayState\" value=\"");
		kh_page_text(resp, relay_state);
		kh_page_raw(resp, "\">\n");
	}
	kh_page_raw(resp, "<noscript><p><button type=\"submit\">");
	kh_page_text(resp, kh_msg(req->lang, M_CONTINUE));
	kh_page_raw(resp,
	    "</button></p></noscript>\n</form>\n"
	    "<script>document.forms[0].submit();</script>\n");
	kh_page_end(req, resp);
	/* The form goes to the SP (a URL from its registered metadata); the
	 * only script is the constant above, allowed by its hash. */
	kh_buf_init(&csp, 512);
	kh_buf_appendf(&csp,
	    "default-src 'none'; script-src %s; style-src 'self'; img-src 'self' data:; "
	    "frame-ancestors 'none'; base-uri 'none'",
	    g->script_csp);
	r = kh_resp_header(resp, "Content-Security-Policy", kh_buf_cstr(&csp));
	kh_buf_free(&csp);
	return r;
}
