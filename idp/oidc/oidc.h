/* OpenID Connect provider: the module's interface to the rest of the daemon
 * (the admin API, the global /logout) and its internal structures.
 *
 * Clients come from the app registry ({"protocol":"oidc","oidc":{...}}) and
 * are parsed once per registry view (kh_oidc_view_build): handlers never
 * parse client configuration or client keys per request. Codes, tokens and
 * replay caches live in Redis (sessions/kv.h) under ids hashed with the
 * server secret; see docs/oidc.md for the token model. */
#ifndef KH_OIDC_H
#define KH_OIDC_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "idp/http.h"

struct kh_idp;
struct kh_config;
struct kh_session;
struct kh_apps_view;

/* ---- for other modules ------------------------------------------------ */

#define KH_OIDC_SECRET_BYTES 32 /* client secrets: 256-bit random */
#define KH_OIDC_HASH_HEX 65

/* hex(HMAC-SHA-256(K, client_id ‖ secret)) with K derived from the [session]
 * secret: what the registry stores as "secret_hash". */
int kh_oidc_secret_hash(
    const struct kh_config *cfg, const char *client_id, const char *secret, char out[65]);
/* Checks an "oidc" object of a registry document (types, URIs, enums).
 * On failure *why names the field (static string). */
int kh_oidc_client_doc_check(json_t *oidc, const char **why);
/* Tells every OIDC client of this SSO session that took part in it (their
 * back-channel logout URIs) that the session ended. For the global /logout:
 * call it before kh_session_destroy with the cookie being ended. Never fails
 * the caller: delivery runs in the background and failures are logged. */
void kh_oidc_session_ended(struct kh_idp *app, const char *session_cookie, const char *uid);
/* Kills every token of uid issued so far (refresh tokens of sign-ins until
 * now, access tokens minted until now): the helpdesk's revoke and MFA reset. */
int kh_oidc_user_revoke(struct kh_idp *app, const char *uid);

/* ---- internal ---------------------------------------------------------- */

#define OIDC_URI_MAX 2048
#define OIDC_STATE_MAX 1024
#define OIDC_NONCE_MAX 512
#define OIDC_SCOPE_MAX 1024
#define OIDC_TOKEN_MAX 4096
#define OIDC_ASSERTION_MAX 8192
#define OIDC_CLOCK_SKEW 60
#define OIDC_ASSERTION_MAX_LIFETIME 600 /* a client assertion valid longer is refused */

enum oidc_auth_method {
	OIDC_AUTH_NONE = 0, /* public client */
	OIDC_AUTH_SECRET_BASIC,
	OIDC_AUTH_SECRET_POST,
	OIDC_AUTH_PRIVATE_KEY_JWT,
};

struct oidc_jwk {
	char *kid; /* may be NULL */
	int alg; /* KH_ALG_RS256 or KH_ALG_ES256 */
	EVP_PKEY *pkey;
};

struct oidc_client {
	char *app_id;
	char *name;
	char *client_id;
	unsigned char secret_hash[KH_HMAC_LEN];
	int has_secret;
	int public_client;
	enum oidc_auth_method auth;
	char **redirect_uris;
	size_t nredirect;
	char **post_logout_uris;
	size_t npost_logout;
	char **scopes; /* allowed scopes */
	size_t nscopes;
	char **groups; /* empty: everyone */
	size_t ngroups;
	int pairwise;
	char *sector; /* pairwise sector identifier */
	char *backchannel_logout_uri;
	int at_jwt; /* access_token_format "jwt" */
	int id_token_alg; /* KH_ALG_RS256 default */
	struct oidc_jwk *jwks;
	size_t njwks;
};

struct oidc_view {
	struct oidc_client *clients; /* sorted by client_id */
	size_t n;
};

/* Module-wide state, built once (pthread_once) from the config and keys. */
struct oidc_global {
	unsigned char secret_key[KH_HMAC_LEN]; /* client secret hashes */
	unsigned char pairwise_key[KH_HMAC_LEN];
	char *issuer;
	char *token_url;
	char *introspect_url;
	char *revoke_url;
	char *discovery; /* the discovery document */
	size_t discovery_len;
	struct oidc_jwk *own; /* our public keys (current and next), for id_token_hint */
	size_t nown;
};

struct oidc_global *oidc_global(struct kh_idp *app);
void kh_oidc_global_free(struct kh_idp *app);

const struct oidc_client *oidc_client_find(const struct kh_apps_view *v, const char *client_id);
int oidc_client_has_scope(const struct oidc_client *c, const char *scope);
int oidc_client_redirect_ok(const struct oidc_client *c, const char *uri);
int oidc_client_post_logout_ok(const struct oidc_client *c, const char *uri);

/* jose.c */
void oidc_jwk_free(struct oidc_jwk *k, size_t n);
/* Parses {"keys":[...]} keeping RSA (>= 2048 bits) and EC P-256 signing keys. */
int oidc_jwks_parse(const char *json, struct oidc_jwk **out, size_t *nout);
/* Verifies a compact JWS with RS256 or ES256 only (never none, never HS*),
 * the header's alg must match the key's; returns the payload object. */
int oidc_jws_verify(
    const char *jws, const struct oidc_jwk *keys, size_t nkeys, json_t **payload, char **typ);
/* base64url(left half of SHA-256(s)): at_hash. */
void oidc_half_hash(const char *s, char out[44]);

/* tokens.c: issuing and finding tokens */
struct oidc_grant; /* opaque */
int oidc_json_str(json_t *o, const char *k, const char **out);

/* The subject a client sees for uid. out: at least 64 bytes. */
void oidc_subject(
    struct oidc_global *g, const struct oidc_client *c, const char *uid, char *out, size_t outlen);
/* The OIDC sid of an SSO session (kh_session_id of its cookie). */
void oidc_sid(struct kh_idp *app, const char *cookie, char out[65]);

/* Shared response helpers */
void oidc_json_resp(struct kh_resp *resp, int status, json_t *o); /* steals o */
void oidc_error_json(struct kh_resp *resp, int status, const char *err, const char *desc);

/* Handlers */
void oidc_handle_discovery(struct kh_req *req, struct kh_resp *resp);
void oidc_handle_jwks(struct kh_req *req, struct kh_resp *resp);
void oidc_handle_authorize(struct kh_req *req, struct kh_resp *resp);
void oidc_handle_token(struct kh_req *req, struct kh_resp *resp);
void oidc_handle_userinfo(struct kh_req *req, struct kh_resp *resp);
void oidc_handle_introspect(struct kh_req *req, struct kh_resp *resp);
void oidc_handle_revoke(struct kh_req *req, struct kh_resp *resp);
void oidc_handle_logout(struct kh_req *req, struct kh_resp *resp);

/* Token records (tokens.c) */
int oidc_issue_code(struct kh_req *req, const struct oidc_client *c, json_t *rec, char **code);
/* Access-token lookup (userinfo, introspection): the record, or
 * KH_ERR_NOT_FOUND when unknown, expired or revoked. */
int oidc_access_token_find(struct kh_idp *app, const char *token, json_t **rec);
/* Client authentication at the token, introspection and revocation
 * endpoints; on failure resp holds the error. */
const struct oidc_client *oidc_client_auth_or_respond(
    struct kh_req *req, struct kh_resp *resp, const struct kh_apps_view *v, const char *endpoint);
/* Remembers in the SSO session (field x_rps) that client took part in it. */
void oidc_session_add_rp(struct kh_idp *app, const char *cookie, const char *client_id);
int oidc_grant_revoke(struct kh_idp *app, const char *gid);

#endif
