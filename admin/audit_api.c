/* GET /admin/api/v1/audit[?user=UID][&count=N]: the newest audit events,
 * newest first, from the Redis stream (sessions/audit.h); with user, from
 * that user's stream. count 1..1000, default 100. Helpdesk or admin. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "common/errors.h"
#include "common/str.h"
#include "connectors/connector.h"
#include "idp/idp.h"
#include "sessions/audit.h"

#define AUDIT_COUNT_DEFAULT 100

static void
bad_param(struct kh_resp *resp, const char *en, const char *ja)
{
	kh_admin_error(resp, 400, "bad_request", en, ja);
}

/* Stored values are UTF-8 as logged; anything else is shown with '?' for
 * each non-ASCII byte rather than dropped. */
static json_t *
jvalue(const char *s)
{
	json_t *v;
	char *c;
	size_t i;

	if ((v = json_string(s)) != NULL)
		return v;
	if ((c = kh_strdup(s)) == NULL)
		return json_string("");
	for (i = 0; c[i] != '\0'; i++)
		if ((unsigned char)c[i] >= 0x80)
			c[i] = '?';
	v = json_string(c);
	free(c);
	return v != NULL ? v : json_string("");
}

void
kh_admin_audit_list(struct kh_req *req, struct kh_resp *resp)
{
	struct kh_audit_entry *e = NULL;
	const char *user, *cs;
	size_t n = 0, i, j, ulen = 0;
	long count = AUDIT_COUNT_DEFAULT;
	json_t *body, *events, *o;
	int r;

	if (kh_param_count(&req->query, "user") > 1 || kh_param_count(&req->query, "count") > 1) {
		bad_param(resp, "Repeated parameter.", "パラメーターが重複しています。");
		return;
	}
	user = kh_param_get(&req->query, "user", &ulen);
	if (user != NULL &&
	    (ulen == 0 || ulen > KH_USERNAME_MAX || !kh_utf8_valid_text(user, ulen))) {
		bad_param(resp, "Invalid user name.", "ユーザー名が不正です。");
		return;
	}
	if ((cs = kh_param_get(&req->query, "count", NULL)) != NULL &&
	    kh_parse_long(cs, 1, KH_AUDIT_READ_MAX, &count) != KH_OK) {
		bad_param(
		    resp, "\"count\" must be 1-1000.", "\"count\" は 1〜1000 で指定してください。");
		return;
	}
	if ((r = kh_audit_read(req->app->store, user, count, &e, &n)) != KH_OK) {
		if (r == KH_ERR_INVALID || r == KH_ERR_TOO_LARGE)
			bad_param(resp, "Invalid user name.", "ユーザー名が不正です。");
		else
			kh_admin_error(resp, 503, "unavailable",
			    "The audit store (Redis) cannot be reached.",
			    "監査ログ (Redis) に接続できません。");
		return;
	}
	events = json_array();
	for (i = 0; i < n; i++) {
		o = json_object();
		json_object_set_new(o, "id", jvalue(e[i].id));
		for (j = 0; j < e[i].nkv; j++)
			if (json_object_get(o, e[i].kv[2 * j]) == NULL)
				json_object_set_new(o, e[i].kv[2 * j], jvalue(e[i].kv[2 * j + 1]));
		json_array_append_new(events, o);
	}
	kh_audit_entries_free(e, n);
	body = json_object();
	json_object_set_new(body, "events", events);
	json_object_set_new(body, "user", user != NULL ? jvalue(user) : json_null());
	kh_admin_json(resp, 200, body);
}
