/* Helpdesk endpoints for one user:
 *   GET  /admin/api/v1/users/{uid}                  directory entry, sessions, throttle
 *   POST /admin/api/v1/users/{uid}/revoke-sessions  {"reason": "..."}: signs the user out
 * Both need a helpdesk (or admin) token; the router has checked it. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "connectors/connector.h"
#include "idp/idp.h"
#include "idp/oidc/oidc.h"
#include "sessions/sessions.h"

#define REASON_MAX_CHARS 500

static void
unavailable(struct kh_resp *resp, const char *what_en, const char *what_ja)
{
	char en[128], ja[160];

	snprintf(en, sizeof(en), "%s cannot be reached.", what_en);
	snprintf(ja, sizeof(ja), "%sに接続できません。", what_ja);
	kh_admin_error(resp, 503, "unavailable", en, ja);
}

/* 1..KH_USERNAME_MAX bytes of UTF-8 text (the same limits as the login
 * form); otherwise 400 is answered. */
int
kh_admin_uid_ok_or_respond(struct kh_resp *resp, const char *uid)
{
	size_t n = strlen(uid);

	if (n == 0 || n > KH_USERNAME_MAX || !kh_utf8_valid_text(uid, n)) {
		kh_admin_error(
		    resp, 400, "bad_request", "Invalid user name.", "ユーザー名が不正です。");
		return KH_ERR_INVALID;
	}
	return KH_OK;
}

/* A JSON string of s; "" for NULL (and for text jansson refuses). */
static json_t *
jstr(const char *s)
{
	json_t *v = json_string(s != NULL ? s : "");

	return v != NULL ? v : json_string("");
}

static json_t *
identity_json(const struct kh_identity *id)
{
	json_t *o = json_object(), *g = json_array();
	size_t i;

	json_object_set_new(o, "uid", jstr(id->uid));
	json_object_set_new(o, "dn", jstr(id->dn));
	json_object_set_new(o, "display_name", jstr(id->display_name));
	json_object_set_new(o, "family_name", jstr(id->family_name));
	json_object_set_new(o, "given_name", jstr(id->given_name));
	json_object_set_new(o, "mail", jstr(id->mail));
	json_object_set_new(o, "employee_number", jstr(id->employee_number));
	json_object_set_new(o, "department", jstr(id->department));
	json_object_set_new(o, "title", jstr(id->title));
	for (i = 0; id->groups != NULL && id->groups[i] != NULL; i++)
		json_array_append_new(g, jstr(id->groups[i]));
	json_object_set_new(o, "groups", g);
	return o;
}

static json_t *
sessions_json(const struct kh_session_info *v, size_t n)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; i < n; i++) {
		o = json_object();
		json_object_set_new(o, "id", jstr(v[i].id));
		json_object_set_new(o, "created", json_integer(v[i].created));
		json_object_set_new(o, "auth_time", json_integer(v[i].auth_time));
		json_object_set_new(o, "expires", json_integer(v[i].absolute_expiry));
		json_object_set_new(o, "client_ip", jstr(v[i].client_ip));
		json_object_set_new(o, "amr", jstr(v[i].amr));
		json_array_append_new(a, o);
	}
	return a;
}

void
kh_admin_users_show(struct kh_req *req, struct kh_resp *resp, const char *uid)
{
	struct kh_idp *app = req->app;
	struct kh_identity *id = NULL;
	struct kh_session_info *sess = NULL;
	size_t nsess = 0;
	char folded[KH_USERNAME_MAX + 1];
	long failures = 0, locked_for = 0;
	json_t *body, *th, *mfa;
	int r;

	if (kh_admin_uid_ok_or_respond(resp, uid) != KH_OK)
		return;
	if ((r = kh_connector_lookup(app->connector, uid, &id)) != KH_OK) {
		if (r == KH_ERR_NOT_FOUND)
			kh_admin_error(resp, 404, "not_found", "No such user in the directory.",
			    "ディレクトリにそのユーザーはいません。");
		else
			unavailable(resp, "The directory (LDAP)", "ディレクトリ (LDAP) ");
		return;
	}
	/* The canonical uid from the directory keys the indexes (case-folded). */
	kh_user_fold(id->uid, folded, sizeof(folded));
	if (kh_session_list_user(app->store, id->uid, &sess, &nsess) != KH_OK ||
	    kh_throttle_check(app->store, KH_THROTTLE_USER, folded, &failures, &locked_for) !=
		KH_OK) {
		unavailable(resp, "The session store (Redis)", "セッションストア (Redis) ");
		goto out;
	}
	body = json_object();
	json_object_set_new(body, "user", identity_json(id));
	json_object_set_new(body, "sessions", sessions_json(sess, nsess));
	th = json_object();
	json_object_set_new(th, "failures", json_integer(failures));
	json_object_set_new(th, "locked", json_boolean(locked_for > 0));
	json_object_set_new(th, "locked_for", json_integer(locked_for));
	json_object_set_new(body, "throttle", th);
	if ((mfa = kh_admin_mfa_json(req, id->uid)) == NULL) {
		json_decref(body);
		unavailable(resp, "The session store (Redis)", "セッションストア (Redis) ");
		goto out;
	}
	json_object_set_new(body, "mfa", mfa);
	kh_admin_json(resp, 200, body);
out:
	kh_session_info_free(sess, nsess);
	kh_identity_free(id);
}

/* Characters (code points) of valid UTF-8. */
static size_t
utf8_chars(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

int
kh_admin_reason_or_respond(struct kh_resp *resp, json_t *in, const char **reason)
{
	json_t *v = json_object_get(in, "reason");
	size_t len;

	*reason = NULL;
	if (!json_is_string(v) || (len = json_string_length(v)) == 0 ||
	    utf8_chars(json_string_value(v), len) > REASON_MAX_CHARS ||
	    !kh_utf8_valid_text(json_string_value(v), len)) {
		kh_admin_error(resp, 400, "invalid_field",
		    "\"reason\" is required: 1-500 characters without control characters",
		    "\"reason\" は必須です (制御文字を含まない 1〜500 文字)。");
		return KH_ERR_INVALID;
	}
	*reason = json_string_value(v);
	return KH_OK;
}

void
kh_admin_users_revoke_sessions(struct kh_req *req, struct kh_resp *resp, const char *uid)
{
	json_t *in = NULL, *body;
	const char *reason;
	long count = 0;
	char cnt[24];

	if (kh_admin_uid_ok_or_respond(resp, uid) != KH_OK)
		return;
	if (kh_admin_read_json_or_respond(req, resp, &in) != KH_OK)
		return;
	if (kh_admin_reason_or_respond(resp, in, &reason) != KH_OK)
		goto out;
	/* No directory check: a user removed from the directory is exactly
	 * the one whose sessions must go. */
	if (kh_session_revoke_user(req->app->store, uid, &count) != KH_OK ||
	    kh_oidc_user_revoke(req->app, uid) != KH_OK) {
		unavailable(resp, "The session store (Redis)", "セッションストア (Redis) ");
		goto out;
	}
	snprintf(cnt, sizeof(cnt), "%ld", count);
	kh_audit("helpdesk.revoke_sessions", "rid", req->rid, "token", kh_admin_caller(req), "ip",
	    req->client_ip, "user", uid, "reason", reason, "count", cnt, NULL);
	body = json_object();
	json_object_set_new(body, "user", jstr(uid));
	json_object_set_new(body, "revoked", json_integer(count));
	kh_admin_json(resp, 200, body);
out:
	json_decref(in);
}
