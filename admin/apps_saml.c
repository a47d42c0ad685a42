/* Admin API for SAML service providers (admin role; routed by admin/routes.c):
 *   POST /admin/api/v1/apps/saml   create
 *   PUT  /admin/api/v1/apps/{id}   update (a SAML app; fields given replace
 *                                  the stored ones, "saml" key by key)
 *
 * Body: an app document, {"id","name","enabled","groups","category",
 * "saml":{metadata (XML) | metadata_url (https://, or http:// on loopback;
 * fetched once here, bounded in size and time), entity_id (default: the
 * metadata's entityID; must match it), nameid_format
 * (persistent|transient|email|unspecified), nameid_attribute (for
 * unspecified), attributes:[{source,name,name_format}], sign_response,
 * sign_assertion, encrypt_assertion, require_signed_requests}}.
 * The metadata must be a SAML 2.0 EntityDescriptor with an SPSSODescriptor
 * and an HTTP-POST AssertionConsumerService, and lasso must accept it. */
#include <curl/curl.h>
#include <lasso/lasso.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#include "admin/admin.h"
#include "common/buf.h"
#include "common/errors.h"
#include "common/str.h"
#include "idp/apps.h"
#include "idp/idp.h"
#include "idp/saml/saml_int.h"

#define MD_MAX (256 * 1024)
#define MD_FETCH_SECONDS 10L
#define NS_MD "urn:oasis:names:tc:SAML:2.0:metadata"

static void
bad(struct kh_resp *resp, const char *en, const char *ja)
{
	kh_admin_error(resp, 400, "invalid_saml", en, ja);
}

static size_t
fetch_cb(char *p, size_t sz, size_t n, void *ud)
{
	struct kh_buf *b = ud;

	return kh_buf_append(b, p, sz * n) == KH_OK ? sz * n : 0;
}

static int
url_allowed(const char *u)
{
	if (kh_startswith(u, "https://"))
		return 1;
	return kh_startswith(u, "http://127.0.0.1:") || kh_startswith(u, "http://127.0.0.1/") ||
	    kh_startswith(u, "http://[::1]") || kh_startswith(u, "http://localhost:") ||
	    kh_startswith(u, "http://localhost/");
}

/* GET url into *out (NUL-terminated, free()). https, or http on loopback;
 * no redirects; at most MD_MAX bytes and MD_FETCH_SECONDS. */
static int
fetch(const char *url, char **out, const char **why)
{
	struct kh_buf b;
	CURL *c;
	long code = 0;
	CURLcode cr;

	*out = NULL;
	if (!url_allowed(url) || strlen(url) > 2048) {
		*why = "metadata_url must be https:// (or http:// on loopback)";
		return KH_ERR_INVALID;
	}
	if ((c = curl_easy_init()) == NULL)
		return KH_ERR_NOMEM;
	kh_buf_init(&b, MD_MAX);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, MD_FETCH_SECONDS);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)MD_MAX);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (cr != CURLE_OK || code != 200) {
		kh_buf_free(&b);
		*why = cr == CURLE_WRITE_ERROR || cr == CURLE_FILESIZE_EXCEEDED
		    ? "metadata at metadata_url is too large"
		    : "cannot fetch metadata_url";
		return KH_ERR_UNAVAILABLE;
	}
	*out = kh_buf_steal(&b, NULL);
	kh_buf_free(&b);
	return *out ? KH_OK : KH_ERR_INVALID;
}

static xmlNodePtr
md_child(xmlNodePtr n, const char *name)
{
	for (n = n ? n->children : NULL; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE && n->ns != NULL &&
		    xmlStrcmp(n->ns->href, BAD_CAST NS_MD) == 0 &&
		    xmlStrcmp(n->name, BAD_CAST name) == 0)
			return n;
	return NULL;
}

/* Checks SP metadata without DTDs; *entity (free()) = its entityID. */
static int
check_metadata(const char *xml, char **entity, const char **why)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root, sp, acs;
	xmlChar *eid = NULL, *binding;
	LassoProvider *p = NULL;
	int post = 0, r = KH_ERR_INVALID;

	*entity = NULL;
	*why = "metadata is not a SAML 2.0 EntityDescriptor";
	if (strlen(xml) > MD_MAX) {
		*why = "metadata too large";
		return r;
	}
	if (strstr(xml, "<!DOCTYPE") != NULL || strstr(xml, "<!ENTITY") != NULL) {
		*why = "metadata must not contain a DTD";
		return r;
	}
	doc = xmlReadMemory(xml, (int)strlen(xml), "sp.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL || root->ns == NULL ||
	    xmlStrcmp(root->ns->href, BAD_CAST NS_MD) != 0 ||
	    xmlStrcmp(root->name, BAD_CAST "EntityDescriptor") != 0 ||
	    (eid = xmlGetNoNsProp(root, BAD_CAST "entityID")) == NULL || *eid == '\0')
		goto out;
	if ((sp = md_child(root, "SPSSODescriptor")) == NULL) {
		*why = "metadata has no SPSSODescriptor";
		goto out;
	}
	for (acs = sp->children; acs != NULL; acs = acs->next) {
		if (acs->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(acs->name, BAD_CAST "AssertionConsumerService") != 0)
			continue;
		binding = xmlGetNoNsProp(acs, BAD_CAST "Binding");
		if (binding != NULL &&
		    xmlStrcmp(binding, BAD_CAST LASSO_SAML2_METADATA_BINDING_POST) == 0)
			post = 1;
		xmlFree(binding);
	}
	if (!post) {
		*why = "metadata has no HTTP-POST AssertionConsumerService";
		goto out;
	}
	p = lasso_provider_new_from_buffer(LASSO_PROVIDER_ROLE_SP, xml, NULL, NULL);
	if (p == NULL) {
		*why = "lasso refused the metadata";
		goto out;
	}
	*entity = strdup((const char *)eid);
	r = *entity ? KH_OK : KH_ERR_NOMEM;
out:
	if (p != NULL)
		g_object_unref(p);
	xmlFree(eid);
	if (doc != NULL)
		xmlFreeDoc(doc);
	return r;
}

static int
is_bool_or_absent(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return v == NULL || json_is_boolean(v);
}

/* Validates and normalises doc["saml"]; 400 answered on failure. */
static int
saml_check_or_respond(struct kh_req *req, struct kh_resp *resp, json_t *doc)
{
	json_t *s = json_object_get(doc, "saml"), *attrs, *it;
	const char *md, *url, *eid, *fmt, *why = "invalid metadata";
	char *fetched = NULL, *entity = NULL;
	struct kh_apps_view *v;
	const struct kh_saml_sp *other;
	size_t i;
	int r;

	if (!json_is_object(s)) {
		bad(resp, "\"saml\" must be an object.",
		    "\"saml\" はオブジェクトでなければなりません。");
		return KH_ERR_INVALID;
	}
	md = json_string_value(json_object_get(s, "metadata"));
	url = json_string_value(json_object_get(s, "metadata_url"));
	if (md == NULL && url == NULL) {
		bad(resp, "saml.metadata or saml.metadata_url is required.",
		    "saml.metadata か saml.metadata_url が必要です。");
		return KH_ERR_INVALID;
	}
	if (md == NULL) {
		if ((r = fetch(url, &fetched, &why)) != KH_OK) {
			kh_admin_error(resp, r == KH_ERR_INVALID ? 400 : 502, "metadata_fetch", why,
			    "メタデータを取得できませんでした。");
			return r;
		}
		json_object_set_new(s, "metadata", json_string(fetched));
		free(fetched);
		md = json_string_value(json_object_get(s, "metadata"));
		if (md == NULL) {
			bad(resp, "metadata at metadata_url is not UTF-8 text.",
			    "メタデータが UTF-8 のテキストではありません。");
			return KH_ERR_INVALID;
		}
	}
	if (check_metadata(md, &entity, &why) != KH_OK) {
		bad(resp, why, "SP メタデータが正しくありません。");
		return KH_ERR_INVALID;
	}
	eid = json_string_value(json_object_get(s, "entity_id"));
	if (eid != NULL && strcmp(eid, entity) != 0) {
		free(entity);
		bad(resp, "saml.entity_id differs from the metadata's entityID.",
		    "saml.entity_id がメタデータの entityID と一致しません。");
		return KH_ERR_INVALID;
	}
	json_object_set_new(s, "entity_id", json_string(entity));
	v = kh_apps_acquire(req->app);
	other = kh_saml_sp_find(kh_saml_view_of(v), entity);
	r = other != NULL &&
	    strcmp(other->app_id, json_string_value(json_object_get(doc, "id"))) != 0;
	kh_apps_release(req->app, v);
	free(entity);
	if (r) {
		kh_admin_error(resp, 409, "entity_id_taken",
		    "Another app already uses this entityID.",
		    "この entityID は別のアプリで使われています。");
		return KH_ERR_EXISTS;
	}
	fmt = json_string_value(json_object_get(s, "nameid_format"));
	if (fmt == NULL)
		json_object_set_new(s, "nameid_format", json_string(fmt = "persistent"));
	if (strcmp(fmt, "persistent") != 0 && strcmp(fmt, "transient") != 0 &&
	    strcmp(fmt, "email") != 0 && strcmp(fmt, "unspecified") != 0) {
		bad(resp, "saml.nameid_format must be persistent, transient, email or unspecified.",
		    "saml.nameid_format は persistent / transient / email / unspecified のいずれかです。");
		return KH_ERR_INVALID;
	}
	if (strcmp(fmt, "unspecified") == 0) {
		const char *na = json_string_value(json_object_get(s, "nameid_attribute"));
		if (na == NULL)
			json_object_set_new(s, "nameid_attribute", json_string(na = "uid"));
		if (!kh_saml_attr_source_valid(na)) {
			bad(resp, "saml.nameid_attribute is not a known user attribute.",
			    "saml.nameid_attribute が不明な属性です。");
			return KH_ERR_INVALID;
		}
	}
	attrs = json_object_get(s, "attributes");
	if (attrs == NULL)
		json_object_set_new(s, "attributes", attrs = json_array());
	if (!json_is_array(attrs) || json_array_size(attrs) > KH_SAML_ATTRS_MAX) {
		bad(resp, "saml.attributes must be an array (at most 32).",
		    "saml.attributes は配列 (32 個まで) です。");
		return KH_ERR_INVALID;
	}
	json_array_foreach(attrs, i, it)
	{
		const char *src = json_string_value(json_object_get(it, "source"));
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *nf = json_string_value(json_object_get(it, "name_format"));
		if (!json_is_object(it) || !kh_saml_attr_source_valid(src) ||
		    (name != NULL && (*name == '\0' || strlen(name) > KH_SAML_NAME_MAX)) ||
		    (json_object_get(it, "name_format") != NULL && nf == NULL)) {
			bad(resp,
			    "each attribute needs a known source (uid, mail, display_name, groups, "
			    "family_name, given_name, employee_number, department, title) and an "
			    "optional name and name_format.",
			    "属性の source が不明か、name / name_format が正しくありません。");
			return KH_ERR_INVALID;
		}
	}
	if (!is_bool_or_absent(s, "sign_response") || !is_bool_or_absent(s, "sign_assertion") ||
	    !is_bool_or_absent(s, "encrypt_assertion") ||
	    !is_bool_or_absent(s, "require_signed_requests")) {
		bad(resp,
		    "sign_response, sign_assertion, encrypt_assertion and "
		    "require_signed_requests are booleans.",
		    "sign_* / encrypt_assertion / require_signed_requests は真偽値です。");
		return KH_ERR_INVALID;
	}
	if (json_is_false(json_object_get(s, "sign_response")) &&
	    json_is_false(json_object_get(s, "sign_assertion"))) {
		bad(resp, "at least one of sign_response and sign_assertion must be true.",
		    "sign_response と sign_assertion の少なくとも一方を true にしてください。");
		return KH_ERR_INVALID;
	}
	json_object_del(s, "metadata_url_fetched");
	return KH_OK;
}

static void
answer(struct kh_req *req, struct kh_resp *resp, int status, json_t *doc, long long version)
{
	kh_apps_refresh(req->app); /* visible on this daemon at once */
	kh_admin_json(
	    resp, status, json_pack("{s:O,s:I}", "app", doc, "version", (json_int_t)version));
}

void
kh_admin_apps_saml_create(struct kh_req *req, struct kh_resp *resp)
{
	json_t *doc = NULL;
	long long version = 0;

	if (kh_admin_read_json_or_respond(req, resp, &doc) != KH_OK)
		return;
	if (kh_saml_global(req->app) == NULL) {
		kh_admin_error(resp, 409, "saml_disabled", "SAML is not configured ([keys]).",
		    "SAML が設定されていません ([keys])。");
		goto out;
	}
	if (kh_admin_app_common_or_respond(req, resp, doc, "saml") != KH_OK ||
	    saml_check_or_respond(req, resp, doc) != KH_OK ||
	    kh_admin_app_save_or_respond(req, resp, doc, 1, &version) != KH_OK)
		goto out;
	answer(req, resp, 201, doc, version);
out:
	json_decref(doc);
}

void
kh_admin_apps_saml_update(struct kh_req *req, struct kh_resp *resp, const char *id)
{
	json_t *body = NULL, *doc = NULL, *bs, *ds;
	const char *k;
	json_t *v;
	long long version = 0;

	if (kh_admin_read_json_or_respond(req, resp, &body) != KH_OK)
		return;
	if (kh_admin_app_load_or_respond(req, resp, id, &doc) != KH_OK)
		goto out;
	bs = json_object_get(body, "saml");
	ds = json_object_get(doc, "saml");
	json_object_foreach(body, k, v)
	{
		if (strcmp(k, "saml") != 0 && strcmp(k, "id") != 0)
			json_object_set(doc, k, v);
	}
	if (json_is_object(bs) && json_is_object(ds)) {
		/* new metadata_url: fetch again; new metadata: drop the old URL */
		if (json_object_get(bs, "metadata_url") != NULL)
			json_object_del(ds, "metadata");
		json_object_update(ds, bs);
	} else if (bs != NULL)
		json_object_set(doc, "saml", bs);
	json_object_set_new(doc, "id", json_string(id));
	if (kh_admin_app_common_or_respond(req, resp, doc, "saml") != KH_OK ||
	    saml_check_or_respond(req, resp, doc) != KH_OK ||
	    kh_admin_app_save_or_respond(req, resp, doc, 0, &version) != KH_OK)
		goto out;
	answer(req, resp, 200, doc, version);
out:
	json_decref(body);
	json_decref(doc);
}
