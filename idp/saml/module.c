/* Module state: lasso initialisation, keys derived for NameIDs and session
 * indexes, and the per-registry-version view (one fresh LassoServer with
 * every enabled SP). */
#include <jansson.h>
#include <lasso/key.h>
#include <lasso/lasso.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs/keys.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/apps.h"
#include "idp/idp.h"
#include "idp/saml/saml.h"
#include "idp/saml/saml_int.h"

#define AUTOSUBMIT_JS "document.forms[0].submit();"

static int lasso_ready;
static int fallback_tried;

struct kh_saml_global *
kh_saml_global(const struct kh_idp *app)
{
	return app->saml_global;
}

static void
lasso_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	char msg[400];

	(void)domain;
	(void)data;
	kh_strlcpy(msg, message ? message : "", sizeof(msg));
	msg[strcspn(msg, "\r\n")] = '\0';
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		kh_warn("saml.lasso", "msg", msg, NULL);
	else if (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE))
		kh_info("saml.lasso", "msg", msg, NULL);
	else
		kh_debug("saml.lasso", "msg", msg, NULL);
}

static int
derive_key(const struct kh_config *cfg, const char *purpose, unsigned char out[32])
{
	return kh_hmac_sha256(
	    cfg->session_key, cfg->session_key_len, purpose, strlen(purpose), out);
}

int
kh_saml_global_init(struct kh_idp *app, char **errmsg)
{
	struct kh_saml_global *g = NULL;
	unsigned char digest[32];
	unsigned int dlen = 0;
	int r = KH_ERR_INTERNAL;

	*errmsg = NULL;
	fallback_tried = 1;
	if (!lasso_ready) {
		if (lasso_init() != 0) {
			*errmsg = strdup("lasso_init failed");
			return KH_ERR_INTERNAL;
		}
		g_log_set_handler("Lasso",
		    G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION, lasso_log, NULL);
		/* Session dumps keep NameID + SessionIndex per SP, not whole
		 * assertions: RequestedAuthnContext is matched by this module. */
		lasso_set_flag("thin-sessions");
		lasso_ready = 1;
	}
	if (app->keys == NULL || kh_keys_saml_key_pem(app->keys) == NULL ||
	    kh_keys_saml_cert_pem(app->keys) == NULL) {
		kh_info("saml.disabled", "reason", "no [keys] rsa_key/rsa_cert", NULL);
		return KH_OK;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return KH_ERR_NOMEM;
	if ((r = derive_key(app->cfg, "kakehashi saml persistent nameid v1", g->nameid_key)) !=
		KH_OK ||
	    (r = derive_key(app->cfg, "kakehashi saml session index v1", g->index_key)) != KH_OK)
		goto out;
	if (EVP_Digest(AUTOSUBMIT_JS, strlen(AUTOSUBMIT_JS), digest, &dlen, EVP_sha256(), NULL) !=
	    1) {
		r = KH_ERR_CRYPTO;
		goto out;
	}
	memcpy(g->script_csp, "'sha256-", 8);
	EVP_EncodeBlock((unsigned char *)g->script_csp + 8, digest, (int)dlen);
	g->script_csp[8 + 44] = '\'';
	g->script_csp[8 + 44 + 1] = '\0';
	if ((r = kh_saml_metadata_render(app, g, errmsg)) != KH_OK)
		goto out;
	app->saml_global = g;
	g = NULL;
	kh_info("saml.ready", "entity_id", app->cfg->saml_entity_id, NULL);
	r = KH_OK;
out:
	if (g != NULL) {
		free(g->metadata);
		free(g->metadata_unsigned);
		kh_freezero(g, sizeof(*g));
	}
	return r;
}

void
kh_saml_global_free(struct kh_idp *app)
{
	struct kh_saml_global *g = app->saml_global;

	if (g == NULL)
		return;
	free(g->metadata);
	free(g->metadata_unsigned);
	kh_freezero(g, sizeof(*g));
	app->saml_global = NULL;
	if (lasso_ready) {
		lasso_shutdown();
		lasso_ready = 0;
	}
}

/* ---- the view ---- */

static void
sp_clear(struct kh_saml_sp *sp)
{
	size_t i;

	free(sp->app_id);
	free(sp->name);
	free(sp->entity_id);
	free(sp->nameid_attribute);
	for (i = 0; i < sp->nattrs; i++) {
		free(sp->attrs[i].source);
		free(sp->attrs[i].name);
		free(sp->attrs[i].name_format);
	}
	for (i = 0; i < sp->ngroups; i++)
		free(sp->groups[i]);
	free(sp->groups);
	memset(sp, 0, sizeof(*sp));
}

static const char *
jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
jbool(json_t *o, const char *key, int dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *const attr_sources[] = { "uid", "mail", "display_name", "groups", "family_name",
	"given_name", "employee_number", "department", "title", NULL };

int
kh_saml_attr_source_valid(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && attr_sources[i] != NULL; i++)
		if (strcmp(s, attr_sources[i]) == 0)
			return 1;
	return 0;
}

/* Parses the "saml" part of a registry document. *why is a static reason. */
static int
sp_parse(const struct kh_app *a, struct kh_saml_sp *sp, const char **why)
{
	json_t *s = json_object_get(a->doc, "saml"), *attrs, *groups, *it;
	const char *fmt, *v;
	size_t i;

	*why = "invalid document";
	if (!json_is_object(s) || (v = jstr(s, "entity_id")) == NULL || *v == '\0' ||
	    jstr(s, "metadata") == NULL) {
		*why = "saml.entity_id and saml.metadata are required";
		return KH_ERR_INVALID;
	}
	if ((sp->app_id = strdup(a->id)) == NULL || (sp->entity_id = strdup(v)) == NULL ||
	    (sp->name = strdup(a->name ? a->name : a->id)) == NULL)
		return KH_ERR_NOMEM;
	fmt = jstr(s, "nameid_format");
	if (fmt == NULL || strcmp(fmt, "persistent") == 0 ||
	    strcmp(fmt, LASSO_SAML2_NAME_IDENTIFIER_FORMAT_PERSISTENT) == 0)
		sp->nameid = KH_NAMEID_PERSISTENT;
	else if (strcmp(fmt, "transient") == 0 ||
	    strcmp(fmt, LASSO_SAML2_NAME_IDENTIFIER_FORMAT_TRANSIENT) == 0)
		sp->nameid = KH_NAMEID_TRANSIENT;
	else if (strcmp(fmt, "email") == 0 ||
	    strcmp(fmt, LASSO_SAML2_NAME_IDENTIFIER_FORMAT_EMAIL) == 0)
		sp->nameid = KH_NAMEID_EMAIL;
	else if (strcmp(fmt, "unspecified") == 0 ||
	    strcmp(fmt, LASSO_SAML2_NAME_IDENTIFIER_FORMAT_UNSPECIFIED) == 0)
		sp->nameid = KH_NAMEID_UNSPECIFIED;
	else {
		*why = "unknown saml.nameid_format";
		return KH_ERR_INVALID;
	}
	if (sp->nameid == KH_NAMEID_UNSPECIFIED) {
		v = jstr(s, "nameid_attribute");
		if (!kh_saml_attr_source_valid(v ? v : "uid")) {
			*why = "unknown saml.nameid_attribute";
			return KH_ERR_INVALID;
		}
		if ((sp->nameid_attribute = strdup(v ? v : "uid")) == NULL)
			return KH_ERR_NOMEM;
	}
	attrs = json_object_get(s, "attributes");
	if (attrs != NULL && !json_is_array(attrs)) {
		*why = "saml.attributes must be an array";
		return KH_ERR_INVALID;
	}
	json_array_foreach(attrs, i, it)
	{
		const char *src = jstr(it, "source"), *name = jstr(it, "name"),
			   *nf = jstr(it, "name_format");
		struct kh_saml_attr *at;

		if (sp->nattrs >= KH_SAML_ATTRS_MAX) {
			*why = "too many saml.attributes";
			return KH_ERR_INVALID;
		}
		if (!kh_saml_attr_source_valid(src)) {
			*why = "unknown attribute source";
			return KH_ERR_INVALID;
		}
		at = &sp->attrs[sp->nattrs];
		if (name == NULL || *name == '\0')
			name = src;
		if (nf == NULL || *nf == '\0' || strcmp(nf, "basic") == 0)
			nf = LASSO_SAML2_ATTRIBUTE_NAME_FORMAT_BASIC;
		else if (strcmp(nf, "uri") == 0)
			nf = LASSO_SAML2_ATTRIBUTE_NAME_FORMAT_URI;
		else if (strcmp(nf, "unspecified") == 0)
			nf = LASSO_SAML2_ATTRIBUTE_NAME_FORMAT_UNSPECIFIED;
		if ((at->source = strdup(src)) == NULL || (at->name = strdup(name)) == NULL ||
		    (at->name_format = strdup(nf)) == NULL)
			return KH_ERR_NOMEM;
		sp->nattrs++;
	}
	groups = json_object_get(a->doc, "groups");
	if (json_is_array(groups) && json_array_size(groups) > 0) {
		if ((sp->groups = calloc(json_array_size(groups), sizeof(char *))) == NULL)
			return KH_ERR_NOMEM;
		json_array_foreach(groups, i, it)
		{
			if (!json_is_string(it))
				continue;
			if ((sp->groups[sp->ngroups] = strdup(json_string_value(it))) == NULL)
				return KH_ERR_NOMEM;
			sp->ngroups++;
		}
	}
	sp->sign_response = jbool(s, "sign_response", 0);
	sp->sign_assertion = jbool(s, "sign_assertion", 1);
	if (!sp->sign_response && !sp->sign_assertion)
		sp->sign_assertion = 1; /* never send an unsigned assertion */
	sp->encrypt_assertion = jbool(s, "encrypt_assertion", 0);
	sp->require_signed_requests = jbool(s, "require_signed_requests", 0);
	return KH_OK;
}

static int
provider_add(LassoServer *server, LassoKey *key, struct kh_saml_sp *sp, const char *metadata,
    const char **why)
{
	LassoProvider *p;
	char *v;

	if (lasso_server_get_provider(server, sp->entity_id) != NULL) {
		*why = "duplicate entity_id";
		return KH_ERR_EXISTS;
	}
	if (lasso_server_add_provider_from_buffer(
		server, LASSO_PROVIDER_ROLE_SP, metadata, NULL, NULL) != 0) {
		*why = "lasso refused the SP metadata";
		return KH_ERR_INVALID;
	}
	if ((p = lasso_server_get_provider(server, sp->entity_id)) == NULL) {
		*why = "metadata entityID differs from saml.entity_id";
		/* lasso added it under the metadata's entityID: the view
		 * being built is dropped by the caller. */
		return KH_ERR_INVALID;
	}
	v = lasso_provider_get_metadata_one_for_role(
	    p, LASSO_PROVIDER_ROLE_SP, "AuthnRequestsSigned");
	if (v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0))
		sp->require_signed_requests = 1;
	g_free(v);
	sp->has_slo = lasso_provider_get_first_http_method(LASSO_PROVIDER(server), p,
			  LASSO_MD_PROTOCOL_TYPE_SINGLE_LOGOUT) != LASSO_HTTP_METHOD_NONE;
	/* A parsed key per provider: lasso then duplicates the xmlsec key for
	 * each signature instead of decoding the PEM again (OpenSSL 3's
	 * decoders cost more than the RSA operation). */
	if (key != NULL && lasso_provider_set_server_signing_key(p, key) != 0) {
		*why = "cannot set the signing key";
		return KH_ERR_CRYPTO;
	}
	if (sp->encrypt_assertion) {
		lasso_provider_set_encryption_mode(p, LASSO_ENCRYPTION_MODE_ASSERTION);
		lasso_provider_set_encryption_sym_key_type(
		    p, LASSO_ENCRYPTION_SYM_KEY_TYPE_AES_256);
	}
	return KH_OK;
}

static LassoServer *
server_new(struct kh_idp *app)
{
	struct kh_saml_global *g = app->saml_global;
	LassoServer *s;

	s = lasso_server_new_from_buffers(g->metadata_unsigned, kh_keys_saml_key_pem(app->keys),
	    NULL, kh_keys_saml_cert_pem(app->keys));
	if (s != NULL)
		s->signature_method = LASSO_SIGNATURE_METHOD_RSA_SHA256;
	return s;
}

/* Lasso has no way to take a provider out again: an SP whose metadata is
 * refused is retried on a fresh server without it. */
static LassoServer *
server_build(struct kh_idp *app, struct kh_apps_view *v, struct kh_saml_view *sv)
{
	LassoServer *server;
	const char *why;
	size_t i;
	int r;

	LassoKey *key;
	const char *pem = kh_keys_saml_key_pem(app->keys);

	if ((server = server_new(app)) == NULL)
		return NULL;
	/* Without the certificate: duplicating its X509 data re-decodes it for
	 * every signature. SPs verify with the certificate in our metadata, so
	 * signatures carry no KeyInfo certificate. */
	key = lasso_key_new_for_signature_from_memory(
	    pem, strlen(pem), NULL, LASSO_SIGNATURE_METHOD_RSA_SHA256, NULL);
	if (key == NULL)
		kh_warn("saml.view", "error",
		    "cannot parse the signing key once; parsing per signature", NULL);
	for (i = 0; i < sv->nsps; i++) {
		const struct kh_app *a = kh_apps_find(v, sv->sps[i].app_id);
		json_t *s = a ? json_object_get(a->doc, "saml") : NULL;

		r = provider_add(server, key, &sv->sps[i], jstr(s, "metadata"), &why);
		if (r != KH_OK) {
			kh_warn("saml.sp_skipped", "app", sv->sps[i].app_id, "entity_id",
			    sv->sps[i].entity_id, "reason", why, NULL);
			sp_clear(&sv->sps[i]);
			memmove(
			    &sv->sps[i], &sv->sps[i + 1], (sv->nsps - i - 1) * sizeof(sv->sps[0]));
			sv->nsps--;
			lasso_server_destroy(server);
			if (key != NULL)
				g_object_unref(key);
			return server_build(app, v, sv);
		}
	}
	if (key != NULL)
		g_object_unref(key);
	return server;
}

int
kh_saml_view_build(struct kh_idp *app, struct kh_apps_view *v)
{
	struct kh_saml_view *sv = NULL;
	const char *why;
	size_t i;
	int r = KH_ERR_NOMEM;

	v->saml = NULL;
	if (app->saml_global == NULL && !fallback_tried) {
		/* idp/main.c should have called kh_saml_global_init before
		 * kh_apps_start; until it does, initialise on the first build
		 * (kh_apps_start runs it in the main thread). */
		char *err = NULL;
		fallback_tried = 1;
		kh_warn(
		    "saml.init_fallback", "reason", "kh_saml_global_init not called by main", NULL);
		if (kh_saml_global_init(app, &err) != KH_OK)
			kh_error("saml.init", "error", err ? err : "failed", NULL);
		free(err);
	}
	if (app->saml_global == NULL)
		return KH_OK;
	if ((sv = calloc(1, sizeof(*sv))) == NULL)
		goto out;
	if (v->napps > 0 && (sv->sps = calloc(v->napps, sizeof(*sv->sps))) == NULL)
		goto out;
	for (i = 0; i < v->napps; i++) {
		const struct kh_app *a = &v->apps[i];
		struct kh_saml_sp *sp = &sv->sps[sv->nsps];

		if (!a->enabled || a->protocol == NULL || strcmp(a->protocol, "saml") != 0)
			continue;
		if ((r = sp_parse(a, sp, &why)) != KH_OK) {
			kh_warn("saml.sp_skipped", "app", a->id, "reason", why, NULL);
			sp_clear(sp);
			if (r == KH_ERR_NOMEM)
				goto out;
			continue;
		}
		sv->nsps++;
	}
	if ((sv->server = server_build(app, v, sv)) == NULL) {
		kh_error("saml.view", "error", "cannot build the LassoServer", NULL);
		r = KH_ERR_INTERNAL;
		goto out;
	}
	{
		char n[24], ver[24];
		snprintf(n, sizeof(n), "%zu", sv->nsps);
		snprintf(ver, sizeof(ver), "%lld", v->version);
		kh_info("saml.view", "version", ver, "sps", n, NULL);
	}
	v->saml = sv;
	sv = NULL;
	r = KH_OK;
out:
	kh_saml_view_free(sv);
	return r;
}

void
kh_saml_view_free(void *p)
{
	struct kh_saml_view *sv = p;
	size_t i;

	if (sv == NULL)
		return;
	if (sv->server != NULL)
		lasso_server_destroy(sv->server);
	for (i = 0; i < sv->nsps; i++)
		sp_clear(&sv->sps[i]);
	free(sv->sps);
	free(sv);
}

struct kh_saml_view *
kh_saml_view_of(const struct kh_apps_view *v)
{
	return v != NULL ? v->saml : NULL;
}

const struct kh_saml_sp *
kh_saml_sp_find(const struct kh_saml_view *sv, const char *entity_id)
{
	size_t i;

	for (i = 0; sv != NULL && entity_id != NULL && i < sv->nsps; i++)
		if (strcmp(sv->sps[i].entity_id, entity_id) == 0)
			return &sv->sps[i];
	return NULL;
}
