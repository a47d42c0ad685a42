/* The daemon's shared state, built once at start and read by every worker. */
#ifndef KH_IDP_H
#define KH_IDP_H

#include "idp/http.h"

struct kh_config;
struct kh_connector;
struct kh_store;
struct kh_metrics;
struct kh_keyset;
struct kh_apps;
struct kh_policy_set;

struct kh_idp {
	const struct kh_config *cfg;
	struct kh_connector *connector;
	struct kh_store *store;
	struct kh_metrics *metrics;
	struct kh_keyset *keys; /* signing keys (certs/keys.h) */
	struct kh_apps *apps; /* registry view holder (idp/apps.h) */
	struct kh_policy_set *policy; /* access policy (idp/policy.h), immutable */
	void *saml_global; /* module-wide state of idp/saml */
	void *oidc_global; /* module-wide state of idp/oidc */
	void *mhd; /* struct MHD_Daemon */
	void *delay; /* delayed-response scheduler */
	char **proxies; /* trusted proxy addresses */
	size_t nproxies;
	char origin[512]; /* scheme://host[:port] of base_url */
};

/* An endpoint handler fills resp; it must not block on anything but the
 * backends it exists to call. */
typedef void (*kh_handler)(struct kh_req *req, struct kh_resp *resp);

enum kh_endpoint_flags {
	KH_EP_HTML = 1, /* HTML page: security headers, language cookie */
	KH_EP_PREFIX = 2, /* path is a prefix (static files) */
	/* JSON API (admin): an application/json body is kept raw for
	 * kh_req_body, capped by max_body_bytes; a too large Content-Length is
	 * answered 413 with a JSON error; other body errors go to the handler. */
	KH_EP_RAW_BODY = 4,
};

/* The body of a request to a KH_EP_RAW_BODY endpoint (not NUL-terminated
 * unless non-empty; *body NULL and *len 0 when there was none).
 * KH_ERR_TOO_LARGE over max_body_bytes, KH_ERR_INVALID when the
 * Content-Type is not application/json or the endpoint has no raw body. */
int kh_req_body(const struct kh_req *req, const char **body, size_t *len);
/* The method as received ("PUT", "DELETE": kh_method folds them into
 * KH_OTHER). */
const char *kh_req_method(const struct kh_req *req);

struct kh_endpoint {
	const char *path;
	int methods; /* KH_GET | KH_POST ... */
	kh_handler handler;
	int flags;
	const char *metric; /* label in /metrics */
};

/* Protocol modules' endpoint tables, each ended by an entry with a NULL path. */
extern const struct kh_endpoint kh_saml_endpoints[];
extern const struct kh_endpoint kh_oidc_endpoints[];
extern const struct kh_endpoint kh_admin_endpoints[];

/* Finds the endpoint for path; *allowed gets its methods. NULL when unknown. */
const struct kh_endpoint *kh_route(const char *path);
size_t kh_endpoint_count(void);
const struct kh_endpoint *kh_endpoint_at(size_t i);

/* Handlers (idp/login.c, idp/health.c, idp/static.c) */
void kh_handle_login_get(struct kh_req *req, struct kh_resp *resp);
void kh_handle_login_post(struct kh_req *req, struct kh_resp *resp);
void kh_handle_login(struct kh_req *req, struct kh_resp *resp);
void kh_handle_logout(struct kh_req *req, struct kh_resp *resp);
/* Ends an SSO session at every SAML SP and OIDC client, then in Redis (for
 * /logout and /oidc/logout). 1: resp sends the browser on a SAML logout round
 * ending at /logout?done=1; 0: done, the caller answers; -1: resp holds 503. */
int kh_logout_session_or_respond(struct kh_req *req, struct kh_resp *resp, const char *cookie);
void kh_handle_healthz(struct kh_req *req, struct kh_resp *resp);
void kh_handle_readyz(struct kh_req *req, struct kh_resp *resp);
void kh_handle_metrics(struct kh_req *req, struct kh_resp *resp);
void kh_handle_static(struct kh_req *req, struct kh_resp *resp);
void kh_handle_root(struct kh_req *req, struct kh_resp *resp);

#endif
