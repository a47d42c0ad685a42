/* The endpoint table: every path the daemon answers, its methods and kind. */
#include <string.h>

#include "common/str.h"
#include "idp/idp.h"

static const struct kh_endpoint endpoints[] = {
	{ "/", KH_GET, kh_handle_root, 0, "root" },
	{ "/healthz", KH_GET, kh_handle_healthz, 0, "healthz" },
	{ "/readyz", KH_GET, kh_handle_readyz, 0, "readyz" },
	{ "/metrics", KH_GET, kh_handle_metrics, 0, "metrics" },
	{ "/login", KH_GET | KH_POST, kh_handle_login, KH_EP_HTML, "login" },
	{ "/logout", KH_GET | KH_POST, kh_handle_logout, KH_EP_HTML, "logout" },
	{ "/static/", KH_GET, kh_handle_static, KH_EP_PREFIX, "static" },
};
#define NENDPOINTS (sizeof(endpoints) / sizeof(endpoints[0]))

const struct kh_endpoint *
kh_route(const char *path)
{
	size_t i;

	for (i = 0; i < NENDPOINTS; i++) {
		if (endpoints[i].flags & KH_EP_PREFIX) {
			if (kh_startswith(path, endpoints[i].path))
				return &endpoints[i];
		} else if (strcmp(path, endpoints[i].path) == 0)
			return &endpoints[i];
	}
	return NULL;
}

size_t
kh_endpoint_count(void)
{
	return NENDPOINTS;
}

const struct kh_endpoint *
kh_endpoint_at(size_t i)
{
	return i < NENDPOINTS ? &endpoints[i] : NULL;
}

void
kh_handle_root(struct kh_req *req, struct kh_resp *resp)
{
	(void)req;
	kh_resp_redirect(resp, 302, "/login");
}
