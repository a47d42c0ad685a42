/* Generic app endpoints of the admin API (list, show, delete) and the
 * helpers the SAML and OIDC owners use to check and store app documents. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/admin.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/idp.h"
#include "idp/policy.h"
#include "sessions/registry.h"

#define APP_NAME_MAX 200
#define APP_GROUPS_MAX 256
#define APP_GROUP_MAX 256

static void
unavailable(struct kh_resp *resp)
{
	kh_admin_error(resp, 503, "unavailable", "The registry (Redis) cannot be reached.",
	    "レジストリ (Redis) に接続できません。");
}

static void
store_error(struct kh_resp *resp, int r)
{
	if (r == KH_ERR_NOT_FOUND)
		kh_admin_error(resp, 404, "not_found", "No such app.", "そのアプリはありません。");
	else if (r == KH_ERR_EXISTS)
		kh_admin_error(resp, 409, "exists", "An app with this id already exists.",
		    "この ID のアプリは既にあります。");
	else if (r == KH_ERR_TOO_LARGE)
		kh_admin_error(resp, 413, "too_large", "The app document is too large.",
		    "アプリの定義が大きすぎます。");
	else if (r == KH_ERR_INVALID)
		kh_admin_error(
		    resp, 400, "bad_request", "Invalid app id.", "アプリ ID が不正です。");
	else
		unavailable(resp);
}

static void
bad_field(struct kh_resp *resp, const char *en, const char *ja)
{
	kh_admin_error(resp, 400, "invalid_field", en, ja);
}

static int
utf8_valid(const char *s, size_t n)
{
	/* jansson only holds valid UTF-8; refuse control characters too. */
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int
kh_admin_app_common_or_respond(
    struct kh_req *req, struct kh_resp *resp, json_t *doc, const char *protocol)
{
	json_t *v, *g;
	const char *s;
	size_t i;

	v = json_object_get(doc, "id");
	if (!json_is_string(v) || !kh_registry_id_valid(json_string_value(v))) {
		bad_field(resp, "\"id\" must be 1-128 characters of A-Z a-z 0-9 . _ -",
		    "\"id\" は英数字と . _ - の 1〜128 文字で指定してください。");
		return KH_ERR_INVALID;
	}
	v = json_object_get(doc, "name");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > APP_NAME_MAX ||
	    !utf8_valid(json_string_value(v), json_string_length(v))) {
		bad_field(resp,
		    "\"name\" must be a string of 1-200 bytes without control characters",
		    "\"name\" は制御文字を含まない 1〜200 バイトの文字列で指定してください。");
		return KH_ERR_INVALID;
	}
	v = json_object_get(doc, "protocol");
	if (v == NULL)
		json_object_set_new(doc, "protocol", json_string(protocol));
	else if (!json_is_string(v) || strcmp(json_string_value(v), protocol) != 0) {
		bad_field(resp, "\"protocol\" does not match this endpoint",
		    "\"protocol\" がこのエンドポイントと一致しません。");
		return KH_ERR_INVALID;
	}
	v = json_object_get(doc, "enabled");
	if (v == NULL)
		json_object_set_new(doc, "enabled", json_true());
	else if (!json_is_boolean(v)) {
		bad_field(resp, "\"enabled\" must be true or false",
		    "\"enabled\" は true か false で指定してください。");
		return KH_ERR_INVALID;
	}
	v = json_object_get(doc, "groups");
	if (v == NULL)
		json_object_set_new(doc, "groups", json_array());
	else {
		if (!json_is_array(v) || json_array_size(v) > APP_GROUPS_MAX) {
			bad_field(resp, "\"groups\" must be an array of at most 256 group names",
			    "\"groups\" は 256 個までのグループ名の配列で指定してください。");
			return KH_ERR_INVALID;
		}
		json_array_foreach(v, i, g)
		{
			if (!json_is_string(g) || json_string_length(g) == 0 ||
			    json_string_length(g) > APP_GROUP_MAX ||
			    !utf8_valid(json_string_value(g), json_string_length(g))) {
				bad_field(resp,
				    "every group in \"groups\" must be a non-empty name",
				    "\"groups\" の各要素は空でないグループ名にしてください。");
				return KH_ERR_INVALID;
			}
		}
	}
	v = json_object_get(doc, "category");
	if (v == NULL)
		json_object_set_new(doc, "category", json_string("general"));
	else if (!json_is_string(v) ||
	    (strcmp((s = json_string_value(v)), "communication") != 0 &&
		strcmp(s, "general") != 0)) {
		bad_field(resp, "\"category\" must be \"communication\" or \"general\"",
		    "\"category\" は \"communication\" か \"general\" で指定してください。");
		return KH_ERR_INVALID;
	}
	/* The access policy (idp/policy.h): a name of the loaded policy
	 * document; null or absent = the category's default. */
	v = json_object_get(doc, "policy");
	if (json_is_null(v))
		json_object_del(doc, "policy");
	else if (v != NULL &&
	    (!json_is_string(v) || !kh_policy_exists(req->app->policy, json_string_value(v)))) {
		bad_field(resp,
		    "\"policy\" must name a policy of the policy document ([policy] file)",
		    "\"policy\" にはポリシー文書 ([policy] file) にあるポリシー名を指定してください。");
		return KH_ERR_INVALID;
	}
	return KH_OK;
}

static void
iso_now(char out[32])
{
	struct tm tm;
	time_t t = time(NULL);

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
kh_admin_app_load_or_respond(struct kh_req *req, struct kh_resp *resp, const char *id, json_t **doc)
{
	char *s = NULL;
	int r;

	*doc = NULL;
	if (!kh_registry_id_valid(id)) {
		store_error(resp, KH_ERR_NOT_FOUND);
		return KH_ERR_NOT_FOUND;
	}
	if ((r = kh_registry_get(req->app->store, id, &s)) != KH_OK) {
		store_error(resp, r);
		return r;
	}
	*doc = json_loads(s, 0, NULL);
	free(s);
	if (*doc == NULL || !json_is_object(*doc)) {
		json_decref(*doc);
		*doc = NULL;
		kh_warn(
		    "admin.app", "id", id, "error", "stored document is not a JSON object", NULL);
		kh_admin_error(resp, 500, "server_error", "The stored app document is corrupt.",
		    "保存されているアプリの定義が壊れています。");
		return KH_ERR_INVALID;
	}
	return KH_OK;
}

int
kh_admin_app_save_or_respond(
    struct kh_req *req, struct kh_resp *resp, json_t *doc, int create, long long *version)
{
	json_t *old = NULL, *v;
	char now[32], *s = NULL;
	const char *id;
	int r;

	*version = 0;
	v = json_object_get(doc, "protocol");
	if (!json_is_string(v)) {
		bad_field(resp, "\"protocol\" is required", "\"protocol\" が必要です。");
		return KH_ERR_INVALID;
	}
	if ((r = kh_admin_app_common_or_respond(req, resp, doc, json_string_value(v))) != KH_OK)
		return r;
	id = json_string_value(json_object_get(doc, "id"));
	iso_now(now);
	if (!create) {
		if ((r = kh_admin_app_load_or_respond(req, resp, id, &old)) != KH_OK)
			return r;
		v = json_object_get(old, "protocol");
		if (!json_is_string(v) ||
		    strcmp(json_string_value(v),
			json_string_value(json_object_get(doc, "protocol"))) != 0) {
			json_decref(old);
			kh_admin_error(resp, 409, "protocol_mismatch",
			    "An app cannot change its protocol; remove it and add it again.",
			    "アプリのプロトコルは変更できません。削除してから追加し直してください。");
			return KH_ERR_EXISTS;
		}
		v = json_object_get(old, "created");
		json_object_set_new(
		    doc, "created", json_string(json_is_string(v) ? json_string_value(v) : now));
		json_decref(old);
	} else
		json_object_set_new(doc, "created", json_string(now));
	json_object_set_new(doc, "updated", json_string(now));
	if ((s = json_dumps(doc, JSON_COMPACT)) == NULL) {
		kh_admin_error(resp, 500, "server_error", "Internal error.", "内部エラーです。");
		return KH_ERR_NOMEM;
	}
	/* An update replaces the document: the registry only checks the id
	 * exists at write time for create (create_only). */
	r = kh_registry_put(req->app->store, id, s, create);
	free(s);
	if (r != KH_OK) {
		store_error(resp, r);
		return r;
	}
	if (kh_registry_version(req->app->store, version) != KH_OK)
		*version = 0;
	return KH_OK;
}

/* The fields shown by `app list`. */
static json_t *
summary(json_t *doc)
{
	static const char *const keys[] = { "id", "name", "protocol", "enabled", "category",
		"policy", "groups", "created", "updated" };
	json_t *o = json_object(), *v;
	size_t i;

	for (i = 0; o != NULL && i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((v = json_object_get(doc, keys[i])) != NULL)
			json_object_set(o, keys[i], v);
	return o;
}

static int
by_id(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a, "id"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b, "id"));

	return strcmp(x ? x : "", y ? y : "");
}

void
kh_admin_apps_list(struct kh_req *req, struct kh_resp *resp)
{
	char **docs = NULL;
	long long version = 0;
	json_t **items = NULL, *arr, *d;
	size_t n = 0, i;
	int r;

	if ((r = kh_registry_list(req->app->store, &docs, &version)) != KH_OK) {
		store_error(resp, r == KH_ERR_NOT_FOUND ? KH_ERR_UNAVAILABLE : r);
		return;
	}
	while (docs[n] != NULL)
		n++;
	if ((items = calloc(n + 1, sizeof(*items))) == NULL) {
		kh_registry_list_free(docs);
		kh_admin_error(resp, 500, "server_error", "Internal error.", "内部エラーです。");
		return;
	}
	for (i = 0; i < n; i++) {
		if ((d = json_loads(docs[i], 0, NULL)) == NULL || !json_is_object(d)) {
			json_decref(d);
			kh_warn(
			    "admin.app", "error", "a stored document is not a JSON object", NULL);
			items[i] = json_pack("{s:s}", "id", "?");
			continue;
		}
		items[i] = summary(d);
		json_decref(d);
	}
	kh_registry_list_free(docs);
	qsort(items, n, sizeof(*items), by_id);
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	free(items);
	kh_admin_json(
	    resp, 200, json_pack("{s:o, s:I}", "apps", arr, "version", (json_int_t)version));
}

void
kh_admin_apps_show(struct kh_req *req, struct kh_resp *resp, const char *id)
{
	json_t *doc = NULL;
	long long version = 0;

	if (kh_admin_app_load_or_respond(req, resp, id, &doc) != KH_OK)
		return;
	if (kh_registry_version(req->app->store, &version) != KH_OK)
		version = 0;
	kh_admin_json(
	    resp, 200, json_pack("{s:o, s:I}", "app", doc, "version", (json_int_t)version));
}

void
kh_admin_apps_delete(struct kh_req *req, struct kh_resp *resp, const char *id)
{
	long long version = 0;
	int r;

	if (!kh_registry_id_valid(id)) {
		store_error(resp, KH_ERR_NOT_FOUND);
		return;
	}
	if ((r = kh_registry_delete(req->app->store, id)) != KH_OK) {
		store_error(resp, r);
		return;
	}
	if (kh_registry_version(req->app->store, &version) != KH_OK)
		version = 0;
	kh_info("admin.app.deleted", "id", id, "token", kh_admin_caller(req), NULL);
	kh_admin_json(
	    resp, 200, json_pack("{s:s, s:I}", "deleted", id, "version", (json_int_t)version));
}

void
kh_admin_policies_list(struct kh_req *req, struct kh_resp *resp)
{
	const struct kh_policy_set *ps = req->app->policy;
	const char *const *names = kh_policy_names(ps);
	struct kh_policy_ctx ctx = { "", "", KH_DEVICE_UNMANAGED };
	struct kh_policy_result def;
	json_t *body = json_object(), *a = json_array();
	size_t i;

	/* The default's name: what an app naming no policy is evaluated by. */
	kh_policy_eval(ps, NULL, &ctx, &def);
	for (i = 0; names != NULL && names[i] != NULL; i++)
		json_array_append_new(a, json_string(names[i]));
	json_object_set_new(body, "policies", a);
	json_object_set_new(body, "default_policy", json_string(def.policy ? def.policy : ""));
	json_object_set_new(body, "source",
	    json_string(*req->app->cfg->policy_file ? req->app->cfg->policy_file : "built-in"));
	kh_admin_json(resp, 200, body);
}
