/* OIDC clients: registry documents parsed once per view, module-wide keys,
 * the discovery document, subjects and session ids. */
#include <pthread.h>
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
#include "idp/oidc/net.h"
#include "idp/oidc/oidc.h"
#include "sessions/sessions.h"

#define CLIENT_ID_MAX 128
#define LIST_MAX 64
#define JWKS_URI_MAX_BYTES (64 * 1024)

static const char *const default_scopes[] = { "openid", "profile", "email", "offline_access" };
static const char *const known_scopes[] = { "openid", "profile", "email", "groups", "org",
	"offline_access" };

/* ---- module-wide state ------------------------------------------------- */

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;

static void
derive(const struct kh_config *cfg, const char *purpose, unsigned char out[KH_HMAC_LEN])
{
	kh_hmac_sha256(cfg->session_key, cfg->session_key_len, purpose, strlen(purpose), out);
}

static char *
join_url(const char *base, const char *path)
{
	size_t n = strlen(base);
	char *s;

	while (n > 0 && base[n - 1] == '/')
		n--;
	if ((s = malloc(n + strlen(path) + 1)) == NULL)
		return NULL;
	memcpy(s, base, n);
	memcpy(s + n, path, strlen(path) + 1);
	return s;
}

static int
build_discovery(struct kh_idp *app, struct oidc_global *g)
{
	const char *base = app->cfg->base_url;
	json_t *d = json_object(), *algs = json_array();
	char *u;
	static const char *const eps[][2] = {
		{ "authorization_endpoint", "/oidc/authorize" },
		{ "token_endpoint", "/oidc/token" },
		{ "userinfo_endpoint", "/oidc/userinfo" },
		{ "jwks_uri", "/oidc/jwks" },
		{ "introspection_endpoint", "/oidc/introspect" },
		{ "revocation_endpoint", "/oidc/revoke" },
		{ "end_session_endpoint", "/oidc/logout" },
	};
	size_t i;

	if (d == NULL || algs == NULL)
		goto fail;
	json_object_set_new(d, "issuer", json_string(g->issuer));
	for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		if ((u = join_url(base, eps[i][1])) == NULL)
			goto fail;
		json_object_set_new(d, eps[i][0], json_string(u));
		free(u);
	}
	json_object_set_new(d, "scopes_supported",
	    json_pack("[ssssss]", "openid", "profile", "email", "groups", "org", "offline_access"));
	json_object_set_new(d, "response_types_supported", json_pack("[s]", "code"));
	json_object_set_new(d, "response_modes_supported", json_pack("[s]", "query"));
	json_object_set_new(d, "grant_types_supported",
	    json_pack("[sss]", "authorization_code", "refresh_token", "client_credentials"));
	json_object_set_new(d, "subject_types_supported", json_pack("[ss]", "public", "pairwise"));
	json_array_append_new(algs, json_string("RS256"));
	if (kh_keys_have(app->keys, KH_ALG_ES256))
		json_array_append_new(algs, json_string("ES256"));
	json_object_set(d, "id_token_signing_alg_values_supported", algs);
	json_object_set_new(d, "token_endpoint_auth_methods_supported",
	    json_pack(
		"[ssss]", "client_secret_basic", "client_secret_post", "private_key_jwt", "none"));
	json_object_set_new(d, "token_endpoint_auth_signing_alg_values_supported",
	    json_pack("[ss]", "RS256", "ES256"));
	json_object_set_new(d, "introspection_endpoint_auth_methods_supported",
	    json_pack("[sss]", "client_secret_basic", "client_secret_post", "private_key_jwt"));
	json_object_set_new(d, "revocation_endpoint_auth_methods_supported",
	    json_pack(
		"[ssss]", "client_secret_basic", "client_secret_post", "private_key_jwt", "none"));
	json_object_set_new(d, "code_challenge_methods_supported", json_pack("[s]", "S256"));
	json_object_set_new(d, "claims_supported",
	    json_pack("[ssssssssssssssssss]", "iss", "sub", "aud", "exp", "iat", "auth_time",
		"nonce", "acr", "amr", "sid", "name", "family_name", "given_name", "email",
		"groups", "employee_number", "department", "preferred_username"));
	json_object_set_new(d, "acr_values_supported",
	    json_pack("[ss]", "urn:kakehashi:acr:pwd", "urn:kakehashi:acr:mfa"));
	json_object_set_new(d, "claims_parameter_supported", json_false());
	json_object_set_new(d, "request_parameter_supported", json_false());
	json_object_set_new(d, "request_uri_parameter_supported", json_false());
	json_object_set_new(d, "prompt_values_supported", json_pack("[ss]", "none", "login"));
	json_object_set_new(d, "ui_locales_supported", json_pack("[ss]", "ja", "en"));
	json_object_set_new(d, "authorization_response_iss_parameter_supported", json_true());
	json_object_set_new(d, "frontchannel_logout_supported", json_false());
	json_object_set_new(d, "backchannel_logout_supported", json_true());
	json_object_set_new(d, "backchannel_logout_session_supported", json_true());
	json_object_set_new(d, "introspection_signing_alg_values_supported", json_array());
	json_object_del(d, "introspection_signing_alg_values_supported");
	json_object_set_new(d, "userinfo_signing_alg_values_supported", json_array());
	json_object_del(d, "userinfo_signing_alg_values_supported");
	if ((g->discovery = json_dumps(d, JSON_COMPACT)) == NULL)
		goto fail;
	g->discovery_len = strlen(g->discovery);
	json_decref(algs);
	json_decref(d);
	return KH_OK;
fail:
	json_decref(algs);
	json_decref(d);
	return KH_ERR_NOMEM;
}

static void
global_free(struct oidc_global *g)
{
	if (g == NULL)
		return;
	free(g->issuer);
	free(g->token_url);
	free(g->introspect_url);
	free(g->revoke_url);
	free(g->discovery);
	oidc_jwk_free(g->own, g->nown);
	explicit_bzero(g, sizeof(*g));
	free(g);
}

struct oidc_global *
oidc_global(struct kh_idp *app)
{
	struct oidc_global *g =
	    __atomic_load_n((struct oidc_global **)&app->oidc_global, __ATOMIC_ACQUIRE);
	struct kh_buf jwks;

	if (g != NULL)
		return g;
	pthread_mutex_lock(&global_lock);
	if ((g = app->oidc_global) != NULL)
		goto out;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		goto out;
	derive(app->cfg, "kakehashi oidc client secret", g->secret_key);
	derive(app->cfg, "kakehashi oidc pairwise subject", g->pairwise_key);
	if ((g->issuer = strdup(app->cfg->base_url)) == NULL ||
	    (g->token_url = join_url(app->cfg->base_url, "/oidc/token")) == NULL ||
	    (g->introspect_url = join_url(app->cfg->base_url, "/oidc/introspect")) == NULL ||
	    (g->revoke_url = join_url(app->cfg->base_url, "/oidc/revoke")) == NULL ||
	    build_discovery(app, g) != KH_OK) {
		global_free(g);
		g = NULL;
		goto out;
	}
	kh_buf_init(&jwks, 64 * 1024);
	if (app->keys != NULL && kh_keys_jwks(app->keys, &jwks) == KH_OK &&
	    oidc_jwks_parse(kh_buf_cstr(&jwks), &g->own, &g->nown) != KH_OK)
		kh_warn("oidc.keys", "what", "own JWKS unreadable: id_token_hint unusable", NULL);
	kh_buf_free(&jwks);
	/* libcurl for back-channel logout and jwks_uri (thread-safe since 7.84). */
	oidc_net_init();
	__atomic_store_n((struct oidc_global **)&app->oidc_global, g, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&global_lock);
	return g;
}

void
kh_oidc_global_free(struct kh_idp *app)
{
	pthread_mutex_lock(&global_lock);
	global_free(app->oidc_global);
	app->oidc_global = NULL;
	pthread_mutex_unlock(&global_lock);
}

int
kh_oidc_secret_hash(
    const struct kh_config *cfg, const char *client_id, const char *secret, char out[65])
{
	unsigned char key[KH_HMAC_LEN], mac[KH_HMAC_LEN];
	const void *parts[2] = { client_id, secret };
	size_t lens[2];
	int r;

	out[0] = '\0';
	if (client_id == NULL || secret == NULL)
		return KH_ERR_INVALID;
	lens[0] = strlen(client_id);
	lens[1] = strlen(secret);
	derive(cfg, "kakehashi oidc client secret", key);
	r = kh_hmac_sha256_parts(key, sizeof(key), parts, lens, 2, mac);
	if (r == KH_OK)
		kh_hex_encode(mac, sizeof(mac), out);
	explicit_bzero(key, sizeof(key));
	explicit_bzero(mac, sizeof(mac));
	return r;
}

void
oidc_subject(
    struct oidc_global *g, const struct oidc_client *c, const char *uid, char *out, size_t outlen)
{
	unsigned char mac[KH_HMAC_LEN];
	const void *parts[2];
	size_t lens[2];
	char b64[48];

	if (!c->pairwise) {
		kh_strlcpy(out, uid, outlen);
		return;
	}
	parts[0] = c->sector;
	lens[0] = strlen(c->sector);
	parts[1] = uid;
	lens[1] = strlen(uid);
	kh_hmac_sha256_parts(g->pairwise_key, sizeof(g->pairwise_key), parts, lens, 2, mac);
	kh_b64url_encode(mac, sizeof(mac), b64);
	kh_strlcpy(out, b64, outlen);
}

void
oidc_sid(struct kh_idp *app, const char *cookie, char out[65])
{
	if (kh_session_id(app->store, cookie, out) != KH_OK)
		out[0] = '\0';
}

/* ---- document checks --------------------------------------------------- */

/* The authority of an http(s) URI: no userinfo (a "good@evil" host is
 * evil), not empty; for plain http only loopback hosts with an optional
 * numeric port. */
static int
authority_ok(const char *a, int loopback_only)
{
	size_t n = strcspn(a, "/?#"), hl, i;
	unsigned port_no;
	const char *port;

	if (n == 0 || memchr(a, '@', n) != NULL)
		return 0;
	if (!loopback_only)
		return 1;
	if (a[0] == '[') {
		if (n < 5 || strncmp(a, "[::1]", 5) != 0)
			return 0;
		hl = 5;
	} else {
		port = memchr(a, ':', n);
		hl = port != NULL ? (size_t)(port - a) : n;
		if (!((hl == 9 && strncmp(a, "localhost", 9) == 0) ||
			(hl == 9 && strncmp(a, "127.0.0.1", 9) == 0)))
			return 0;
	}
	if (hl == n)
		return 1;
	if (a[hl] != ':' || hl + 1 == n || n - hl - 1 > 5)
		return 0;
	for (i = hl + 1, port_no = 0; i < n; i++) {
		if (a[i] < '0' || a[i] > '9')
			return 0;
		port_no = port_no * 10 + (unsigned)(a[i] - '0');
	}
	return port_no >= 1 && port_no <= 65535;
}

/* A redirect target: https, http on loopback, or a private-use scheme of a
 * native app (reverse domain name). No fragment. */
static int
uri_ok(const char *u)
{
	const char *colon;
	size_t n = strlen(u), i;

	if (n == 0 || n > OIDC_URI_MAX || strchr(u, '#') != NULL || !kh_utf8_valid_text(u, n))
		return 0;
	for (i = 0; i < n; i++)
		if (u[i] == ' ' || u[i] == '"' || u[i] == '<' || u[i] == '>' || u[i] == '\\')
			return 0;
	if (kh_startswith(u, "https://"))
		return authority_ok(u + 8, 0);
	if (kh_startswith(u, "http://"))
		return authority_ok(u + 7, 1);
	if ((colon = strchr(u, ':')) != NULL && memchr(u, '.', (size_t)(colon - u)) != NULL) {
		for (i = 0; u + i < colon; i++) {
			char c = u[i];
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
				c == '-' || c == '+'))
				return 0;
		}
		return 1;
	}
	return 0;
}

static int
str_list_ok(json_t *a, int uris, size_t max)
{
	json_t *e;
	size_t i;

	if (a == NULL)
		return 1;
	if (!json_is_array(a) || json_array_size(a) > max)
		return 0;
	json_array_foreach(a, i, e)
	{
		const char *s = json_string_value(e);
		if (s == NULL || *s == '\0' || strlen(s) > OIDC_URI_MAX)
			return 0;
		if (uris && !uri_ok(s))
			return 0;
	}
	return 1;
}

static int
client_id_ok(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		if (i >= CLIENT_ID_MAX ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '_' || c == '-' || c == '~'))
			return 0;
	}
	return i > 0;
}

static int
auth_method_parse(const char *s, enum oidc_auth_method *m)
{
	if (s == NULL || strcmp(s, "client_secret_basic") == 0)
		*m = OIDC_AUTH_SECRET_BASIC;
	else if (strcmp(s, "client_secret_post") == 0)
		*m = OIDC_AUTH_SECRET_POST;
	else if (strcmp(s, "private_key_jwt") == 0)
		*m = OIDC_AUTH_PRIVATE_KEY_JWT;
	else if (strcmp(s, "none") == 0)
		*m = OIDC_AUTH_NONE;
	else
		return 0;
	return 1;
}

int
kh_oidc_client_doc_check(json_t *o, const char **why)
{
	enum oidc_auth_method m;
	json_t *v, *e;
	const char *s;
	size_t i, j;
	int pub;

	*why = "oidc";
	if (!json_is_object(o))
		return KH_ERR_INVALID;
	*why = "oidc.client_id";
	if (!client_id_ok(json_string_value(json_object_get(o, "client_id"))))
		return KH_ERR_INVALID;
	*why = "oidc.public";
	v = json_object_get(o, "public");
	if (v != NULL && !json_is_boolean(v))
		return KH_ERR_INVALID;
	pub = json_is_true(v);
	*why = "oidc.token_endpoint_auth_method";
	v = json_object_get(o, "token_endpoint_auth_method");
	if (v != NULL && !json_is_string(v))
		return KH_ERR_INVALID;
	if (!auth_method_parse(json_string_value(v), &m))
		return KH_ERR_INVALID;
	if (pub && v != NULL && m != OIDC_AUTH_NONE)
		return KH_ERR_INVALID;
	if (!pub && m == OIDC_AUTH_NONE)
		return KH_ERR_INVALID;
	*why = "oidc.secret_hash";
	s = json_string_value(json_object_get(o, "secret_hash"));
	if (!pub && m != OIDC_AUTH_PRIVATE_KEY_JWT &&
	    (s == NULL || strlen(s) != 64 ||
		kh_hex_decode(s, (unsigned char[32]){ 0 }, 32) != KH_OK))
		return KH_ERR_INVALID;
	*why = "oidc.redirect_uris";
	if (!str_list_ok(json_object_get(o, "redirect_uris"), 1, LIST_MAX))
		return KH_ERR_INVALID;
	*why = "oidc.post_logout_redirect_uris";
	if (!str_list_ok(json_object_get(o, "post_logout_redirect_uris"), 1, LIST_MAX))
		return KH_ERR_INVALID;
	*why = "oidc.groups";
	if (!str_list_ok(json_object_get(o, "groups"), 0, 256))
		return KH_ERR_INVALID;
	*why = "oidc.scopes";
	v = json_object_get(o, "scopes");
	if (!str_list_ok(v, 0, 16))
		return KH_ERR_INVALID;
	json_array_foreach(v, i, e)
	{
		for (j = 0; j < sizeof(known_scopes) / sizeof(known_scopes[0]); j++)
			if (strcmp(json_string_value(e), known_scopes[j]) == 0)
				break;
		if (j == sizeof(known_scopes) / sizeof(known_scopes[0]))
			return KH_ERR_INVALID;
	}
	*why = "oidc.pairwise";
	v = json_object_get(o, "pairwise");
	if (v != NULL && !json_is_boolean(v))
		return KH_ERR_INVALID;
	*why = "oidc.backchannel_logout_uri";
	v = json_object_get(o, "backchannel_logout_uri");
	if (v != NULL && !json_is_null(v) &&
	    ((s = json_string_value(v)) == NULL ||
		!(kh_startswith(s, "https://") || kh_startswith(s, "http://")) || !uri_ok(s)))
		return KH_ERR_INVALID;
	*why = "oidc.access_token_format";
	v = json_object_get(o, "access_token_format");
	if (v != NULL &&
	    ((s = json_string_value(v)) == NULL ||
		(strcmp(s, "jwt") != 0 && strcmp(s, "opaque") != 0)))
		return KH_ERR_INVALID;
	*why = "oidc.id_token_signed_response_alg";
	v = json_object_get(o, "id_token_signed_response_alg");
	if (v != NULL &&
	    ((s = json_string_value(v)) == NULL ||
		(strcmp(s, "RS256") != 0 && strcmp(s, "ES256") != 0)))
		return KH_ERR_INVALID;
	*why = "oidc.jwks";
	v = json_object_get(o, "jwks");
	if (v != NULL && !json_is_null(v) && !json_is_object(v))
		return KH_ERR_INVALID;
	*why = "oidc.jwks_uri";
	e = json_object_get(o, "jwks_uri");
	if (e != NULL && !json_is_null(e) &&
	    ((s = json_string_value(e)) == NULL ||
		!(kh_startswith(s, "https://") || kh_startswith(s, "http://")) || !uri_ok(s)))
		return KH_ERR_INVALID;
	if (m == OIDC_AUTH_PRIVATE_KEY_JWT && (v == NULL || json_is_null(v)) &&
	    (e == NULL || json_is_null(e))) {
		*why = "oidc.jwks (private_key_jwt needs jwks or jwks_uri)";
		return KH_ERR_INVALID;
	}
	*why = NULL;
	return KH_OK;
}

/* ---- the view ------------------------------------------------------------ */

static void
strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
strv_from(json_t *a, char ***out, size_t *nout)
{
	json_t *e;
	size_t i;

	*out = NULL;
	*nout = 0;
	if (!json_is_array(a) || json_array_size(a) == 0)
		return KH_OK;
	if ((*out = calloc(json_array_size(a), sizeof(char *))) == NULL)
		return KH_ERR_NOMEM;
	json_array_foreach(a, i, e)
	{
		if (((*out)[i] = strdup(json_string_value(e))) == NULL)
			return KH_ERR_NOMEM;
		*nout = i + 1;
	}
	return KH_OK;
}

static void
client_free(struct oidc_client *c)
{
	free(c->app_id);
	free(c->name);
	free(c->client_id);
	strv_free(c->redirect_uris, c->nredirect);
	strv_free(c->post_logout_uris, c->npost_logout);
	strv_free(c->scopes, c->nscopes);
	strv_free(c->groups, c->ngroups);
	free(c->sector);
	free(c->backchannel_logout_uri);
	oidc_jwk_free(c->jwks, c->njwks);
	explicit_bzero(c, sizeof(*c));
}

/* Host of an URI ("" when none). */
static size_t
uri_host(const char *u, const char **host)
{
	const char *p = strstr(u, "://");

	*host = "";
	if (p == NULL)
		return 0;
	*host = p + 3;
	return strcspn(p + 3, ":/?");
}

static int
sector_of(struct oidc_client *c)
{
	const char *h0, *h;
	size_t n0, n, i;

	if (c->nredirect > 0) {
		n0 = uri_host(c->redirect_uris[0], &h0);
		for (i = 1; i < c->nredirect; i++) {
			n = uri_host(c->redirect_uris[i], &h);
			if (n != n0 || memcmp(h, h0, n) != 0)
				break;
		}
		if (n0 > 0 && i == c->nredirect)
			return (c->sector = strndup(h0, n0)) != NULL ? KH_OK : KH_ERR_NOMEM;
	}
	return (c->sector = strdup(c->client_id)) != NULL ? KH_OK : KH_ERR_NOMEM;
}

static int
client_parse(const struct kh_app *a, struct oidc_client *c)
{
	json_t *o = json_object_get(a->doc, "oidc"), *v;
	const char *why = NULL, *s;
	char *jwks = NULL;
	struct kh_buf body;
	size_t i;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = kh_oidc_client_doc_check(o, &why)) != KH_OK) {
		kh_warn("oidc.client", "app", a->id, "invalid", why, NULL);
		return r;
	}
	if ((c->app_id = strdup(a->id)) == NULL ||
	    (c->name = strdup(a->name != NULL ? a->name : a->id)) == NULL ||
	    (c->client_id = strdup(json_string_value(json_object_get(o, "client_id")))) == NULL)
		return KH_ERR_NOMEM;
	c->public_client = json_is_true(json_object_get(o, "public"));
	auth_method_parse(
	    json_string_value(json_object_get(o, "token_endpoint_auth_method")), &c->auth);
	if (c->public_client)
		c->auth = OIDC_AUTH_NONE;
	if ((s = json_string_value(json_object_get(o, "secret_hash"))) != NULL &&
	    kh_hex_decode(s, c->secret_hash, sizeof(c->secret_hash)) == KH_OK)
		c->has_secret = 1;
	if ((r = strv_from(
		 json_object_get(o, "redirect_uris"), &c->redirect_uris, &c->nredirect)) != KH_OK ||
	    (r = strv_from(json_object_get(o, "post_logout_redirect_uris"), &c->post_logout_uris,
		 &c->npost_logout)) != KH_OK ||
	    (r = strv_from(json_object_get(o, "groups"), &c->groups, &c->ngroups)) != KH_OK)
		return r;
	/* The app's access policy (top-level "groups", admin API) when the
	 * client names none of its own. */
	if (c->ngroups == 0 && str_list_ok(json_object_get(a->doc, "groups"), 0, 256) &&
	    (r = strv_from(json_object_get(a->doc, "groups"), &c->groups, &c->ngroups)) != KH_OK)
		return r;
	v = json_object_get(o, "scopes");
	if (json_is_array(v)) {
		if ((r = strv_from(v, &c->scopes, &c->nscopes)) != KH_OK)
			return r;
	} else {
		c->nscopes = sizeof(default_scopes) / sizeof(default_scopes[0]);
		if ((c->scopes = calloc(c->nscopes, sizeof(char *))) == NULL)
			return KH_ERR_NOMEM;
		for (i = 0; i < c->nscopes; i++)
			if ((c->scopes[i] = strdup(default_scopes[i])) == NULL)
				return KH_ERR_NOMEM;
	}
	c->pairwise = json_is_true(json_object_get(o, "pairwise"));
	if ((r = sector_of(c)) != KH_OK)
		return r;
	if ((s = json_string_value(json_object_get(o, "backchannel_logout_uri"))) != NULL &&
	    (c->backchannel_logout_uri = strdup(s)) == NULL)
		return KH_ERR_NOMEM;
	s = json_string_value(json_object_get(o, "access_token_format"));
	c->at_jwt = s == NULL || strcmp(s, "jwt") == 0;
	s = json_string_value(json_object_get(o, "id_token_signed_response_alg"));
	c->id_token_alg = s != NULL && strcmp(s, "ES256") == 0 ? KH_ALG_ES256 : KH_ALG_RS256;

	/* Client keys, parsed now and never per request. */
	v = json_object_get(o, "jwks");
	if (json_is_object(v)) {
		if ((jwks = json_dumps(v, JSON_COMPACT)) == NULL)
			return KH_ERR_NOMEM;
		r = oidc_jwks_parse(jwks, &c->jwks, &c->njwks);
		free(jwks);
		if (r != KH_OK)
			kh_warn(
			    "oidc.client", "app", a->id, "jwks", "no usable RS256/ES256 key", NULL);
	} else if ((s = json_string_value(json_object_get(o, "jwks_uri"))) != NULL) {
		kh_buf_init(&body, JWKS_URI_MAX_BYTES);
		if (oidc_net_get(s, &body) != KH_OK ||
		    oidc_jwks_parse(kh_buf_cstr(&body), &c->jwks, &c->njwks) != KH_OK)
			kh_warn("oidc.client", "app", a->id, "jwks_uri", s, "error",
			    "unreadable; private_key_jwt will fail until it is fixed", NULL);
		kh_buf_free(&body);
	}
	return KH_OK;
}

static int
client_cmp(const void *a, const void *b)
{
	return strcmp(
	    ((const struct oidc_client *)a)->client_id, ((const struct oidc_client *)b)->client_id);
}

void
kh_oidc_view_free(void *p)
{
	struct oidc_view *ov = p;
	size_t i;

	if (ov == NULL)
		return;
	for (i = 0; i < ov->n; i++)
		client_free(&ov->clients[i]);
	free(ov->clients);
	free(ov);
}

int
kh_oidc_view_build(struct kh_idp *app, struct kh_apps_view *v)
{
	struct oidc_view *ov;
	size_t i, j;

	(void)app;
	v->oidc = NULL;
	if ((ov = calloc(1, sizeof(*ov))) == NULL)
		return KH_ERR_NOMEM;
	if (v->napps > 0 && (ov->clients = calloc(v->napps, sizeof(*ov->clients))) == NULL) {
		free(ov);
		return KH_ERR_NOMEM;
	}
	for (i = 0; i < v->napps; i++) {
		const struct kh_app *a = &v->apps[i];
		struct oidc_client *c = &ov->clients[ov->n];
		if (a->protocol == NULL || strcmp(a->protocol, "oidc") != 0 || !a->enabled)
			continue;
		if (client_parse(a, c) != KH_OK) {
			client_free(c);
			continue;
		}
		for (j = 0; j < ov->n; j++)
			if (strcmp(ov->clients[j].client_id, c->client_id) == 0)
				break;
		if (j < ov->n) {
			kh_warn(
			    "oidc.client", "app", a->id, "invalid", "duplicate client_id", NULL);
			client_free(c);
			continue;
		}
		ov->n++;
	}
	if (ov->n > 1)
		qsort(ov->clients, ov->n, sizeof(*ov->clients), client_cmp);
	v->oidc = ov;
	return KH_OK;
}

const struct oidc_client *
oidc_client_find(const struct kh_apps_view *v, const char *client_id)
{
	const struct oidc_view *ov;
	struct oidc_client key;

	if (v == NULL || (ov = v->oidc) == NULL || client_id == NULL || ov->n == 0)
		return NULL;
	key.client_id = (char *)client_id;
	return bsearch(&key, ov->clients, ov->n, sizeof(*ov->clients), client_cmp);
}

int
oidc_client_has_scope(const struct oidc_client *c, const char *scope)
{
	size_t i;

	for (i = 0; i < c->nscopes; i++)
		if (strcmp(c->scopes[i], scope) == 0)
			return 1;
	return 0;
}

/* Exact string comparison: no normalisation of case, encoding, trailing
 * slashes or query (RFC 9700 section 4.1.3). */
int
oidc_client_redirect_ok(const struct oidc_client *c, const char *uri)
{
	size_t i;

	if (uri == NULL)
		return 0;
	for (i = 0; i < c->nredirect; i++)
		if (strcmp(c->redirect_uris[i], uri) == 0)
			return 1;
	return 0;
}

int
oidc_client_post_logout_ok(const struct oidc_client *c, const char *uri)
{
	size_t i;

	if (uri == NULL)
		return 0;
	for (i = 0; i < c->npost_logout; i++)
		if (strcmp(c->post_logout_uris[i], uri) == 0)
			return 1;
	return 0;
}
