/* The daemon's shared state, built once at start and read by every worker. */
#ifndef KH_IDP_H
#define KH_IDP_H

#include "idp/http.h"

struct kh_config;
struct kh_connector;
struct kh_store;
struct kh_metrics;

struct kh_idp {
	const struct kh_config *cfg;
	struct kh_connector *connector;
	struct kh_store *store;
	struct kh_metrics *metrics;
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
};

struct kh_endpoint {
	const char *path;
	int methods; /* KH_GET | KH_POST ... */
	kh_handler handler;
	int flags;
	const char *metric; /* label in /metrics */
};

/* Finds the endpoint for path; *allowed gets its methods. NULL when unknown. */
const struct kh_endpoint *kh_route(const char *path);
size_t kh_endpoint_count(void);
const struct kh_endpoint *kh_endpoint_at(size_t i);

/* Handlers (idp/login.c, idp/health.c, idp/static.c) */
void kh_handle_login_get(struct kh_req *req, struct kh_resp *resp);
void kh_handle_login_post(struct kh_req *req, struct kh_resp *resp);
void kh_handle_login(struct kh_req *req, struct kh_resp *resp);
void kh_handle_logout(struct kh_req *req, struct kh_resp *resp);
void kh_handle_healthz(struct kh_req *req, struct kh_resp *resp);
void kh_handle_readyz(struct kh_req *req, struct kh_resp *resp);
void kh_handle_metrics(struct kh_req *req, struct kh_resp *resp);
void kh_handle_static(struct kh_req *req, struct kh_resp *resp);
void kh_handle_root(struct kh_req *req, struct kh_resp *resp);

#endif
