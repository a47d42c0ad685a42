/* The admin and helpdesk REST API: one prefix endpoint, /admin/api/v1/,
 * routed here by method and path segments.
 *
 * Every call is authenticated first (any valid token), so nobody without a
 * token learns which paths exist; then the route's role is checked; then
 * the handler runs; then one audit line records the token name, method,
 * path and status. */
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "common/errors.h"
#include "common/str.h"
#include "idp/idp.h"

#define ADMIN_PREFIX "/admin/api/v1/"
#define SEGMENTS_MAX 4
#define SEGMENT_MAX 256

struct segs {
	char s[SEGMENTS_MAX][SEGMENT_MAX + 1];
	size_t n;
};

/* Splits the path after the prefix into segments; 0 on an empty segment,
 * too many or too long ones. */
static int
split(const char *path, struct segs *sg)
{
	const char *p = path, *slash;
	size_t len;

	memset(sg, 0, sizeof(*sg));
	if (*p == '\0')
		return 1;
	for (;;) {
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || len > SEGMENT_MAX || sg->n == SEGMENTS_MAX)
			return 0;
		memcpy(sg->s[sg->n], p, len);
		sg->s[sg->n][len] = '\0';
		sg->n++;
		if (slash == NULL)
			return 1;
		p = slash + 1;
	}
}

static int
is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static void
not_found(struct kh_resp *resp)
{
	kh_admin_error(resp, 404, "not_found", "No such API endpoint.",
	    "そのような API エンドポイントはありません。");
}

static void
method_not_allowed(struct kh_resp *resp, const char *allow)
{
	kh_admin_error(resp, 405, "method_not_allowed", "This method is not allowed here.",
	    "このメソッドは使えません。");
	kh_resp_header(resp, "Allow", allow);
}

/* The protocol of a stored app, for PUT and rotate-secret; answers 404 /
 * 503 itself. */
static int
app_protocol_or_respond(
    struct kh_req *req, struct kh_resp *resp, const char *id, char *out, size_t outlen)
{
	json_t *doc = NULL;
	const char *p;
	int r;

	out[0] = '\0';
	if ((r = kh_admin_app_load_or_respond(req, resp, id, &doc)) != KH_OK)
		return r;
	p = json_string_value(json_object_get(doc, "protocol"));
	kh_strlcpy(out, p != NULL ? p : "", outlen);
	json_decref(doc);
	return KH_OK;
}

/* /users/{uid}, /users/{uid}/revoke-sessions, /audit: helpdesk role (the
 * dispatcher has checked it). */
static void
route_helpdesk(struct kh_req *req, struct kh_resp *resp, const struct segs *sg)
{
	const char *m = kh_req_method(req);
	int get = is(m, "GET") || is(m, "HEAD"), post = is(m, "POST");

	if (is(sg->s[0], "audit") && sg->n == 1) {
		if (!get)
			method_not_allowed(resp, "GET");
		else
			kh_admin_audit_list(req, resp);
		return;
	}
	if (is(sg->s[0], "users") && sg->n == 2) {
		if (!get)
			method_not_allowed(resp, "GET");
		else
			kh_admin_users_show(req, resp, sg->s[1]);
		return;
	}
	if (is(sg->s[0], "users") && sg->n == 4 && is(sg->s[2], "mfa") &&
	    (is(sg->s[3], "reset") || is(sg->s[3], "unlock"))) {
		if (!post)
			method_not_allowed(resp, "POST");
		else if (is(sg->s[3], "reset"))
			kh_admin_mfa_reset(req, resp, sg->s[1]);
		else
			kh_admin_mfa_unlock(req, resp, sg->s[1]);
		return;
	}
	if (is(sg->s[0], "users") && sg->n == 3 && is(sg->s[2], "revoke-sessions")) {
		if (!post)
			method_not_allowed(resp, "POST");
		else
			kh_admin_users_revoke_sessions(req, resp, sg->s[1]);
		return;
	}
	not_found(resp);
}

static void
route(struct kh_req *req, struct kh_resp *resp, const struct segs *sg, const char **app_id)
{
	const char *m = kh_req_method(req);
	int get = is(m, "GET") || is(m, "HEAD"), post = is(m, "POST"), put = is(m, "PUT"),
	    del = is(m, "DELETE");
	char proto[16];

	*app_id = NULL;
	if (sg->n >= 1 && (is(sg->s[0], "users") || is(sg->s[0], "audit"))) {
		route_helpdesk(req, resp, sg);
		return;
	}
	if (sg->n == 1 && is(sg->s[0], "policies")) {
		if (!get)
			method_not_allowed(resp, "GET");
		else
			kh_admin_policies_list(req, resp);
		return;
	}
	if (sg->n < 1 || !is(sg->s[0], "apps")) {
		not_found(resp);
		return;
	}
	if (sg->n == 1) {
		if (!get) {
			method_not_allowed(resp, "GET");
			return;
		}
		kh_admin_apps_list(req, resp);
		return;
	}
	*app_id = sg->s[1];
	if (sg->n == 2 && post && (is(sg->s[1], "saml") || is(sg->s[1], "oidc"))) {
		*app_id = NULL;
		if (kh_admin_auth_or_respond(req, resp, KH_ROLE_ADMIN) != KH_OK)
			return;
		if (is(sg->s[1], "saml"))
			kh_admin_apps_saml_create(req, resp);
		else
			kh_admin_apps_oidc_create(req, resp);
		return;
	}
	if (sg->n == 2) {
		if (get) {
			kh_admin_apps_show(req, resp, sg->s[1]);
			return;
		}
		if (!put && !del) {
			method_not_allowed(resp, "GET, PUT, DELETE");
			return;
		}
		if (kh_admin_auth_or_respond(req, resp, KH_ROLE_ADMIN) != KH_OK)
			return;
		if (del) {
			kh_admin_apps_delete(req, resp, sg->s[1]);
			return;
		}
		if (app_protocol_or_respond(req, resp, sg->s[1], proto, sizeof(proto)) != KH_OK)
			return;
		if (is(proto, "saml"))
			kh_admin_apps_saml_update(req, resp, sg->s[1]);
		else if (is(proto, "oidc"))
			kh_admin_apps_oidc_update(req, resp, sg->s[1]);
		else
			kh_admin_error(resp, 500, "server_error", "The stored app has no protocol.",
			    "保存されているアプリにプロトコルがありません。");
		return;
	}
	if (sg->n == 3 && is(sg->s[2], "rotate-secret")) {
		if (!post) {
			method_not_allowed(resp, "POST");
			return;
		}
		if (kh_admin_auth_or_respond(req, resp, KH_ROLE_ADMIN) != KH_OK)
			return;
		if (app_protocol_or_respond(req, resp, sg->s[1], proto, sizeof(proto)) != KH_OK)
			return;
		if (!is(proto, "oidc")) {
			kh_admin_error(resp, 409, "not_oidc", "Only OIDC clients have a secret.",
			    "シークレットを持つのは OIDC クライアントだけです。");
			return;
		}
		kh_admin_apps_oidc_rotate_secret(req, resp, sg->s[1]);
		return;
	}
	not_found(resp);
}

void
kh_admin_dispatch(struct kh_req *req, struct kh_resp *resp)
{
	struct segs sg;
	const char *id = NULL;
	char status[8];

	/* Any valid token first: no route is revealed without one. */
	if (kh_admin_auth_or_respond(req, resp, KH_ROLE_HELPDESK) == KH_OK) {
		if (!kh_startswith(req->path, ADMIN_PREFIX) ||
		    !split(req->path + strlen(ADMIN_PREFIX), &sg))
			not_found(resp);
		else
			route(req, resp, &sg, &id);
	}
	snprintf(status, sizeof(status), "%d", resp->status);
	kh_admin_audit(req, "admin.call", id, status);
}

const struct kh_endpoint kh_admin_endpoints[] = {
	{ ADMIN_PREFIX, KH_GET | KH_POST | KH_OTHER, kh_admin_dispatch,
	    KH_EP_PREFIX | KH_EP_RAW_BODY, "admin" },
	{ NULL, 0, NULL, 0, NULL },
};
