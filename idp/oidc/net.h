/* Outbound HTTP for the OIDC module (libcurl): fetching a client's jwks_uri
 * when a registry view is built, and back-channel logout deliveries in a
 * background thread. Every transfer has a connect and a total timeout and a
 * response size cap; only http and https are followed, redirects are not. */
#ifndef KH_OIDC_NET_H
#define KH_OIDC_NET_H

#include "common/buf.h"

#define OIDC_NET_CONNECT_TIMEOUT_MS 1000
#define OIDC_NET_TIMEOUT_MS 3000

void oidc_net_init(void);
/* GET url into body (capped by body's maximum). */
int oidc_net_get(const char *url, struct kh_buf *body);

/* Back-channel logout: POSTs logout_token=JWT to each URI, in a detached
 * thread; failures are logged. Takes ownership of the arrays' strings. */
struct oidc_bcl {
	char *client_id;
	char *uri;
	char *token;
};
void oidc_net_backchannel(struct oidc_bcl *items, size_t n);

#endif
