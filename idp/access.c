/* The per-app access decision: policy × network zone × device trust, plus
 * step-up when the app asks for a second factor. */
#include "idp/access.h"

#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "idp/apps.h"
#include "idp/idp.h"
#include "idp/page.h"
#include "sessions/mfa.h"
#include "sessions/sessions.h"

static int
has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		while (*p == ' ')
			p++;
		if (strncmp(p, tok, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
			return 1;
		p = strchr(p, ' ');
	}
	return 0;
}

int
kh_session_has_mfa(const struct kh_session *s)
{
	return s != NULL && s->amr != NULL && has_token(s->amr, "mfa");
}

int
kh_access_device(struct kh_req *req, const char *uid, enum kh_device_trust *out)
{
	const char *name = NULL, *want = NULL, *got, *tok;
	int r;

	*out = KH_DEVICE_UNMANAGED;
	kh_policy_managed_header(req->app->policy, &name, &want);
	/* Only a configured proxy may vouch for a client certificate: from
	 * anyone else the header is just a string the client chose. */
	if (name != NULL && req->from_proxy && (got = kh_req_header(req, name)) != NULL &&
	    want != NULL && strcmp(got, want) == 0) {
		*out = KH_DEVICE_MANAGED;
		return KH_OK;
	}
	if (uid == NULL || (tok = kh_req_cookie(req, KH_DEVICE_COOKIE)) == NULL)
		return KH_OK;
	r = kh_mfa_device_check(req->app->store, uid, tok);
	if (r < 0)
		return r;
	if (r == 1)
		*out = KH_DEVICE_REMEMBERED;
	return KH_OK;
}

const char *
kh_access_policy_of(const struct kh_idp *app, const struct kh_apps_view *v, const char *app_id)
{
	const struct kh_app *a = v != NULL && app_id != NULL ? kh_apps_find(v, app_id) : NULL;
	json_t *p, *c;

	if (a == NULL)
		return NULL;
	p = json_object_get(a->doc, "policy");
	if (json_is_string(p))
		return json_string_value(p);
	c = json_object_get(a->doc, "category");
	if (json_is_string(c) && strcmp(json_string_value(c), "communication") == 0 &&
	    kh_policy_exists(app->policy, "communication"))
		return "communication";
	return NULL;
}

static const char *
device_name(enum kh_device_trust d)
{
	switch (d) {
	case KH_DEVICE_MANAGED: return "managed";
	case KH_DEVICE_REMEMBERED: return "remembered";
	default: return "unmanaged";
	}
}

static void
denied_page(struct kh_req *req, struct kh_resp *resp, const char *reason, const char *zones,
    enum kh_device_trust dev, const char *app_name)
{
	enum kh_lang l = req->lang;
	enum kh_msg body = M_DENY_POLICY;

	if (strcmp(reason, "managed_device") == 0)
		body = M_DENY_MANAGED_DEVICE;
	else if (strcmp(reason, "network") == 0)
		body = M_DENY_NETWORK;
	else if (strcmp(reason, "group") == 0)
		body = M_DENY_GROUP;
	resp->status = 403;
	kh_page_begin(req, resp, M_ACCESS_DENIED_TITLE);
	kh_page_raw(resp, "<p class=\"error\" id=\"denied\" role=\"alert\" data-reason=\"");
	kh_page_text(resp, reason);
	kh_page_raw(resp, "\">");
	kh_page_text(resp, kh_msg(l, body));
	kh_page_raw(resp, "</p>\n<dl>\n");
	if (app_name != NULL) {
		kh_page_raw(resp, "<dt>");
		kh_page_text(resp, kh_msg(l, M_APPLICATION));
		kh_page_raw(resp, "</dt><dd id=\"app\">");
		kh_page_text(resp, app_name);
		kh_page_raw(resp, "</dd>\n");
	}
	kh_page_raw(resp, "<dt>");
	kh_page_text(resp, kh_msg(l, M_ZONE));
	kh_page_raw(resp, "</dt><dd id=\"zone\">");
	kh_page_text(resp, zones);
	kh_page_raw(resp, "</dd>\n<dt>");
	kh_page_text(resp, kh_msg(l, M_DEVICE));
	kh_page_raw(resp, "</dt><dd id=\"device\">");
	kh_page_text(resp,
	    kh_msg(l,
		dev == KH_DEVICE_MANAGED          ? M_DEVICE_MANAGED
		    : dev == KH_DEVICE_REMEMBERED ? M_DEVICE_REMEMBERED
						  : M_DEVICE_UNMANAGED));
	kh_page_raw(resp, "</dd>\n</dl>\n");
	kh_page_reference(req, resp);
	kh_page_helpdesk(req, resp);
	kh_page_end(req, resp);
}

enum kh_access
kh_access_decide(struct kh_req *req, struct kh_resp *resp, const struct kh_apps_view *v,
    const char *app_id, const struct kh_session *s, int want_mfa)
{
	struct kh_idp *app = req->app;
	struct kh_policy_ctx ctx;
	struct kh_policy_result res;
	enum kh_device_trust dev;
	const struct kh_app *a;
	const char *pname;
	char zones[256];

	if (kh_access_device(req, s->uid, &dev) != KH_OK) {
		kh_error("access.unavailable", "rid", req->rid, "backend", "redis", NULL);
		kh_page_error(req, resp, 503, M_UNAVAILABLE_TITLE, M_UNAVAILABLE_BODY);
		kh_resp_header(resp, "Retry-After", "30");
		return KH_ACCESS_ERROR;
	}
	pname = kh_access_policy_of(app, v, app_id);
	ctx.groups = s->groups != NULL ? s->groups : "";
	ctx.client_ip = req->client_ip;
	ctx.device = dev;
	kh_policy_eval(app->policy, pname, &ctx, &res);
	kh_policy_zones_of(app->policy, req->client_ip, zones, sizeof(zones));
	if (res.action == KH_POLICY_DENY) {
		char rule[16];
		snprintf(rule, sizeof(rule), "%d", res.rule);
		kh_audit("access.denied", "rid", req->rid, "user", s->uid, "app", app_id, "policy",
		    res.policy != NULL ? res.policy : "", "rule", rule, "reason", res.reason, "ip",
		    req->client_ip, "zone", zones, "device", device_name(dev), NULL);
		a = kh_apps_find(v, app_id);
		denied_page(req, resp, res.reason, zones, dev, a != NULL ? a->name : NULL);
		return KH_ACCESS_DENIED;
	}
	if ((res.action == KH_POLICY_MFA || want_mfa) && !kh_session_has_mfa(s)) {
		kh_info("access.mfa_required", "rid", req->rid, "user", s->uid, "app", app_id,
		    "policy", res.policy != NULL ? res.policy : "", "by",
		    res.action == KH_POLICY_MFA ? "policy" : "app", "zone", zones, "device",
		    device_name(dev), NULL);
		return KH_ACCESS_MFA;
	}
	return KH_ACCESS_ALLOW;
}

void
kh_access_redirect_mfa(struct kh_resp *resp, const char *pending_id)
{
	struct kh_buf b;

	kh_buf_init(&b, 128);
	if (kh_buf_appendf(&b, "/mfa?p=%s", pending_id) == KH_OK)
		kh_resp_redirect(resp, 303, kh_buf_cstr(&b));
	kh_buf_free(&b);
}
