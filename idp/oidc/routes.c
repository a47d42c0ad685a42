/* The oidc endpoint table (contract paths from ARCHITECTURE.md). */
#include <stddef.h>

#include "idp/idp.h"
#include "idp/oidc/oidc.h"

const struct kh_endpoint kh_oidc_endpoints[] = {
	{ "/.well-known/openid-configuration", KH_GET, oidc_handle_discovery, 0, "oidc_discovery" },
	{ "/oidc/jwks", KH_GET, oidc_handle_jwks, 0, "oidc_jwks" },
	{ "/oidc/authorize", KH_GET | KH_POST, oidc_handle_authorize, KH_EP_HTML,
	    "oidc_authorize" },
	{ "/oidc/token", KH_POST, oidc_handle_token, 0, "oidc_token" },
	{ "/oidc/userinfo", KH_GET | KH_POST, oidc_handle_userinfo, 0, "oidc_userinfo" },
	{ "/oidc/introspect", KH_POST, oidc_handle_introspect, 0, "oidc_introspect" },
	{ "/oidc/revoke", KH_POST, oidc_handle_revoke, 0, "oidc_revoke" },
	{ "/oidc/logout", KH_GET, oidc_handle_logout, KH_EP_HTML, "oidc_logout" },
	{ NULL, 0, NULL, 0, NULL },
};
