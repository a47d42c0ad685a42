/* The endpoint table: every path the daemon answers, its methods and kind. */
#include <string.h>

#include "common/str.h"
#include "idp/idp.h"
#include "idp/mfa.h"

static const struct kh_endpoint endpoints[] = {
	{ "/", KH_GET, kh_handle_root, 0, "root" },
	{ "/healthz", KH_GET, kh_handle_healthz, 0, "healthz" },
	{ "/readyz", KH_GET, kh_handle_readyz, 0, "readyz" },
	{ "/metrics", KH_GET, kh_handle_metrics, 0, "metrics" },
	{ "/login", KH_GET | KH_POST, kh_handle_login, KH_EP_HTML, "login" },
	{ "/logout", KH_GET | KH_POST, kh_handle_logout, KH_EP_HTML, "logout" },
	{ "/mfa", KH_GET | KH_POST, kh_handle_mfa, KH_EP_HTML, "mfa" },
	{ "/mfa/setup", KH_GET, kh_handle_mfa_setup, KH_EP_HTML, "mfa_setup" },
	{ "/mfa/totp", KH_POST, kh_handle_mfa_totp, KH_EP_HTML, "mfa_totp" },
	{ "/mfa/recovery", KH_POST, kh_handle_mfa_recovery, KH_EP_HTML, "mfa_recovery" },
	{ "/mfa/webauthn/options", KH_POST, kh_handle_mfa_wa_options, 0, "mfa_webauthn_options" },
	{ "/mfa/webauthn/finish", KH_POST, kh_handle_mfa_wa_finish, 0, "mfa_webauthn_finish" },
	{ "/static/", KH_GET, kh_handle_static, KH_EP_PREFIX, "static" },
};
#define NENDPOINTS (sizeof(endpoints) / sizeof(endpoints[0]))

/* Each protocol module owns its table (idp/saml/routes.c, idp/oidc/routes.c,
 * admin/routes.c); they end with a NULL path. */
static const struct kh_endpoint *const tables[] = { endpoints, kh_saml_endpoints, kh_oidc_endpoints,
	kh_admin_endpoints };
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static size_t
table_len(size_t t)
{
	size_t n = 0;

	if (t == 0)
		return NENDPOINTS;
	while (tables[t][n].path != NULL)
		n++;
	return n;
}

const struct kh_endpoint *
kh_route(const char *path)
{
	const struct kh_endpoint *e;
	size_t t, i, n;

	for (t = 0; t < NTABLES; t++) {
		for (i = 0, n = table_len(t); i < n; i++) {
			e = &tables[t][i];
			if (e->flags & KH_EP_PREFIX) {
				if (kh_startswith(path, e->path))
					return e;
			} else if (strcmp(path, e->path) == 0)
				return e;
		}
	}
	return NULL;
}

size_t
kh_endpoint_count(void)
{
	size_t t, n = 0;

	for (t = 0; t < NTABLES; t++)
		n += table_len(t);
	return n;
}

const struct kh_endpoint *
kh_endpoint_at(size_t i)
{
	size_t t, n;

	for (t = 0; t < NTABLES; t++) {
		n = table_len(t);
		if (i < n)
			return &tables[t][i];
		i -= n;
	}
	return NULL;
}

void
kh_handle_root(struct kh_req *req, struct kh_resp *resp)
{
	(void)req;
	kh_resp_redirect(resp, 302, "/login");
}
