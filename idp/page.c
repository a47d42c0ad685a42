#include "idp/page.h"

#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "idp/idp.h"

void
kh_page_text(struct kh_resp *resp, const char *text)
{
	kh_buf_append_html(&resp->body, text);
}

void
kh_page_raw(struct kh_resp *resp, const char *html)
{
	kh_buf_append_str(&resp->body, html);
}

/* Link to the same page in the other language, keeping other query fields. */
static void
lang_switch(struct kh_req *req, struct kh_resp *resp)
{
	enum kh_lang other = req->lang == KH_LANG_JA ? KH_LANG_EN : KH_LANG_JA;
	struct kh_buf *b = &resp->body;
	size_t i;

	kh_buf_append_str(b, "<a class=\"lang\" hreflang=\"");
	kh_buf_append_str(b, kh_lang_code(other));
	kh_buf_append_str(b, "\" lang=\"");
	kh_buf_append_str(b, kh_lang_code(other));
	kh_buf_append_str(b, "\" href=\"");
	kh_buf_append_html(b, req->method == KH_GET ? req->path : "/login");
	kh_buf_append_str(b, "?lang=");
	kh_buf_append_str(b, kh_lang_code(other));
	for (i = 0; req->method == KH_GET && i < req->query.n; i++) {
		const struct kh_param *p = &req->query.items[i];
		if (strcmp(p->name, "lang") == 0 || strlen(p->value) != p->len)
			continue;
		kh_buf_append_str(b, "&amp;");
		kh_buf_append_urlenc(b, p->name);
		kh_buf_append_str(b, "=");
		kh_buf_append_urlenc(b, p->value);
	}
	kh_buf_append_str(b, "\">");
	kh_buf_append_html(b, kh_msg(req->lang, M_LANG_SWITCH));
	kh_buf_append_str(b, "</a>");
}

void
kh_page_begin(struct kh_req *req, struct kh_resp *resp, enum kh_msg title)
{
	struct kh_buf *b = &resp->body;

	resp->content_type = "text/html; charset=utf-8";
	kh_buf_reset(b);
	kh_buf_append_str(b, "<!DOCTYPE html>\n<html lang=\"");
	kh_buf_append_str(b, kh_lang_code(req->lang));
	kh_buf_append_str(b,
	    "\">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<title>");
	kh_buf_append_html(b, kh_msg(req->lang, title));
	kh_buf_append_str(b, " - ");
	kh_buf_append_html(b, kh_msg(req->lang, M_SITE_NAME));
	kh_buf_append_str(b,
	    "</title>\n<link rel=\"stylesheet\" href=\"/static/kakehashi.css\">\n"
	    "</head>\n<body>\n<a class=\"skip\" href=\"#main\">");
	kh_buf_append_html(b, kh_msg(req->lang, M_SKIP_TO_FORM));
	kh_buf_append_str(b, "</a>\n<header><span class=\"brand\">");
	kh_buf_append_html(b, kh_msg(req->lang, M_SITE_NAME));
	kh_buf_append_str(b, "</span>");
	lang_switch(req, resp);
	kh_buf_append_str(b, "</header>\n<main id=\"main\">\n<h1>");
	kh_buf_append_html(b, kh_msg(req->lang, title));
	kh_buf_append_str(b, "</h1>\n");
}

void
kh_page_end(struct kh_req *req, struct kh_resp *resp)
{
	(void)req;
	kh_buf_append_str(&resp->body, "</main>\n</body>\n</html>\n");
}

void
kh_page_helpdesk(struct kh_req *req, struct kh_resp *resp)
{
	const char *h = req->app->cfg->login_helpdesk;

	if (*h == '\0')
		return;
	kh_page_raw(resp, "<p id=\"helpdesk\">");
	kh_page_text(resp, kh_msg(req->lang, M_CONTACT_HELPDESK));
	kh_page_raw(resp, ": ");
	kh_page_text(resp, h);
	kh_page_raw(resp, "</p>\n");
}

void
kh_page_reference(struct kh_req *req, struct kh_resp *resp)
{
	kh_page_raw(resp, "<p class=\"ref\">");
	kh_page_text(resp, kh_msg(req->lang, M_REFERENCE_ID));
	kh_page_raw(resp, ": <code id=\"reference\">");
	kh_page_text(resp, req->rid);
	kh_page_raw(resp, "</code></p>\n");
}

void
kh_page_hidden(struct kh_resp *resp, const char *name, const char *value)
{
	kh_page_raw(resp, "<input type=\"hidden\" name=\"");
	kh_page_text(resp, name);
	kh_page_raw(resp, "\" value=\"");
	kh_page_text(resp, value);
	kh_page_raw(resp, "\">\n");
}

void
kh_page_error(
    struct kh_req *req, struct kh_resp *resp, int status, enum kh_msg title, enum kh_msg body)
{
	resp->status = status;
	kh_page_begin(req, resp, title);
	kh_page_raw(resp, "<p class=\"error\" role=\"alert\">");
	kh_page_text(resp, kh_msg(req->lang, body));
	kh_page_raw(resp, "</p>\n");
	kh_page_reference(req, resp);
	kh_page_raw(resp, "<p><a href=\"/login\">");
	kh_page_text(resp, kh_msg(req->lang, M_SIGN_IN_AGAIN));
	kh_page_raw(resp, "</a></p>\n");
	kh_page_end(req, resp);
}
